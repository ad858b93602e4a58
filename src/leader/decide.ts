import type { Lease } from './lease.js';
import type { Observation } from './replicas.js';
import { takeoverDelayMs, type ReplicaOrderEntry } from './replicaOrder.js';

/**
 * What one replica does with what a renew saw: pure, so every case (a lock lost, an epoch
 * moved, an answer that comes back after a freeze, a vacancy and the takeover order) is a
 * unit test; the Election shell only carries the decision out.
 */
export type ElectionState =
  | { readonly role: 'follower'; readonly vacantSince: number | undefined }
  | { readonly role: 'leader'; readonly epoch: number; readonly lease: Lease };

export type StepDownReason = 'lease-expired' | 'lock-lost' | 'epoch-moved';

export type RenewDecision =
  /** Still leader, with the lease renewed. */
  | { readonly kind: 'lead'; readonly state: ElectionState & { role: 'leader' } }
  | { readonly kind: 'step-down'; readonly reason: StepDownReason }
  /** Follower; try the vacant lock now when `tryLock`. */
  | { readonly kind: 'follow'; readonly state: ElectionState & { role: 'follower' }; readonly tryLock: boolean };

export interface RenewInput {
  readonly seen: Observation;
  /** When the renew that saw `seen` was sent (monotonic ms). */
  readonly sentAt: number;
  /** Now, when its answer is handled. */
  readonly now: number;
  readonly me: ReplicaOrderEntry;
}

export interface DecideTimings {
  readonly leaseMs: number;
  readonly orderStepMs: number;
}

export function decideRenew(state: ElectionState, input: RenewInput, t: DecideTimings): RenewDecision {
  const { seen, sentAt, now } = input;
  if (state.role === 'leader') {
    if (!seen.mine) return { kind: 'step-down', reason: 'lock-lost' };
    if (seen.epoch !== state.epoch) return { kind: 'step-down', reason: 'epoch-moved' };
    // An answer to a renew sent before a freeze arrives after it: renewed() ignores it if
    // the lease had run out when it was sent, valid() if it ran out since.
    const lease = state.lease.renewed(sentAt);
    if (!lease?.valid(now)) return { kind: 'step-down', reason: 'lease-expired' };
    return { kind: 'lead', state: { ...state, lease } };
  }
  if (seen.held) return { kind: 'follow', state: { role: 'follower', vacantSince: undefined }, tryLock: false };
  const vacantSince = state.vacantSince ?? sentAt;
  const live = seen.replicas.filter((r) => r.lastSeenMsAgo < t.leaseMs);
  const wait = takeoverDelayMs(input.me, live, t.orderStepMs);
  return { kind: 'follow', state: { role: 'follower', vacantSince }, tryLock: sentAt - vacantSince >= wait };
}
