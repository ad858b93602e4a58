import { describe, expect, it } from 'vitest';
import type { MachineIntent } from '../../../src/core/machine.js';
import type { NodeRecord } from '../../../src/core/node.js';
import { planScale, poolOf, removalOrder } from '../../../src/core/scale.js';
import { node } from './fixtures.js';

const target = (replicas: number) => ({ replicas, requestedAt: 0, by: 'api:test' });
const machine = (n: number, over: Partial<MachineIntent> = {}): MachineIntent => ({ machineId: `10.0.0.${n}:5080`, slot: n, nodeId: node(n).nodeId, rev: 1, ...over });
const scaleDrain = { deadline: 1e12, onDeadline: 'keep' as const, by: 'scale' as const };
const ids = (ns: readonly { machineId: string }[]) => ns.map((n) => n.machineId);

describe('poolOf', () => {
  it('one entry per machine: its newest live node; gone nodes are not in the pool', () => {
    const restarted = node(9, { machineId: '10.0.0.1:5080', joinedAt: 5000 });
    const pool = poolOf([node(1), restarted, node(2, { state: 'gone' })], [machine(1)]);
    expect(pool.map((p) => [p.node.nodeId, p.machine?.machineId])).toEqual([[restarted.nodeId, '10.0.0.1:5080']]);
  });
});

describe('removalOrder', () => {
  it('fewest calls plus pinned rooms first, then the youngest, then by machine id', () => {
    const nodes = [node(1, { sessions: 5 }), node(2, { sessions: 1 }), node(3, { sessions: 0 }), node(4, { sessions: 1, joinedAt: 9999 })];
    const pinned = (n: NodeRecord) => (n.nodeId === node(3).nodeId ? 4 : 0);
    expect(removalOrder(poolOf(nodes, []), pinned).map((p) => p.node.machineId)).toEqual(['10.0.0.4:5080', '10.0.0.2:5080', '10.0.0.3:5080', '10.0.0.1:5080']);
  });
});

describe('planScale', () => {
  it('no target: nothing to do', () => {
    expect(planScale(undefined, poolOf([node(1)], []), { kind: 'any' }, () => 0)).toMatchObject({ drain: [], request: undefined, settled: true });
  });

  it('down 3 -> 2: drains the one with the fewest calls; asks nothing of the provisioner until it is drained', () => {
    const pool = poolOf([node(1, { sessions: 3 }), node(2, { sessions: 0 }), node(3, { sessions: 7 })], []);
    const plan = planScale(target(2), pool, { kind: 'any' }, () => 0);
    expect(ids(plan.drain)).toEqual(['10.0.0.2:5080']);
    expect(plan.request).toBeUndefined();
    expect(plan.settled).toBe(false);
  });

  it('a StatefulSet removes fixed machines: those are the ones drained, whatever their calls', () => {
    const pool = poolOf([node(1, { sessions: 0 }), node(2, { sessions: 9 }), node(3, { sessions: 9 })], []);
    const plan = planScale(target(1), pool, { kind: 'exactly', machineIds: ['10.0.0.3:5080', '10.0.0.2:5080'] }, () => 0);
    expect(ids(plan.drain).sort()).toEqual(['10.0.0.2:5080', '10.0.0.3:5080']);
  });

  it('a drained scale victim is handed to the provisioner, the pool kept at the target plus what still drains', () => {
    const nodes = [node(1), node(2, { state: 'drained', sessions: 0 }), node(3, { state: 'draining', sessions: 2 })];
    const plan = planScale(target(1), poolOf(nodes, [machine(2, { drain: scaleDrain }), machine(3, { drain: scaleDrain })]), { kind: 'any' }, () => 0);
    expect(plan.drain).toEqual([]);
    expect(plan.request).toEqual({ replicas: 2, remove: [{ machineId: '10.0.0.2:5080', nodeId: node(2).nodeId, hostname: 'fs2', sipUri: 'sip:10.0.0.2:5080' }] });
    expect(ids(plan.stillDraining)).toEqual(['10.0.0.3:5080']);
  });

  it('an operator\'s drain is not a scale victim: never handed to the provisioner, never lifted by a scale-up', () => {
    const nodes = [node(1), node(2, { state: 'drained', sessions: 0 })];
    const plan = planScale(target(3), poolOf(nodes, [machine(2, { drain: { deadline: 1e12, by: 'operator' } })]), { kind: 'any' }, () => 0);
    expect(plan.undrain).toEqual([]);
    expect(plan.request).toEqual({ replicas: 3, remove: [] });
  });

  it('up while scale drains are pending: lifts them first (the least drained first), asks for the rest', () => {
    const nodes = [node(1), node(2, { state: 'drained', sessions: 0 }), node(3, { state: 'draining', sessions: 4 }), node(4, { state: 'draining', sessions: 1 })];
    const machines = [machine(2, { drain: scaleDrain }), machine(3, { drain: scaleDrain }), machine(4, { drain: scaleDrain })];
    const two = planScale(target(3), poolOf(nodes, machines), { kind: 'any' }, () => 0);
    expect(ids(two.undrain)).toEqual(['10.0.0.3:5080', '10.0.0.4:5080']);
    // The drained one is still removable, the request keeps the pool at 3.
    expect(two.request).toEqual({ replicas: 3, remove: [expect.objectContaining({ machineId: '10.0.0.2:5080' })] });
    const six = planScale(target(6), poolOf(nodes, machines), { kind: 'any' }, () => 0);
    expect(ids(six.undrain).sort()).toEqual(['10.0.0.2:5080', '10.0.0.3:5080', '10.0.0.4:5080']);
    expect(six.request).toEqual({ replicas: 6, remove: [] });
  });

  it('up 2 -> 4 with nothing draining: asks the provisioner for a pool of 4', () => {
    expect(planScale(target(4), poolOf([node(1), node(2)], []), { kind: 'any' }, () => 0)).toMatchObject({ drain: [], undrain: [], request: { replicas: 4, remove: [] }, settled: false });
  });

  it('at the target with no scale drain: settled, nothing asked', () => {
    expect(planScale(target(2), poolOf([node(1), node(2)], []), { kind: 'any' }, () => 0)).toMatchObject({ request: undefined, settled: true, serving: 2 });
  });
});
