import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Gauge } from 'prom-client';
import { bumpEpoch } from './epochTable.js';
import type { FencedOutError } from './fencedOut.js';
import { decideRenew, type ElectionState, type StepDownReason } from './decide.js';
import { Lease, leaseTimings, type LeaseTimings } from './lease.js';
import { forgetReplica, observe, type Observation, type ReplicaRow, type Role } from './replicas.js';
import { closeElectionSession, openElectionSession, tryLeaderLock } from './session.js';

/**
 * One replica's part in electing the one leader that runs the reconcile runner: a Postgres
 * session advisory lock on a dedicated connection (session.ts), a local lease that steps
 * down before the server can free the lock of a silent holder (lease.ts), an epoch taken
 * by each new leader that fences its writes (epochTable.ts, ../redis/epochFence.ts), and an
 * optional takeover order (replicaOrder.ts).
 *
 * Every renewMs each replica runs one statement on its session (replicas.ts): its heartbeat,
 * whether it holds the lock, the epoch, the other replicas; decideRenew (decide.ts, pure)
 * says what that means, and this shell carries it out. A leader's lease runs leaseMs
 * from each renew sent while it was valid; a follower that sees the lock vacant waits its
 * rank in the order, then tries it, and when it wins increments the epoch before it calls
 * itself leader. Losing leadership in any way (lease run out, lock or epoch not its own,
 * session lost, stop()) ends the session, so the server frees the lock at once if it still
 * held it, and the replica starts again as a follower on a new session.
 */
export type DeposedReason = StepDownReason | 'stopped' | 'session-lost' | 'fenced-out';

export interface ElectionOptions {
  /** Postgres itself (not a transaction-mode pooler), migrated (migration 2). */
  readonly connectionString: string;
  readonly replicaId: string;
  /** SBC_REPLICA_ORDER: lower takes over first; null for none. */
  readonly order: number | null;
  readonly leaseMs: number;
  readonly renewMs: number;
  /**
   * Runs after the epoch is taken and before this replica calls itself leader, e.g. to
   * publish the epoch in Redis (publishEpoch). If it throws, the replica gives the lock back.
   */
  readonly announceEpoch?: (epoch: number) => Promise<void>;
  readonly onElected?: (epoch: number) => void;
  readonly onDeposed?: (reason: DeposedReason, epoch: number) => void;
  readonly logger?: Pick<Logger, 'info' | 'warn'>;
  readonly metrics?: { readonly leader: Gauge; readonly leaderEpoch: Gauge };
  /** Monotonic milliseconds; performance.now() unless a test says otherwise. */
  readonly now?: () => number;
}

export interface ClusterStatus {
  readonly replicaId: string;
  readonly role: Role;
  /** The cluster's epoch as this replica last saw it (its own while it leads). */
  readonly epoch: number | null;
  /** The replica holding the epoch while the lock is held; null while the lock is vacant. */
  readonly leaderId: string | null;
  /** Every replica that renewed recently, live ones within the lease; from the last renew. */
  readonly replicas: readonly (ReplicaRow & { readonly live: boolean })[];
}

export class Election {
  private readonly t: LeaseTimings;
  private readonly now: () => number;
  private state: ElectionState = { role: 'follower', vacantSince: undefined };
  private session: pg.Client | undefined;
  private seen: Observation | undefined;
  private stepDownTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private stopping: AbortController | undefined;
  private sessionFailing = false;

  constructor(private readonly opts: ElectionOptions) {
    this.t = leaseTimings(opts.leaseMs, opts.renewMs);
    this.now = opts.now ?? (() => performance.now());
  }

  get timings(): LeaseTimings {
    return this.t;
  }

  start(): void {
    if (this.loop) return;
    const stop = new AbortController();
    this.stopping = stop;
    this.loop = this.run(stop.signal);
  }

  /**
   * Stops renewing and ends the session, so a leader hands over at once: the lock is free
   * for the next replica's next renew. Resolves once the session is closed.
   */
  async stop(): Promise<void> {
    if (!this.loop) return;
    this.stopping?.abort();
    await this.loop;
    this.loop = undefined;
    const session = this.session;
    this.session = undefined;
    this.stepDown('stopped', false);
    if (session) {
      await forgetReplica(session, this.opts.replicaId).catch(() => undefined);
      await closeElectionSession(session, this.t.renewMs);
    }
  }

  /** True only within the lease: false as soon as it ran out, even before the step-down timer ran. */
  isLeader(): boolean {
    return this.state.role === 'leader' && this.state.lease.valid(this.now());
  }

  /** The epoch to fence writes with while leader; undefined otherwise. */
  epoch(): number | undefined {
    return this.isLeader() && this.state.role === 'leader' ? this.state.epoch : undefined;
  }

  /**
   * A store refused a write of this leader's epoch: a newer leader exists, so step down now
   * rather than at the next renew. An error about an older epoch changes nothing.
   */
  fencedOut(err: FencedOutError): void {
    if (this.state.role === 'leader' && err.epoch === this.state.epoch) this.stepDown('fenced-out');
  }

