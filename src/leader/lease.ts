/**
 * The lease of the leader, and the server-side timeouts that must outlast it.
 *
 * Leadership is a Postgres session advisory lock: the server holds it as long as the
 * session of the dedicated connection lives. The holder cannot see the server release it
 * (a frozen holder sees nothing at all), so it keeps its own lease:
 *
 *   - every renewMs it runs a cheap query on that connection (is the lock still mine, is the
 *     epoch still mine) and, when it succeeds, its lease runs to `sent + leaseMs`, where
 *     `sent` is when that query was sent, not when it answered;
 *   - at the deadline without a newer success it steps down locally, at once, by timer,
 *     and `isLeader()` compares the clock with the deadline, so even before the timer runs
 *     (a process resumed after SIGSTOP) it already says no.
 *
 * The server ends a silent session (and so frees the lock for another replica) only after
 * `idle_session_timeout` = serverTimeoutMs of silence, counted from the last thing it
 * received, which is at or after `sent`. Hence the inequality this file exists for:
 *
 *   local step-down   = sent + leaseMs
 *   server release   >= sent + serverTimeoutMs  =  sent + leaseMs + marginMs
 *
 * so a holder that goes silent (frozen, partitioned, its event loop stuck) has stopped
 * writing marginMs before any other replica can win. The margin covers a late timer and
 * the clock rates of two machines; defaults: lease 5 s, renew 1 s, server 7.5 s.
 *
 * The TCP keepalive settings would also end a silent session; they are set per session to
 * outlast serverTimeoutMs, so a short server-wide setting cannot free the lock first.
 *
 * What the lease cannot cover: a session ended on purpose (pg_terminate_backend, a server
 * restart) frees the lock at once, before the holder learns of it. Then the epoch fence
 * (fenceCheck, the Redis fence) is what refuses the old leader's writes; the lease only
 * bounds how long it believes it leads (until its next renew, or its 'error' event).
 */
export interface LeaseTimings {
  readonly leaseMs: number;
  readonly renewMs: number;
  /** idle_session_timeout and idle_in_transaction_session_timeout of the dedicated session. */
  readonly serverTimeoutMs: number;
  /** statement_timeout of the session, and the client-side timeout of each query. */
  readonly statementTimeoutMs: number;
  /** tcp_keepalives_idle / _interval / _count, in seconds: together above serverTimeoutMs. */
  readonly keepalive: { readonly idleS: number; readonly intervalS: number; readonly count: number };
  /** How long a replica waits per rank (replicaOrder.ts) before trying a vacant lock. */
  readonly orderStepMs: number;
}

export function leaseTimings(leaseMs: number, renewMs: number): LeaseTimings {
  if (!(renewMs > 0 && leaseMs >= 2 * renewMs)) {
    throw new RangeError(`the lease (${leaseMs} ms) must span at least two renews (${renewMs} ms each)`);
  }
  const marginMs = Math.max(1000, Math.ceil(leaseMs / 2));
  const serverTimeoutMs = leaseMs + marginMs;
  return Object.freeze({
    leaseMs,
    renewMs,
    serverTimeoutMs,
    statementTimeoutMs: renewMs,
    keepalive: Object.freeze({ idleS: Math.ceil(serverTimeoutMs / 1000), intervalS: 1, count: 3 }),
    // A lower-ranked replica polls every renewMs and so takes a free lock within about one
    // renew; two renews per rank leave it that time and a round trip.
    orderStepMs: 2 * renewMs,
  });
}

/**
 * The leader's lease, a value: the deadline moves only on a renew that was *sent* before it,
 * so an answer that arrives after a freeze never revives an expired lease.
 */
export class Lease {
  private constructor(
    private readonly leaseMs: number,
    /** Monotonic ms after which this replica no longer leads. */
    readonly deadline: number,
  ) {}

  /** The lease of a leader whose lock try was sent at `sentAt`. */
  static from(leaseMs: number, sentAt: number): Lease {
    return new Lease(leaseMs, sentAt + leaseMs);
  }

  /** The lease after a renew sent at `sentAt` succeeded; undefined when it had run out by then. */
  renewed(sentAt: number): Lease | undefined {
    if (sentAt >= this.deadline) return undefined;
    return new Lease(this.leaseMs, Math.max(this.deadline, sentAt + this.leaseMs));
  }

  valid(now: number): boolean {
    return now < this.deadline;
  }

  msLeft(now: number): number {
    return Math.max(0, this.deadline - now);
  }
}
