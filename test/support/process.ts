import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Leftovers: what this process has started (processes, Kamailio runtime dirs, Postgres
 * databases, temp dirs) and not stopped yet, each with a way to remove it at once. Each
 * harness tracks a thing *before* it creates it, so something half-started is tracked too.
 *
 * The tests never sweep: they stop what they start in afterAll, and an untracked stop is
 * all this costs them. A benchmark stopped by a signal (bench/run.ts) refuses anything new,
 * runs its ordered clean-up, then sweeps what is left, so nothing outlives it: a Kamailio is
 * in its own process group and would otherwise run on after its parent died.
 */
interface Leftover {
  readonly what: string;
  readonly remove: () => Promise<void> | void;
}

const leftovers = new Set<Leftover>();
let refusal: string | undefined;

/** Thrown by the harnesses when asked to start something once the process is shutting down. */
export class ShuttingDownError extends Error {
  override readonly name = 'ShuttingDownError';
}

/**
 * Tracks one thing about to be created; returns the function that forgets it (call it once
 * it is stopped). Throws ShuttingDownError after refuseNewLeftovers().
 */
export function trackLeftover(what: string, remove: () => Promise<void> | void): () => void {
  if (refusal !== undefined) throw new ShuttingDownError(`not starting ${what}: ${refusal}`);
  const entry: Leftover = { what, remove };
  leftovers.add(entry);
  return () => {
    leftovers.delete(entry);
  };
}

/** From now on trackLeftover() throws, so nothing new starts while the process stops. */
export function refuseNewLeftovers(why: string): void {
  refusal ??= why;
}

/** Why nothing new may start (see refuseNewLeftovers), or undefined while it may. */
export function refusingNewLeftovers(): string | undefined {
  return refusal;
}

/** What is tracked and not stopped yet, oldest first. */
export function pendingLeftovers(): string[] {
  return [...leftovers].map((l) => l.what);
}

/**
 * Removes everything still tracked, newest first, each within `stepTimeoutMs`; returns what
 * it removed (or tried to). Bounded: at most one step timeout per leftover.
 */
export async function removeLeftovers(stepTimeoutMs = 5000): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of [...leftovers].reverse()) {
    leftovers.delete(entry);
    removed.push(entry.what);
    try {
      const r = await Promise.race([
        Promise.resolve(entry.remove()).then(() => 'done' as const),
        sleep(stepTimeoutMs, 'timeout' as const, { ref: false }),
      ]);
      if (r === 'timeout') process.stderr.write(`[cleanup] removing ${entry.what} took over ${stepTimeoutMs} ms; moving on\n`);
    } catch (err) {
      process.stderr.write(`[cleanup] removing ${entry.what} failed: ${(err as Error).message}\n`);
    }
  }
  return removed;
}

/** Sends `signal` to a child's whole process group (it was spawned detached), or to the child alone. */
export function signalChild(child: ChildProcess, signal: NodeJS.Signals, group: boolean): void {
  if (child.pid === undefined) return;
  try {
    if (group) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    /* already gone */
  }
}

export interface RunningProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface StartProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Own process group (spawned detached): a terminal's Ctrl-C, which signals the whole
   * foreground group, does not reach it, so its owner stops it in order; stop() signals
   * the whole group. Default false: the tests' services die with a Ctrl-C'd test run.
   */
  ownProcessGroup?: boolean;
}

/** Starts a binary and keeps the tail of its output for error messages. */
export function startProcess(cmd: string, args: string[], opts: StartProcessOptions = {}): RunningProcess {
  const group = opts.ownProcessGroup ?? false;
  // Filled in by the spawn below; the sweep reads it when it runs.
  const spawned: { child?: ChildProcess; exited?: Promise<void> } = {};
  const untrack = trackLeftover(`${cmd} process`, async () => {
    const { child, exited } = spawned;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    signalChild(child, 'SIGKILL', group);
    await exited;
  });
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd, detached: group });
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-20_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  // 'close' too: a command that cannot be spawned emits 'error' and 'close', never 'exit'.
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', () => resolve());
    proc.once('close', () => resolve());
  });
  proc.once('error', (err) => keep(Buffer.from(`\n[harness] spawn error: ${err.message}\n`)));
  Object.assign(spawned, { child: proc, exited });
  void exited.then(untrack);
  return {
    child: proc,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) {
        signalChild(proc, signal, group);
        const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
        if (!done) {
          signalChild(proc, 'SIGKILL', group);
          await exited;
        }
      }
      // A group may hold processes the main one started; none may outlive it.
      if (group) signalChild(proc, 'SIGKILL', true);
    },
  };
}

/** Polls `probe` until it returns true; bounded by `timeoutMs`. */
export async function waitFor(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 10_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
}