  status(): ClusterStatus {
    const seen = this.seen;
    const role: Role = this.isLeader() ? 'leader' : 'follower';
    const others = (seen?.replicas ?? []).filter((r) => r.replicaId !== this.opts.replicaId);
    const self = { replicaId: this.opts.replicaId, order: this.opts.order, role, lastSeenMsAgo: 0, live: true };
    const replicas = [...others.map((r) => ({ ...r, live: r.lastSeenMsAgo < this.t.leaseMs })), self];
    replicas.sort((a, b) => (a.order ?? Infinity) - (b.order ?? Infinity) || a.replicaId.localeCompare(b.replicaId));
    return {
      replicaId: this.opts.replicaId,
      role,
      epoch: this.state.role === 'leader' ? this.state.epoch : (seen?.epoch ?? null),
      leaderId: role === 'leader' ? this.opts.replicaId : seen?.held ? seen.leaderId : null,
      replicas,
    };
  }

  private async run(signal: AbortSignal): Promise<void> {
    // Paced by renewMs until stop(): each pass is one bounded round trip (statement and
    // query timeouts), and a failing connect is retried once per pass.
    while (!signal.aborted) {
      await this.renew(signal);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.t.renewMs);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done);
      });
    }
  }

  private async renew(signal: AbortSignal): Promise<void> {
    const sentAt = this.now();
    if (this.state.role === 'leader' && !this.state.lease.valid(sentAt)) this.stepDown('lease-expired');
    try {
      const session = this.session ?? (await this.openSession());
      const state = this.state;
      const seen = await observe(session, { replicaId: this.opts.replicaId, order: this.opts.order, role: state.role }, 60 * this.t.leaseMs);
      if (this.session !== session || this.state !== state) return; // stepped down meanwhile
      this.seen = seen;
      this.sessionFailing = false;
      const me = { replicaId: this.opts.replicaId, order: this.opts.order };
      const d = decideRenew(state, { seen, sentAt, now: this.now(), me }, this.t);
      if (d.kind === 'step-down') {
        this.stepDown(d.reason);
      } else {
        this.state = d.state;
        if (d.kind === 'lead') this.armStepDown(d.state.lease);
        else if (d.tryLock && !signal.aborted) await this.takeOver(session, signal);
      }
    } catch (err) {
      if (!this.sessionFailing) this.opts.logger?.warn({ err, role: this.state.role }, 'leader election: renew failed');
      this.sessionFailing = true;
    }
  }

  private async openSession(): Promise<pg.Client> {
    const opened: { client?: pg.Client } = {};
    const client = await openElectionSession(this.opts.connectionString, this.opts.replicaId, this.t, (err) => {
      if (opened.client) this.sessionLost(opened.client, err);
    });
    opened.client = client;
    this.session = client;
    return client;
  }

  /** The session the lock lived on ended: the server has freed the lock already. */
  private sessionLost(session: pg.Client, err: Error): void {
    if (this.session !== session) return;
    this.session = undefined;
    this.opts.logger?.warn({ err }, 'leader election: session lost');
    this.stepDown('session-lost');
  }

  /** Tries the vacant lock; on winning, takes the next epoch and announces it before leading. */
  private async takeOver(session: pg.Client, signal: AbortSignal): Promise<void> {
    const lockSentAt = this.now();
    if (!(await tryLeaderLock(session))) return;
    // This session holds the lock now: from here, any failure gives it back by ending the
    // session, or the lock would stay with a replica that does not lead.
    let epoch: number;
    let lease: Lease;
    try {
      epoch = await bumpEpoch(session, this.opts.replicaId);
      if (this.opts.announceEpoch) await withinMs(this.opts.announceEpoch(epoch), this.t.leaseMs, 'announcing the epoch');
      lease = Lease.from(this.t.leaseMs, lockSentAt);
      if (signal.aborted || !lease.valid(this.now()) || this.session !== session) throw new Error('stopped, or the lease ran out, while taking the epoch');
    } catch (err) {
      this.opts.logger?.warn({ err }, 'leader election: won the lock but could not take the epoch; giving it back');
      this.dropSession();
      return;
    }
    this.state = { role: 'leader', epoch, lease };
    this.armStepDown(lease);
    this.opts.metrics?.leader.set(1);
    this.opts.metrics?.leaderEpoch.set(epoch);
    this.opts.logger?.info({ epoch, replicaId: this.opts.replicaId }, 'leader election: elected');
    this.notify(() => this.opts.onElected?.(epoch));
  }

  /** A listener that throws must not break the election (nor crash a timer callback). */
  private notify(listener: () => void): void {
    try {
      listener();
    } catch (err) {
      this.opts.logger?.warn({ err }, 'leader election: a listener threw');
    }
  }

  private armStepDown(lease: Lease): void {
    clearTimeout(this.stepDownTimer);
    // Only a backstop: isLeader() already compares the clock with the deadline.
    this.stepDownTimer = setTimeout(() => {
      if (this.state.role === 'leader' && !this.state.lease.valid(this.now())) this.stepDown('lease-expired');
    }, lease.msLeft(this.now()) + 1);
  }

  /** Leaves leadership at once; `endSession` false only when stop() closes the session itself. */
  private stepDown(reason: DeposedReason, endSession = true): void {
    clearTimeout(this.stepDownTimer);
    this.stepDownTimer = undefined;
    const was = this.state;
    this.state = { role: 'follower', vacantSince: undefined };
    if (was.role !== 'leader') return;
    if (endSession) this.dropSession();
    this.opts.metrics?.leader.set(0);
    this.opts.logger?.warn({ reason, epoch: was.epoch, replicaId: this.opts.replicaId }, 'leader election: deposed');
    this.notify(() => this.opts.onDeposed?.(reason, was.epoch));
  }

  private dropSession(): void {
    const session = this.session;
    this.session = undefined;
    if (session) void closeElectionSession(session, this.t.renewMs);
  }
}

async function withinMs<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
