import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Everything a benchmark starts registers how to stop it here; stops run last-in first-out
 * (agents, then the control plane, then Kamailio, then the services it talks to), each
 * bounded, whatever happened before: normal end, error, watchdog or Ctrl-C.
 */
export class Cleanup {
  private steps: { what: string; stop: () => Promise<unknown> }[] = [];

  push(what: string, stop: () => Promise<unknown>): void {
    this.steps.push({ what, stop });
  }

  async runAll(stepTimeoutMs = 20_000): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop();
      if (!step) break;
      const timeout = sleep(stepTimeoutMs, 'timeout' as const, { ref: false });
      try {
        const r = await Promise.race([step.stop().then(() => 'done' as const), timeout]);
        if (r === 'timeout') process.stderr.write(`[bench] stopping ${step.what} took over ${stepTimeoutMs} ms; moving on\n`);
      } catch (err) {
        process.stderr.write(`[bench] stopping ${step.what} failed: ${(err as Error).message}\n`);
      }
    }
  }
}

/**
 * Runs one benchmark body with a hard time limit. The body prints its own figures and
 * verdict; this prints the header, the run time, and makes sure everything started is
 * stopped and the process exits (1 on error or when the limit is hit).
 */
export async function runBench(name: string, limitMs: number, body: (cleanup: Cleanup) => Promise<void>): Promise<void> {
  const cleanup = new Cleanup();
  const started = performance.now();
  let finished = false;
  const finish = async (code: number, why?: string) => {
    if (finished) return;
    finished = true;
    if (why) process.stderr.write(`[bench] ${name}: ${why}; stopping everything it started\n`);
    await cleanup.runAll();
    process.stdout.write(`run time: ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    process.exitCode = code;
    // Client libraries may keep the loop alive a little; never hang after the bench.
    setTimeout(() => process.exit(code), 2000).unref();
  };
  const onSignal = (sig: NodeJS.Signals) => void finish(130, `got ${sig}`);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const watchdog = setTimeout(() => void finish(1, `exceeded its ${limitMs / 1000} s limit`), limitMs);

  process.stdout.write(`\n=== bench: ${name} ===\n`);
  try {
    await body(cleanup);
    clearTimeout(watchdog);
    await finish(0);
  } catch (err) {
    clearTimeout(watchdog);
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
