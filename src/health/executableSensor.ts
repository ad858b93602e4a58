import { spawn, type ChildProcess } from 'node:child_process';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { nodeEnv, type Sensor, type SensorNode, type SensorResult } from './sensor.js';

/**
 * A custom sensor as an executable in any language, run once per node and reading: the
 * node's facts arrive as JSON on stdin and as `SBC_NODE_*` environment variables; it prints
 * one JSON object, `{"score": 0..100, "value"?: number, "detail"?: string}`, and exits 0.
 *
 * It runs without a shell (the command and its arguments are never parsed, so no fact can
 * inject one), in its own process group so a timeout kills what it started too, with a
 * bounded output. Every way it can go wrong is a typed reason, never an exception.
 */

export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;
/** How much of stderr a failure's detail keeps. */
const STDERR_KEPT_BYTES = 512;

export interface ExecutableSpec {
  /** The program to run (an absolute path is best: PATH is only what `env` gives). */
  readonly command: string;
  readonly args?: readonly string[];
  readonly timeoutMs: number;
  /** stdout beyond this is `too-large` (and the process is killed). */
  readonly maxOutputBytes?: number;
  /**
   * The child's environment besides the node's variables: nothing is inherited from this
   * process, whose environment holds credentials.
   */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

export type RunFailureReason = 'timeout' | 'exit' | 'too-large' | 'spawn' | 'aborted';

export type RunResult =
  | { readonly ok: true; readonly stdout: string; readonly durationMs: number }
  | { readonly ok: false; readonly reason: RunFailureReason; readonly detail: string; readonly durationMs: number };

/**
 * Runs `spec` with `stdin` written to it and `env` added to its environment. Resolves, never
 * rejects. On a timeout, too much output or an abort, its whole process group gets SIGKILL
 * at once: a sensor that overran has had its chance, and a grandchild holding stdout open
 * would otherwise keep the run alive. (A process that leaves the group with setsid escapes.)
 */
export function runExecutable(
  spec: ExecutableSpec,
  input: { readonly stdin: string; readonly env: Readonly<Record<string, string>> },
  signal: AbortSignal,
  clock: () => number = Date.now,
): Promise<RunResult> {
  const started = clock();
  const failure = (reason: RunFailureReason, detail: string): RunResult => ({
    ok: false,
    reason,
    detail,
    durationMs: clock() - started,
  });
  if (signal.aborted) return Promise.resolve(failure('aborted', 'aborted before start'));

  return new Promise<RunResult>((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(spec.command, [...(spec.args ?? [])], {
        cwd: spec.cwd,
        env: { ...spec.env, ...input.env },
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
        shell: false,
        windowsHide: true,
      });
    } catch (err) {
      resolve(failure('spawn', errorText(err)));
      return;
    }

    const limit = spec.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = Buffer.alloc(0);
    let settled = false;

    const settle = (result: RunResult, kill: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (kill) killGroup(child);
      child.stdout?.destroy();
      child.stderr?.destroy();
      child.stdin?.destroy();
      resolve(result);
    };
    const onAbort = (): void => settle(failure('aborted', 'aborted'), true);
    const timer = setTimeout(() => settle(failure('timeout', `no exit within ${spec.timeoutMs} ms`), true), spec.timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });

    child.on('error', (err) => settle(failure('spawn', errorText(err)), true));
    child.stdout?.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > limit) {
        settle(failure('too-large', `stdout over ${limit} bytes`), true);
        return;
      }
      stdout.push(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < STDERR_KEPT_BYTES) stderr = Buffer.concat([stderr, chunk]).subarray(0, STDERR_KEPT_BYTES);
    });
    // A program that never reads stdin may exit before we finish writing: EPIPE is no failure.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input.stdin);

    child.on('close', (code, sig) => {
      if (code === 0) {
        settle({ ok: true, stdout: Buffer.concat(stdout).toString('utf8'), durationMs: clock() - started }, false);
        return;
      }
      const how = sig ? `killed by ${sig}` : `exit code ${String(code)}`;
      const err = stderr.toString('utf8').trim();
      settle(failure('exit', err ? `${how}: ${err}` : how), false);
    });
  });
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * What a sensor executable prints. Strict (no other field) so that a typo such as `scroe`
 * fails loudly instead of being ignored.
 */
export const SensorOutput = Type.Object(
  {
    score: Type.Number({ minimum: 0, maximum: 100 }),
    value: Type.Optional(Type.Number()),
    detail: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false, $id: 'SensorOutputV1' },
);
export type SensorOutput = Static<typeof SensorOutput>;
const checkOutput = TypeCompiler.Compile(SensorOutput);

export interface ExecutableSensorConfig extends ExecutableSpec {
  /** The sensor's name (see sensorNameProblem): a reading's `sensor` and a metric label. */
  readonly name: string;
}

/** What the executable reads on stdin. */
export interface SensorInput {
  readonly v: 1;
  readonly sensor: string;
  readonly at: number;
  readonly node: SensorNode;
}

export function executableSensor(config: ExecutableSensorConfig, clock: () => number = Date.now): Sensor {
  return {
    name: config.name,
    async read(node, signal): Promise<SensorResult> {
      const input: SensorInput = { v: 1, sensor: config.name, at: clock(), node };
      const run = await runExecutable(
        config,
        { stdin: JSON.stringify(input), env: { ...nodeEnv(node), SBC_SENSOR_NAME: config.name } },
        signal,
        clock,
      );
      if (!run.ok) return { ok: false, sensor: config.name, reason: run.reason, detail: run.detail, durationMs: run.durationMs };
      return parseOutput(config.name, run.stdout, clock(), run.durationMs);
    },
  };
}

function parseOutput(sensor: string, stdout: string, at: number, durationMs: number): SensorResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch (err) {
    return { ok: false, sensor, reason: 'json', detail: errorText(err).slice(0, 256), durationMs };
  }
  if (!checkOutput.Check(parsed)) {
    const first = checkOutput.Errors(parsed).First();
    const detail = first ? `${first.path || '/'}: ${first.message}` : 'does not match the sensor output schema';
    return { ok: false, sensor, reason: 'schema', detail, durationMs };
  }
  const reading = {
    sensor,
    value: parsed.value ?? parsed.score,
    score: parsed.score,
    at,
    ...(parsed.detail !== undefined ? { detail: parsed.detail } : {}),
  };
  return { ok: true, reading, durationMs };
}
