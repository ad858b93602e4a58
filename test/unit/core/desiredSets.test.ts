import { describe, expect, it } from 'vitest';
import { criticalLeaveSelection, desiredSets, flattenSets, weightFor, type DispatcherPolicy } from '../../../src/core/dispatcher.js';
import type { NodeHealth } from '../../../src/core/node.js';
import { MAX_MACHINE_ID_LENGTH } from '../../../src/events/schemas.js';
import { node, policy } from './fixtures.js';

describe('desiredSets', () => {
  it('lists every routable node in every configured set, highest slot first', () => {
    const sets = desiredSets([node(1), node(3), node(2)], policy);
    expect(sets.map((s) => [s.setId, s.purpose, s.algorithm])).toEqual([
      [1, 'general', 4],
      [2, 'rooms', 2],
      [3, 'cascade', 7],
    ]);
    for (const s of sets) {
      expect(s.destinations.map((d) => d.destination)).toEqual(['sip:10.0.0.3:5080', 'sip:10.0.0.2:5080', 'sip:10.0.0.1:5080']);
      expect(s.destinations.every((d) => d.setid === s.setId)).toBe(true);
    }
  });

  it('gives every destination a unique priority equal to its stable slot', () => {
    const rows = desiredSets([node(7), node(2), node(40)], policy)[0]!.destinations;
    expect(rows.map((r) => r.priority)).toEqual([40, 7, 2]);
    expect(new Set(rows.map((r) => r.priority)).size).toBe(rows.length);
  });

  it('keeps priorities of existing nodes when a node joins or leaves', () => {
    const before = desiredSets([node(1), node(2)], policy)[1]!.destinations;
    const after = desiredSets([node(1), node(2), node(5)], policy)[1]!.destinations;
    const prio = (rows: typeof before, uri: string) => rows.find((r) => r.destination === uri)?.priority;
    expect(prio(after, 'sip:10.0.0.1:5080')).toBe(prio(before, 'sip:10.0.0.1:5080'));
    expect(prio(after, 'sip:10.0.0.2:5080')).toBe(prio(before, 'sip:10.0.0.2:5080'));
  });

  it('leaves gone nodes out and lists draining ones disabled (flag 4)', () => {
    const rows = desiredSets(
      [node(1), node(2, { state: 'gone' }), node(3, { state: 'draining' }), node(4, { state: 'joining' })],
      policy,
    )[0]!.destinations;
    expect(rows.map((r) => [r.destination, r.flags])).toEqual([
      ['sip:10.0.0.4:5080', 0],
      ['sip:10.0.0.3:5080', 4],
      ['sip:10.0.0.1:5080', 0],
    ]);
  });

  it('lists a node whose probe found a blocker disabled, in every set, without changing the set size', () => {
    const sets = desiredSets([node(1), node(2, { blockers: ['sip-profile-down'] }), node(3, { blockers: ['inbound-paused'], state: 'joining' })], policy);
    for (const set of sets) {
      expect(set.destinations.map((d) => [d.priority, d.flags])).toEqual([[3, 4], [2, 4], [1, 0]]);
    }
    expect(desiredSets([node(1, { blockers: [] })], policy)[0]?.destinations[0]?.flags).toBe(0);
  });

  it('turns capacity into a weight relative to the largest node, with node id as duid and the machine as mid', () => {
    const rows = desiredSets([node(1, { capacity: 640 }), node(2, { capacity: 320 })], policy)[0]!.destinations;
    expect(rows.map((r) => r.attrs)).toEqual([
      'duid=00000000-0000-4000-8000-000000000002;maxload=320;rweight=50;mid=10.0.0.2:5080',
      'duid=00000000-0000-4000-8000-000000000001;maxload=640;rweight=100;mid=10.0.0.1:5080',
    ]);
    expect(weightFor(1, 1_000_000)).toBe(1);
  });

  it('keeps only the newest of two live nodes at one address (a restarted FreeSWITCH)', () => {
    const old = node(1, { joinedAt: 1000 });
    const restarted = node(9, { sipUri: old.sipUri, joinedAt: 5000 });
    const rows = desiredSets([old, restarted], policy)[0]!.destinations;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.description).toBe(`sbc:${restarted.nodeId}`);
  });

  it('produces an empty set for every purpose when no node is routable', () => {
    const sets = desiredSets([node(1, { state: 'gone' })], policy);
    expect(sets.map((s) => s.destinations.length)).toEqual([0, 0, 0]);
    expect(flattenSets(sets)).toEqual([]);
  });

  it('keeps attrs within the 128-character column for the longest inputs', () => {
    const rows = desiredSets([node(1, { capacity: 1_000_000, machineId: 'm'.repeat(MAX_MACHINE_ID_LENGTH) })], policy)[0]!.destinations;
    expect(rows[0]!.attrs).toContain(`;mid=${'m'.repeat(MAX_MACHINE_ID_LENGTH)}`);
    expect(rows[0]!.attrs.length).toBeLessThanOrEqual(128);
    expect(rows[0]!.description.length).toBeLessThanOrEqual(64);
  });

  describe('health', () => {
    const h = (entries: [number, NodeHealth, number][]) => new Map(entries.map(([n, state, score]) => [node(n).nodeId, { state, score }]));
    const weightedPolicy: DispatcherPolicy = { sets: policy.sets.map((s) => (s.purpose === 'general' ? { ...s, algorithm: 11 } : s)) };
    const general = (nodes = [node(1), node(2), node(3)], health = h([]), machines = [], p = weightedPolicy) =>
      desiredSets(nodes, p, machines, health)[0]!.destinations.map((d) => [d.priority, d.flags, /rweight=(\d+)/.exec(d.attrs)![1]]);

    it('a degraded node shares by its score in steps of 10; a critical one is disabled; healthy ones keep their weight', () => {
      expect(general(undefined, h([[1, 'healthy', 100], [2, 'degraded', 41], [3, 'critical', 5]]))).toEqual([
        [3, 4, '100'],
        [2, 0, '50'],
        [1, 0, '100'],
      ]);
      // A score wandering within one step of 10 leaves the row as it was (no reload for it).
      expect(general(undefined, h([[2, 'degraded', 43]]))).toEqual(general(undefined, h([[2, 'degraded', 49]])));
    });

    it('leaves weights alone when the general set does not balance by weight; critical still disables', () => {
      expect(general(undefined, h([[2, 'degraded', 41], [3, 'critical', 5]]), [], policy)).toEqual([
        [3, 4, '100'],
        [2, 0, '100'],
        [1, 0, '100'],
      ]);
      const all = h([[1, 'critical', 0], [2, 'critical', 10], [3, 'critical', 20]]);
      expect(general(undefined, all, [], policy)).toEqual([[3, 0, '100'], [2, 0, '100'], [1, 0, '100']]);
    });

    it('keeps critical nodes in selection while every node that could take a call is critical', () => {
      const all = h([[1, 'critical', 0], [2, 'critical', 10], [3, 'critical', 20]]);
      expect(criticalLeaveSelection([node(1), node(2), node(3)], [], all)).toBe(false);
      expect(general(undefined, all)).toEqual([[3, 0, '1'], [2, 0, '1'], [1, 0, '1']]);
      // A draining node does not count as one that could take the calls.
      const withDraining = [node(1), node(2), node(3, { state: 'draining' })];
      expect(general(withDraining, h([[1, 'critical', 0], [2, 'critical', 0]]))).toEqual([[3, 4, '100'], [2, 0, '1'], [1, 0, '1']]);
      // One node left that is not critical: the critical ones go.
      expect(general(undefined, h([[1, 'critical', 0], [2, 'critical', 0]]))).toEqual([[3, 0, '100'], [2, 4, '100'], [1, 4, '100']]);
    });
  });
});
