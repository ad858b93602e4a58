import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { refuseNewLeftovers, removeLeftovers } from '../test/support/process.js';

/**
 * Everything a benchmark starts registers how to stop it here; stops run last-in first-out
 * (agents, then the control plane, then Kamailio, then the services it talks to), each
 * bounded, whatever happened before: normal end, error, watchdog or a signal.
 */
export class Cleanup {
  private steps: { what: string; stop: () => Promise<unknown> }[] = [];
  private closed = false;

  /** After runAll() began, a step pushed late (by a body still starting something) runs at once. */
  push(what: string, stop: () => Promise<unknown>): void {
    if (this.closed) {
      void runStep(what, stop, 20_000);
      return;
    }
    this.steps.push({ what, stop });
  }

  /** Runs every step, each within `stepTimeoutMs`; steps still waiting at `deadline` (performance.now()) are skipped. */
  async runAll(stepTimeoutMs = 20_000, deadline = Infinity): Promise<void> {
    this.closed = true;
    while (this.steps.length > 0) {
      const step = this.steps.pop();
      if (!step) break;
      const left = deadline - performance.now();
      if (left <= 0) {
        process.stderr.write(`[bench] out of time: not stopping ${[step, ...this.steps.reverse()].map((s) => s.what).join(', ')} in order\n`);
        this.steps = [];
        break;
      }
      await runStep(step.what, step.stop, Math.min(stepTimeoutMs, left));
    }
  }
}

async function runStep(what: string, stop: () => Promise<unknown>, timeoutMs: number): Promise<void> {
  const timeout = sleep(timeoutMs, 'timeout' as const, { ref: false });
  try {
    const r = await Promise.race([stop().then(() => 'done' as const), timeout]);
    if (r === 'timeout') process.stderr.write(`[bench] stopping ${what} took over ${Math.round(timeoutMs)} ms; moving on\n`);
  } catch (err) {
    process.stderr.write(`[bench] stopping ${what} failed: ${(err as Error).message}\n`);
  }
}

/** After a signal or the time limit, the ordered clean-up gets this long; then what is left is removed at once. */
const EARLY_CLEANUP_MS = 30_000;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs one benchmark body with a hard time limit. The body prints its own figures and
 * verdict; this prints the header, the run time, and makes sure everything started is
 * stopped and the process exits: 0 when the body ran to the end, 1 on error or when the
 * limit is hit, 128 + the signal's number (130 for SIGINT) when a signal stopped it.
 *
 * On a signal the body may be anywhere, even half-way through starting Kamailio or creating
 * a database: nothing new may start (refuseNewLeftovers), the ordered clean-up runs within
 * EARLY_CLEANUP_MS, then every process, database and temp dir the harnesses still track
 * is removed (removeLeftovers). A repeated signal (npm, tsx and the terminal may each send
 * one) changes nothing: the stop is already bounded.
 */
export async function runBench(name: string, limitMs: number, body: (cleanup: Cleanup) => Promise<void>): Promise<void> {
  const cleanup = new Cleanup();
  const started = performance.now();
  let finished = false;
  /** `early`: a signal or the time limit stopped the body, which may be anywhere. */
  const finish = async (code: number, why?: string, early?: 'INTERRUPTED' | 'ERROR') => {
    if (finished) return;
    finished = true;
    refuseNewLeftovers(why ?? `bench ${name} is stopping`);
    if (early) {
      // The body runs on while this stops what it uses: its failures are expected now.
      const quiet = (err: unknown) => process.stderr.write(`[bench] ${name}: after it was stopped: ${err instanceof Error ? err.message : String(err)}\n`);
      process.on('unhandledRejection', quiet);
      process.on('uncaughtException', quiet);
      process.stdout.write(`VERDICT ${name}: ${early} (${why ?? 'stopped'})\n`);
    }
    if (why) process.stderr.write(`[bench] ${name}: ${why}; stopping everything it started\n`);
    await cleanup.runAll(20_000, early ? performance.now() + EARLY_CLEANUP_MS : Infinity);
    const swept = await removeLeftovers();
    if (swept.length > 0) process.stderr.write(`[bench] ${name}: removed what was still starting or did not stop: ${swept.join(', ')}\n`);
    process.stdout.write(`run time: ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    process.exitCode = code;
    // Client libraries may keep the loop alive a little; never hang after the bench.
    setTimeout(() => process.exit(code), 2000).unref();
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (finished) {
      process.stderr.write(`[bench] ${name}: got ${sig} again; already stopping\n`);
      return;
    }
    void finish(128 + constants.signals[sig], `got ${sig}`, 'INTERRUPTED');
  };
  for (const sig of SIGNALS) process.on(sig, onSignal);
  const watchdog = setTimeout(() => void finish(1, `exceeded its ${limitMs / 1000} s limit`, 'ERROR'), limitMs);

  process.stdout.write(`\n=== bench: ${name} ===\n`);
  try {
    await body(cleanup);
    clearTimeout(watchdog);
    await finish(0);
  } catch (err) {
    clearTimeout(watchdog);
    if (finished) {
      // Interrupted or out of time: the body failed because its services were being stopped.
      process.stderr.write(`[bench] ${name}: the run ended early: ${(err as Error).message.split('\n')[0]}\n`);
      return;
    }
    process.stderr.write(`[bench] ${name} failed: ${(err as Error).stack ?? String(err)}\n`);
    process.stdout.write(`VERDICT ${name}: ERROR (${(err as Error).message.split('\n')[0]})\n`);
    await finish(1);
  }
}

/** Sleeps until a performance.now() instant (no-op when it has passed). */
export async function sleepUntil(at: number): Promise<void> {
  const ms = at - performance.now();
  if (ms > 0) await sleep(ms);
}

/** Races a promise against a bound; rejects with a message naming what was waited for. */
export async function within<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
