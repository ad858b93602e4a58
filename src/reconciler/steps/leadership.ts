import { fencedOutOf } from '../../leader/fencedOut.js';
import { NotLeaderError, type Leadership } from '../../leader/leadership.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { DispatcherPass } from '../dispatcherPass.js';
import type { ReconcileStep, StepContext } from '../runner.js';

/**
 * First step when replicas elect a leader: the pass takes the leader's epoch, and no pass
 * runs on a replica that does not lead. The stores check that epoch in the same transaction
 * or script as each write (the fence); `stillLeading` guards what no store can fence (a
 * Kamailio reload or set_state) with the leader's local lease.
 */
export function leadershipStep(leadership: Leadership): ReconcileStep<DispatcherPass> {
  return {
    name: 'leadership',
    run(pass) {
      const epoch = leadership.epoch();
      if (epoch === undefined) return Promise.reject(new NotLeaderError('reconcile pass'));
      pass.epoch = epoch;
      return Promise.resolve();
    },
  };
}

/** Throws NotLeaderError unless this replica still leads at the pass's epoch. */
export function stillLeading(leadership: Leadership | undefined, pass: DispatcherPass, what: string): void {
  if (leadership && (pass.epoch === undefined || leadership.epoch() !== pass.epoch)) throw new NotLeaderError(what);
}

/**
 * When `err` is a store refusing a write for a moved epoch: counts it
 * (`sbc_fenced_writes_total{store}`), logs it and steps this replica down; true then. The
 * caller rethrows either way: a fenced pass writes nothing more.
 */
export function refusedByFence(
  err: unknown,
  deps: { readonly leadership?: Leadership; readonly metrics: Pick<Metrics, 'fencedWrites'> },
  ctx: StepContext,
  what: string,
): boolean {
  const fenced = fencedOutOf(err);
  if (!fenced) return false;
  deps.metrics.fencedWrites.inc({ store: fenced.store });
  ctx.logger.warn({ store: fenced.store, epoch: fenced.epoch, currentEpoch: fenced.currentEpoch }, `${what} refused: a newer leader was elected; stepping down`);
  deps.leadership?.fencedOut(fenced);
  return true;
}
