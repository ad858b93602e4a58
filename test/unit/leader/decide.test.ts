import { describe, expect, it } from 'vitest';
import { decideRenew, type ElectionState } from '../../../src/leader/decide.js';
import { Lease } from '../../../src/leader/lease.js';
import type { Observation, ReplicaRow } from '../../../src/leader/replicas.js';

const t = { leaseMs: 1000, orderStepMs: 200 };
const me = { replicaId: 'b', order: 2 };
const row = (replicaId: string, order: number | null, lastSeenMsAgo = 100): ReplicaRow => ({ replicaId, order, role: 'follower', lastSeenMsAgo });
const seen = (o: Partial<Observation>): Observation => ({ mine: false, held: false, epoch: 7, leaderId: null, replicas: [], ...o });
const leader = (epoch = 7, leaseSentAt = 0): ElectionState => ({ role: 'leader', epoch, lease: Lease.from(t.leaseMs, leaseSentAt) });
const follower = (vacantSince?: number): ElectionState => ({ role: 'follower', vacantSince });

describe('election: what a renew decides', () => {
  it('a leader that still holds its lock and epoch renews its lease from when the renew was sent', () => {
    const d = decideRenew(leader(), { seen: seen({ mine: true, held: true }), sentAt: 500, now: 520, me }, t);
    expect(d.kind).toBe('lead');
    if (d.kind === 'lead' && d.state.role === 'leader') expect(d.state.lease.deadline).toBe(1500);
  });

  it('a leader steps down when the lock is not its own, or the epoch moved', () => {
    expect(decideRenew(leader(), { seen: seen({ mine: false, held: true }), sentAt: 100, now: 110, me }, t)).toEqual({ kind: 'step-down', reason: 'lock-lost' });
    expect(decideRenew(leader(), { seen: seen({ mine: true, held: true, epoch: 8 }), sentAt: 100, now: 110, me }, t)).toEqual({ kind: 'step-down', reason: 'epoch-moved' });
  });

  it('a renew sent after the lease ran out (a resumed process) does not keep it, even if the lock answers mine', () => {
    expect(decideRenew(leader(), { seen: seen({ mine: true, held: true }), sentAt: 1000, now: 1010, me }, t)).toEqual({ kind: 'step-down', reason: 'lease-expired' });
  });

  it('a renew sent in time but answered after a freeze longer than the lease steps down', () => {
    expect(decideRenew(leader(), { seen: seen({ mine: true, held: true }), sentAt: 900, now: 5000, me }, t)).toEqual({ kind: 'step-down', reason: 'lease-expired' });
  });

  it('a follower that sees the lock held forgets any vacancy and does not try it', () => {
    expect(decideRenew(follower(300), { seen: seen({ held: true }), sentAt: 900, now: 900, me }, t)).toEqual({ kind: 'follow', state: follower(), tryLock: false });
  });

  it('the first in order tries a vacant lock at once', () => {
    const d = decideRenew(follower(), { seen: seen({ replicas: [row('b', 2), row('c', 3)] }), sentAt: 400, now: 400, me }, t);
    expect(d).toEqual({ kind: 'follow', state: follower(400), tryLock: true });
  });

  it('a replica behind a live lower order waits one step from when it first saw the vacancy', () => {
    const live = seen({ replicas: [row('a', 1), row('b', 2)] });
    expect(decideRenew(follower(), { seen: live, sentAt: 400, now: 400, me }, t)).toEqual({ kind: 'follow', state: follower(400), tryLock: false });
    expect(decideRenew(follower(400), { seen: live, sentAt: 599, now: 599, me }, t)).toMatchObject({ tryLock: false });
    expect(decideRenew(follower(400), { seen: live, sentAt: 600, now: 600, me }, t)).toEqual({ kind: 'follow', state: follower(400), tryLock: true });
  });

  it('a lower order that is not live (silent for a lease) does not hold anyone back', () => {
    const d = decideRenew(follower(), { seen: seen({ replicas: [row('a', 1, 1000), row('b', 2)] }), sentAt: 400, now: 400, me }, t);
    expect(d).toMatchObject({ tryLock: true });
  });
});
