import type { Logger } from 'pino';

/** A dependency the control plane cannot start without stayed unreachable for the whole bound. */
export class DependencyUnavailableError extends Error {
  override readonly name = 'DependencyUnavailableError';
  constructor(
    readonly component: string,
    readonly where: string,
    readonly waitedMs: number,
    readonly attempts: number,
    options?: ErrorOptions,
  ) {
    const cause = options?.cause instanceof Error ? options.cause.message : JSON.stringify(options?.cause ?? 'unknown');
    super(`${component} at ${where} is not reachable after ${Math.round(waitedMs / 1000)} s (${attempts} attempts): ${cause}`, options);
  }
}

export interface WaitOptions {
  /** Give up after this long (ms since the first attempt). */
  readonly timeoutMs: number;
  readonly logger: Logger;
  /** First pause between attempts; doubles up to `maxDelayMs`. */
  readonly firstDelayMs?: number;
  readonly maxDelayMs?: number;
}

/** A URL with any password replaced, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * Runs `attempt` until it succeeds, with capped exponential backoff, for at most `timeoutMs`.
 * At start-up Redis, Postgres or NATS may simply not be up yet (compose, a rebooting host):
 * waiting a bounded time and then failing with the component, where it was looked for and
 * the last error beats exiting at once with a bare "Connection is closed.".
 */
export async function waitForDependency<T>(component: string, url: string, attempt: () => Promise<T>, opts: WaitOptions): Promise<T> {
  const started = performance.now();
  const where = redactUrl(url);
  let delay = opts.firstDelayMs ?? 250;
  for (let n = 1; ; n++) {
    try {
      const value = await attempt();
      if (n > 1) opts.logger.info({ component, url: where, attempts: n }, `${component} reachable`);
      return value;
    } catch (err) {
      const waited = performance.now() - started;
      if (waited + delay > opts.timeoutMs) throw new DependencyUnavailableError(component, where, waited, n, { cause: err });
      opts.logger.warn({ component, url: where, attempt: n, retryInMs: delay, err: (err as Error).message }, `${component} not reachable yet; retrying`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(opts.maxDelayMs ?? 5000, delay * 2);
    }
  }
}
