/**
 * A write refused because the epoch it carried is no longer the cluster's: a newer leader
 * was elected since this replica won. Nothing of the refused write was applied. Every
 * fenced store (the dispatcher table, the Redis registry) throws this one error, so the
 * writer's reaction is the same whatever store refused it: stop acting as leader.
 */
export class FencedOutError extends Error {
  override readonly name = 'FencedOutError';
  constructor(
    /** The store that refused the write (a metric label: `postgres`, `redis`). */
    readonly store: string,
    /** The epoch the write carried. */
    readonly epoch: number,
    /** The epoch the store holds now, when it said. */
    readonly currentEpoch: number | undefined,
    options?: ErrorOptions,
  ) {
    super(`${store} refused a write of epoch ${epoch}: the cluster is at epoch ${currentEpoch ?? 'unknown'}`, options);
  }
}

/** The FencedOutError `err` is or was caused by (a wrapper's `cause` chain), if any. */
export function fencedOutOf(err: unknown): FencedOutError | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof FencedOutError) return e;
  }
  return undefined;
}

export function isFencedOut(err: unknown): err is FencedOutError {
  return err instanceof FencedOutError;
}
