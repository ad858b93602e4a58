import { runExecutable } from '../health/executableSensor.js';
import { ProvisionerError, type Provisioner, type ScaleOutcome, type ScaleRequest } from '../ports/provisioner.js';

export interface CommandProvisionerOptions {
  /** The executable (absolute path or on PATH), run without a shell. */
  readonly command: string;
  readonly args?: readonly string[];
  readonly timeoutMs: number;
  /** Added to the (otherwise empty) environment: PATH and whatever the command needs. */
  readonly env?: Readonly<Record<string, string>>;
}

/** How much of the command's output goes into the audit log and errors. */
const DETAIL_CHARS = 512;

/**
 * Scaling by a configured command (any language), for orchestrators the control plane has no
 * adapter for. It is run with the target and the machines to remove:
 * - env `SBC_SCALE_REPLICAS` (the pool's size once done) and `SBC_SCALE_REMOVE` (machine ids,
 *   comma-separated; empty when none);
 * - stdin `{"v":1,"replicas":N,"remove":[{"machineId","nodeId","hostname","sipUri"}]}`.
 * Exit 0: done (its stdout, cut, goes to the audit log). Anything else, or no exit within
 * `timeoutMs` (its process group is killed): a ProvisionerError with the reason. The command
 * must be idempotent: the scale step runs it again with the same request until the pool
 * matches (at most once per SBC_SCALE_RETRY_MS).
 */
export class CommandProvisioner implements Provisioner {
  readonly kind = 'command' as const;

  constructor(private readonly opts: CommandProvisionerOptions) {}

  list(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  removalChoice(): Promise<{ kind: 'any' }> {
    return Promise.resolve({ kind: 'any' });
  }

  async apply(request: ScaleRequest): Promise<ScaleOutcome> {
    const remove = request.remove.map((m) => m.machineId);
    const run = await runExecutable(
      { command: this.opts.command, args: [...(this.opts.args ?? [])], timeoutMs: this.opts.timeoutMs, ...(this.opts.env ? { env: { ...this.opts.env } } : {}) },
      {
        stdin: JSON.stringify({ v: 1, replicas: request.replicas, remove: request.remove }),
        env: { SBC_SCALE_REPLICAS: String(request.replicas), SBC_SCALE_REMOVE: remove.join(',') },
      },
      new AbortController().signal,
    );
    if (!run.ok) throw new ProvisionerError('command', `${this.opts.command} failed (${run.reason}): ${run.detail.slice(0, DETAIL_CHARS)}`);
    return { created: [], removed: remove, detail: `${this.opts.command}: replicas ${request.replicas}, removed [${remove.join(', ')}]${run.stdout.trim() ? `: ${run.stdout.trim().slice(0, DETAIL_CHARS)}` : ''}` };
  }
}
