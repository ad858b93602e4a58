import { describe, expect, it } from 'vitest';
import { applyNodeMessage, claimAddress, housekeeping, nextDeadline } from '../../../src/core/lifecycle.js';
import type { NodeMessage } from '../../../src/events/schemas.js';
import { node } from './fixtures.js';

const id = '00000000-0000-4000-8000-000000000001';
const facts = { v: 1 as const, nodeId: id, sentAt: 0, sipUri: 'sip:10.0.0.1:5080', hostname: 'fs1', capacity: 500, sessions: 3, agentVersion: '0.1.0', heartbeatIntervalMs: 2000 };
const hb = (seq: number): NodeMessage => ({ kind: 'heartbeat', msg: { ...facts, seq } });
const joined = (seq: number): NodeMessage => ({ kind: 'joined', msg: { ...facts, seq, reason: 'start' } });
const left = (seq: number): NodeMessage => ({ kind: 'left', msg: { v: 1, nodeId: id, seq, sentAt: 0, reason: 'agent-stopping' } });
const rules = { heartbeatMisses: 3, maxClockSkewMs: 60_000 };

describe('applyNodeMessage', () => {
  it('creates a joining node with its slot and a deadline three heartbeats away', () => {
    const r = applyNodeMessage(undefined, joined(10), 5000, rules, 42);
    expect(r.outcome).toBe('created');
    expect(r.next).toMatchObject({ state: 'joining', slot: 42, seq: 10, capacity: 500, expiresAt: 5000 + 3 * 2000, rev: 1 });
  });

  it('registers a node first seen through a heartbeat (control plane restarted)', () => {
    expect(applyNodeMessage(undefined, hb(3), 0, rules, 1).outcome).toBe('created');
  });

  it('rejects a message whose sequence number is not above the stored one', () => {
    const cur = node(1, { seq: 10 });
    const r = applyNodeMessage(cur, hb(10), 0, rules, undefined);
    expect(r.outcome).toBe('stale');
    // Only remembered as the possible start of a stream; no fact of the node changes.
    expect(r.next).toEqual({ ...cur, staleStream: { lastSeq: 10, since: 0, count: 1 }, rev: cur.rev + 1 });
    expect(applyNodeMessage(cur, hb(9), 0, rules, undefined).outcome).toBe('stale');
    expect(applyNodeMessage(cur, left(9), 0, rules, undefined)).toEqual({ outcome: 'stale', next: undefined });
  });

  it('refuses a seq further ahead of its clock than the clocks can disagree', () => {
    expect(applyNodeMessage(undefined, hb(Number.MAX_SAFE_INTEGER), 5000, rules, 1)).toEqual({ outcome: 'seq-ahead', next: undefined });
    expect(applyNodeMessage(node(1, { seq: 10 }), hb(5000 + 60_001), 5000, rules, undefined).outcome).toBe('seq-ahead');
    expect(applyNodeMessage(node(1, { seq: 10 }), hb(5000 + 60_000), 5000, rules, undefined).outcome).toBe('updated');
  });

  describe('a forged seq that is plausible (ahead of the agent, behind our clock)', () => {
    // The real agent's stream continues at 100, 101, ... every 2 s; someone once sent seq 50_000.
    const forged = node(1, { seq: 50_000, lastSeenAt: 10_000, expiresAt: 16_000, heartbeatIntervalMs: 2000 });
    const step = (cur: typeof forged, seq: number, at: number) => {
      const r = applyNodeMessage(cur, hb(seq), at, rules, undefined);
      return { outcome: r.outcome, next: r.next ?? cur };
    };

    it('is outlived: the live stream below it is adopted after one heartbeat interval', () => {
      const a = step(forged, 100, 11_000);
      expect(a.outcome).toBe('stale');
      const b = step(a.next, 101, 13_000);
      expect(b.outcome).toBe('resynced');
      expect(b.next).toMatchObject({ seq: 101, lastSeenAt: 13_000, expiresAt: 19_000, state: 'active' });
      expect(b.next.staleStream).toBeUndefined();
      // From here the real stream is simply newer.
      expect(step(b.next, 102, 15_000).outcome).toBe('updated');
    });

    it('brings back a node that expired while its messages were refused', () => {
      const a = step(forged, 100, 11_000);
      const b = step({ ...a.next, state: 'gone', goneReason: 'expired' }, 101, 17_000);
      expect(b.outcome).toBe('resynced');
      expect(b.next).toMatchObject({ state: 'joining', seq: 101 });
      expect(b.next.goneReason).toBeUndefined();
    });

    it('is not fooled by messages that do not form a live stream', () => {
      const a = step(forged, 100, 11_000);
      // A replay of the same or an older message does not extend the stream.
      expect(step(a.next, 100, 13_000)).toEqual({ outcome: 'stale', next: a.next });
      expect(step(a.next, 99, 13_000)).toEqual({ outcome: 'stale', next: a.next });
      // Two in order but within less than an interval: not yet proof.
      expect(step(a.next, 101, 12_000).outcome).toBe('stale');
    });

    it('starts over when a message is accepted after the stream began', () => {
      const a = step(forged, 100, 11_000);
      const accepted = step(a.next, 50_001, 12_000);
      expect(accepted.outcome).toBe('updated');
      expect(accepted.next.staleStream).toBeUndefined();
      expect(step(accepted.next, 101, 13_000).outcome).toBe('stale');
    });
  });

  it('refreshes facts and deadline on a heartbeat without changing state or slot', () => {
    const cur = node(1, { seq: 10, state: 'active', slot: 7, rev: 4 });
    const r = applyNodeMessage(cur, hb(11), 9000, rules, undefined);
    expect(r.outcome).toBe('updated');
    expect(r.next).toMatchObject({ state: 'active', slot: 7, sessions: 3, expiresAt: 15000, rev: 5, lastSeenAt: 9000 });
  });

  it('keeps the last arrivals (bounded) and the load facts of the latest message only', () => {
    let cur = applyNodeMessage(undefined, joined(1), 1000, rules, 1).next!;
    expect(cur.heartbeatArrivals).toEqual([1000]);
    expect(cur.load).toBeUndefined();
    const loaded = (seq: number): NodeMessage => ({ kind: 'heartbeat', msg: { ...facts, seq, sentAt: 900 + seq, idleCpuPercent: 12.5, sessionsPerSecondLimit: 100, heartbeatEventAt: 850, heartbeatEventIntervalMs: 5000 } });
    for (let seq = 2; seq <= 12; seq++) cur = applyNodeMessage(cur, seq % 2 === 0 ? loaded(seq) : hb(seq), 1000 * seq, rules, undefined).next!;
    expect(cur.heartbeatArrivals).toEqual([5000, 6000, 7000, 8000, 9000, 10_000, 11_000, 12_000]);
    expect(cur.load).toEqual({ idleCpuPercent: 12.5, sessionsPerSecondLimit: 100, heartbeatEventAt: 850, heartbeatEventIntervalMs: 5000, sentAt: 912 });
    // A message without load facts (an older agent) drops the old ones rather than keep them as if current.
    cur = applyNodeMessage(cur, hb(13), 13_000, rules, undefined).next!;
    expect(cur.load).toBeUndefined();
    // A revived node starts its arrivals again: the gap while it was gone is no jitter.
    const revived = applyNodeMessage({ ...cur, state: 'gone', goneReason: 'expired' }, hb(14), 60_000, rules, undefined).next!;
    expect(revived.heartbeatArrivals).toEqual([60_000]);
  });

  it('marks a node gone with the reason it gave on leave', () => {
    const r = applyNodeMessage(node(1, { seq: 10 }), left(11), 9000, rules, undefined);
    expect(r.outcome).toBe('left');
    expect(r.next).toMatchObject({ state: 'gone', goneReason: 'agent-stopping', stateChangedAt: 9000 });
  });

  it('does not let a late heartbeat resurrect a node that left', () => {
    const gone = applyNodeMessage(node(1, { seq: 10 }), left(12), 0, rules, undefined).next!;
    expect(applyNodeMessage(gone, hb(11), 1, rules, undefined).outcome).toBe('stale');
  });

  it('revives a gone node on a newer message (a healed partition) as joining', () => {
    const r = applyNodeMessage(node(1, { seq: 10, state: 'gone', goneReason: 'expired' }), hb(11), 0, rules, undefined);
    expect(r.outcome).toBe('revived');
    expect(r.next?.state).toBe('joining');
    expect(r.next?.goneReason).toBeUndefined();
  });

  it('ignores a leave from a node it never knew', () => {
    expect(applyNodeMessage(undefined, left(1), 0, rules, undefined)).toEqual({ outcome: 'unknown-left', next: undefined });
  });
});

