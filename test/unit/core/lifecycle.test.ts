import { describe, expect, it } from 'vitest';
import { applyNodeMessage, housekeeping, nextDeadline } from '../../../src/core/lifecycle.js';
import type { NodeMessage } from '../../../src/events/schemas.js';
import { node } from './fixtures.js';

const id = '00000000-0000-4000-8000-000000000001';
const facts = { v: 1 as const, nodeId: id, sentAt: 0, sipUri: 'sip:10.0.0.1:5080', hostname: 'fs1', capacity: 500, sessions: 3, agentVersion: '0.1.0', heartbeatIntervalMs: 2000 };
const hb = (seq: number): NodeMessage => ({ kind: 'heartbeat', msg: { ...facts, seq } });
const joined = (seq: number): NodeMessage => ({ kind: 'joined', msg: { ...facts, seq, reason: 'start' } });
const left = (seq: number): NodeMessage => ({ kind: 'left', msg: { v: 1, nodeId: id, seq, sentAt: 0, reason: 'agent-stopping' } });
const rules = { heartbeatMisses: 3 };

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
    expect(applyNodeMessage(cur, hb(10), 0, rules, undefined)).toEqual({ outcome: 'stale', next: undefined });
    expect(applyNodeMessage(cur, hb(9), 0, rules, undefined).outcome).toBe('stale');
  });

  it('refreshes facts and deadline on a heartbeat without changing state or slot', () => {
    const cur = node(1, { seq: 10, state: 'active', slot: 7, rev: 4 });
    const r = applyNodeMessage(cur, hb(11), 9000, rules, undefined);
    expect(r.outcome).toBe('updated');
    expect(r.next).toMatchObject({ state: 'active', slot: 7, sessions: 3, expiresAt: 15000, rev: 5, lastSeenAt: 9000 });
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

  it('supersedes the older of two live nodes at one address', () => {
    const old = node(1, { joinedAt: 10 });
    const fresh = node(2, { sipUri: old.sipUri, joinedAt: 20 });
    expect(housekeeping([fresh, old], 0).superseded.map((n) => n.nodeId)).toEqual([old.nodeId]);
  });

  it('gives the earliest deadline among live nodes', () => {
    expect(nextDeadline([node(1, { expiresAt: 300 }), node(2, { expiresAt: 100, state: 'gone' }), node(3, { expiresAt: 200 })])).toBe(200);
    expect(nextDeadline([])).toBeUndefined();
  });
});
