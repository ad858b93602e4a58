import type { NodeTransition } from '../core/health.js';
import type { NodeHealth, NodeState } from '../core/node.js';
import { runExecutable, type ExecutableSpec } from './executableSensor.js';
import { nodeEnv, type SensorNode } from './sensor.js';

/**
 * Operator hooks on node transitions (core/health.ts nodeTransitions): "at a critical level
 * operators are told and actions run". A hook is a command (no shell; the event as JSON on
 * stdin and `SBC_NODE_*`/`SBC_HOOK_*` env) or a webhook (POST of the same JSON). Runs are
 * bounded in number at once and in queue length, each has a timeout, and each ends in a typed
 * outcome the caller logs and counts; nothing here throws.
 */

export type HookTarget =
  | { readonly kind: 'command'; readonly spec: ExecutableSpec }
  | {
      readonly kind: 'webhook';
      readonly url: string;
      readonly timeoutMs: number;
      readonly headers?: Readonly<Record<string, string>>;
    };

export interface HookConfig {
  /** A metric label and the log's name for it. */
  readonly name: string;
  readonly on: readonly NodeTransition[];
  readonly target: HookTarget;
}

/** What a hook is told: the stdin JSON of a command, the body of a webhook. */
export interface HookEvent {
  readonly v: 1;
  readonly transition: NodeTransition;
  readonly at: number;
  readonly state: NodeState;
  readonly health: NodeHealth;
  /** The node's score and the sensor that set it, when health moved. */
  readonly score?: number;
  readonly worstSensor?: string;
  readonly node: SensorNode;
}

/** Doubles as a metric label (e.g. `sbc_health_hook_runs_total{hook, outcome}`). */
export const HOOK_FAILURE_REASONS = [
  'timeout',
  'exit',
  'too-large',
  'spawn',
  'aborted',
  'http-status',
  'network',
  /** Dropped: `maxQueued` runs were already waiting. */
  'queue-full',
] as const;
export type HookFailureReason = (typeof HOOK_FAILURE_REASONS)[number];

interface OutcomeBase {
  readonly hook: string;
  readonly transition: NodeTransition;
  readonly nodeId: string;
  readonly durationMs: number;
}
export type HookOutcome =
  | (OutcomeBase & { readonly ok: true; readonly status?: number })
  | (OutcomeBase & { readonly ok: false; readonly reason: HookFailureReason; readonly detail: string });

export interface HookRunnerOptions {
  /** Runs at once, over all hooks. */
  readonly concurrency: number;
  /** Runs waiting for a turn; past it, a run is dropped as `queue-full`. */
  readonly maxQueued: number;
  /** Aborts every run (shutdown): they end as `aborted`. */
  readonly signal?: AbortSignal;
  readonly fetch?: typeof fetch;
  readonly clock?: () => number;
}

export interface HookRunner {
  /** Runs every hook configured for `event.transition`; outcomes in configuration order. */
  fire(event: HookEvent): Promise<HookOutcome[]>;
  /** Resolves once nothing runs or waits (for shutdown, after aborting or not). */
  idle(): Promise<void>;
}

type RunResult = { ok: true; status?: number } | { ok: false; reason: HookFailureReason; detail: string };

export function createHookRunner(hooks: readonly HookConfig[], options: HookRunnerOptions): HookRunner {
  const clock = options.clock ?? Date.now;
  const doFetch = options.fetch ?? fetch;
  const signal = options.signal ?? new AbortController().signal;
  let active = 0;
  const queue: (() => void)[] = [];
  let idleWaiters: (() => void)[] = [];

  const release = (): void => {
    const next = queue.shift();
    if (next) {
      next();
      return;
    }
    active--;
    if (active === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  };

  /** Waits for a turn; false when the queue is full. */
  const acquire = (): Promise<boolean> => {
    if (active < options.concurrency) {
      active++;
      return Promise.resolve(true);
    }
    if (queue.length >= options.maxQueued) return Promise.resolve(false);
    // The releasing run hands its turn over, so `active` stays as it is.
    return new Promise((resolve) => queue.push(() => resolve(true)));
  };

  async function runOne(hook: HookConfig, event: HookEvent): Promise<HookOutcome> {
    const base = { hook: hook.name, transition: event.transition, nodeId: event.node.nodeId };
    if (!(await acquire())) {
      return { ...base, ok: false, reason: 'queue-full', detail: `${options.maxQueued} runs already waiting`, durationMs: 0 };
    }
    const started = clock();
    try {
      const result =
        hook.target.kind === 'command'
          ? await runCommand(hook.name, hook.target.spec, event, signal, clock)
          : await postWebhook(hook.target, event, signal, doFetch);
      const durationMs = clock() - started;
      return result.ok ? { ...base, ...result, durationMs } : { ...base, ...result, durationMs };
    } finally {
      release();
    }
  }

  return {
    fire(event) {
      return Promise.all(hooks.filter((h) => h.on.includes(event.transition)).map((h) => runOne(h, event)));
    },
    idle() {
      if (active === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}

async function runCommand(
  name: string,
  spec: ExecutableSpec,
  event: HookEvent,
  signal: AbortSignal,
  clock: () => number,
): Promise<RunResult> {
  const env = {
    ...nodeEnv(event.node),
    SBC_HOOK_NAME: name,
    SBC_HOOK_TRANSITION: event.transition,
    SBC_NODE_STATE: event.state,
    SBC_NODE_HEALTH: event.health,
  };
  const run = await runExecutable(spec, { stdin: JSON.stringify(event), env }, signal, clock);
  return run.ok ? { ok: true } : { ok: false, reason: run.reason, detail: run.detail };
}

async function postWebhook(
  target: Extract<HookTarget, { kind: 'webhook' }>,
  event: HookEvent,
  signal: AbortSignal,
  doFetch: typeof fetch,
): Promise<RunResult> {
  if (signal.aborted) return { ok: false, reason: 'aborted', detail: 'aborted before start' };
  const timeout = AbortSignal.timeout(target.timeoutMs);
  try {
    const res = await doFetch(target.url, {
      method: 'POST',
      headers: { ...target.headers, 'content-type': 'application/json' },
      body: JSON.stringify(event),
      signal: AbortSignal.any([signal, timeout]),
      // A redirect is the receiver's misconfiguration; following it would post node facts
      // wherever it points.
      redirect: 'manual',
    });
    // The body is not ours to read; cancelling it frees the connection.
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
    return { ok: false, reason: 'http-status', detail: `HTTP ${res.status}` };
  } catch (err) {
    if (signal.aborted) return { ok: false, reason: 'aborted', detail: 'aborted' };
    if (timeout.aborted) return { ok: false, reason: 'timeout', detail: `no answer within ${target.timeoutMs} ms` };
    return { ok: false, reason: 'network', detail: networkDetail(err) };
  }
}

/** fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND) is in its cause. */
function networkDetail(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${err.message}: ${code}` : `${err.message}: ${cause.message}`;
  }
  return err.message;
}