describe('housekeeping', () => {
  it('expires live nodes past their deadline, not gone ones', () => {
    const hk = housekeeping([node(1, { expiresAt: 100 }), node(2, { expiresAt: 200 }), node(3, { expiresAt: 50, state: 'gone' })], 150);
    expect(hk.expired.map((n) => n.slot)).toEqual([1]);
    expect(hk.superseded).toEqual([]);
  });

  it('at one address, the node still heard on time keeps it; a newcomer there is superseded', () => {
    const old = node(1, { joinedAt: 10, lastSeenAt: 1000 });
    const intruder = node(2, { sipUri: old.sipUri, joinedAt: 20, lastSeenAt: 1000 });
    expect(housekeeping([intruder, old], 2000).superseded.map((n) => n.nodeId)).toEqual([intruder.nodeId]);
  });

  it('at one address, an old node that missed a heartbeat is superseded by the newer one', () => {
    const old = node(1, { joinedAt: 10, lastSeenAt: 1000 });
    const restarted = node(2, { sipUri: old.sipUri, joinedAt: 3500, lastSeenAt: 4000 });
    // 1000 + 1.5 x 2000 = 4000: at 4001 the old node no longer holds the address.
    expect(housekeeping([old, restarted], 4000).superseded.map((n) => n.nodeId)).toEqual([restarted.nodeId]);
    expect(housekeeping([old, restarted], 4001).superseded.map((n) => n.nodeId)).toEqual([old.nodeId]);
  });

  it('at one address where nobody is heard on time, the newest keeps it', () => {
    const a = node(1, { joinedAt: 10, lastSeenAt: 1000 });
    const b = node(2, { sipUri: a.sipUri, joinedAt: 20, lastSeenAt: 1000 });
    expect(housekeeping([a, b], 5000).superseded.map((n) => n.nodeId)).toEqual([a.nodeId]);
  });
});

describe('claimAddress', () => {
  const holder = node(1, { lastSeenAt: 1000 });
  it('refuses an address a live node holds, allows it once that node missed a heartbeat, ignores gone nodes', () => {
    expect(claimAddress('x', holder.sipUri, [holder], 2000)).toEqual({ verdict: 'held', holder });
    expect(claimAddress('x', holder.sipUri, [holder], 4001)).toEqual({ verdict: 'vacated', previous: [holder] });
    expect(claimAddress('x', holder.sipUri, [{ ...holder, state: 'gone' }], 2000)).toEqual({ verdict: 'free' });
    expect(claimAddress(holder.nodeId, holder.sipUri, [holder], 2000)).toEqual({ verdict: 'free' });
    expect(claimAddress('x', 'sip:10.9.9.9:5080', [holder], 2000)).toEqual({ verdict: 'free' });
  });

  it('gives the earliest deadline among live nodes', () => {
    expect(nextDeadline([node(1, { expiresAt: 300 }), node(2, { expiresAt: 100, state: 'gone' }), node(3, { expiresAt: 200 })])).toBe(200);
    expect(nextDeadline([])).toBeUndefined();
  });
});
