import { describe, expect, it } from 'vitest';
import { desiredSets } from '../../../src/core/dispatcher.js';
import {
  chooseSlot,
  machineIdFromSipUri,
  machineIdOf,
  machineInTable,
  type MachineIntent,
} from '../../../src/core/machine.js';
import { MACHINE_ID_PATTERN, MAX_MACHINE_ID_LENGTH } from '../../../src/events/schemas.js';
import { hashedDestination } from '../../support/kamailioHash.js';
import { node, policy } from './fixtures.js';

const machine = (n: number, over: Partial<MachineIntent> = {}): MachineIntent => ({
  machineId: `10.0.0.${n}:5080`,
  slot: n,
  nodeId: node(n).nodeId,
  rev: 1,
  ...over,
});
const pattern = new RegExp(MACHINE_ID_PATTERN);

describe('machineIdFromSipUri: the machine of a node whose agent names none', () => {
  it('is host:port, without scheme or transport, with the default port made explicit', () => {
    expect(machineIdFromSipUri('sip:10.0.0.5:5080')).toBe('10.0.0.5:5080');
    expect(machineIdFromSipUri('sip:10.0.0.5:5080;transport=tcp')).toBe('10.0.0.5:5080');
    expect(machineIdFromSipUri('sips:FS-1.Example.com')).toBe('fs-1.example.com:5061');
    expect(machineIdFromSipUri('sip:[2001:DB8::1]')).toBe('[2001:db8::1]:5060');
  });

  it('fits the schema pattern for every address, the longest IPv6 one and over-long hostnames included', () => {
    const longest = `sip:${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}:65535`;
    const ids = [
      machineIdFromSipUri('sip:[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535'),
      machineIdFromSipUri(longest),
      machineIdFromSipUri('sip:10.0.0.5'),
    ];
    for (const id of ids) {
      expect(id.length).toBeLessThanOrEqual(MAX_MACHINE_ID_LENGTH);
      expect(id).toMatch(pattern);
    }
    // A long hostname keeps its start, and two that share it stay apart.
    expect(ids[1]!.startsWith('a'.repeat(31))).toBe(true);
    expect(machineIdFromSipUri(longest.replace(':65535', ':65534'))).not.toBe(ids[1]);
  });

  it('is what machineIdOf gives without a machine id, and the agent-given one wins', () => {
    expect(machineIdOf({ sipUri: 'sip:10.0.0.5:5080' })).toBe('10.0.0.5:5080');
    expect(machineIdOf({ sipUri: 'sip:10.0.0.5:5080', machineId: 'rack4-fs2' })).toBe('rack4-fs2');
  });
});

describe('chooseSlot: a node entering routing takes its slot on its machine', () => {
  const none = new Set<string>();

  it("a restarted node (new Core-UUID) takes its machine's slot once the old node is gone", () => {
    const old = node(2, { state: 'gone' });
    expect(chooseSlot(node(9).nodeId, machine(2), old, none)).toEqual({ kind: 'machine', slot: 2 });
  });

  it('a node superseding the holder at its address takes the slot while the holder is still live', () => {
    expect(chooseSlot(node(9).nodeId, machine(2), node(2), new Set([node(2).nodeId]))).toEqual({ kind: 'machine', slot: 2 });
  });

  it("two live nodes never share a slot: a second live node on one machine gets a fresh one", () => {
    expect(chooseSlot(node(9).nodeId, machine(2), node(2), none)).toEqual({ kind: 'fresh' });
  });

  it('the holder itself (revived) keeps it; an unknown machine needs a slot from elsewhere', () => {
    expect(chooseSlot(node(2).nodeId, machine(2), undefined, none)).toEqual({ kind: 'machine', slot: 2 });
    expect(chooseSlot(node(2).nodeId, undefined, undefined, none)).toEqual({ kind: 'new-machine' });
    // A holder the registry forgot holds nothing.
    expect(chooseSlot(node(9).nodeId, machine(2), undefined, none)).toEqual({ kind: 'machine', slot: 2 });
  });
});

describe('a restart on the same machine, in the pure core', () => {
  const rooms = Array.from({ length: 30 }, (_, i) => String(3000 + i));
  const roomsSet = (nodes: Parameters<typeof desiredSets>[0]) => desiredSets(nodes, policy).find((s) => s.purpose === 'rooms')!.destinations;
  const before = [node(1), node(2), node(3)];
  const choice = chooseSlot(node(9).nodeId, machine(2), node(2, { state: 'gone' }), new Set());
  if (choice.kind !== 'machine') throw new Error('the restart must take its machine\'s slot');
  const restarted = node(9, { machineId: node(2).machineId, sipUri: node(2).sipUri, slot: choice.slot, state: 'joining' });
  const after = [node(1), node(2, { state: 'gone' }), restarted, node(3)];

  it('keeps its slot: no other node\'s priority changes and the hash order of the others is unchanged', () => {
    const order = (rows: ReturnType<typeof roomsSet>) => rows.map((r) => `${r.destination} ${r.priority}`);
    expect(order(roomsSet(after))).toEqual(order(roomsSet(before)));
    expect(roomsSet(after).map((r) => r.description)).toEqual([`sbc:${node(3).nodeId}`, `sbc:${restarted.nodeId}`, `sbc:${node(1).nodeId}`]);
  });

  it('remaps none of 30 hashed rooms, where a fresh highest slot remaps rooms of the untouched nodes too', () => {
    const placement = (rows: ReturnType<typeof roomsSet>) => rooms.map((r) => hashedDestination(rows, r));
    const was = placement(roomsSet(before));
    expect(placement(roomsSet(after))).toEqual(was);
    const withFreshSlot = placement(roomsSet([node(1), { ...restarted, slot: 4 }, node(3)]));
    const untouchedMoved = rooms.filter((_, i) => was[i] !== node(2).sipUri && withFreshSlot[i] !== was[i]);
    // 21 of the 30 rooms move, 11 of the 20 on the two untouched nodes among them.
    expect(rooms.filter((_, i) => withFreshSlot[i] !== was[i])).toHaveLength(21);
    expect(untouchedMoved).toHaveLength(11);
  });
});

describe('machineInTable: a machine the registry lost, recovered from the dispatcher rows', () => {
  const rows = desiredSets([node(1, { slot: 7 }), node(2, { slot: 40, machineId: 'rack4-fs2' })], policy).flatMap((s) => s.destinations);

  it('finds the slot and the node by the mid attribute the rows carry', () => {
    expect(machineInTable(rows, 'rack4-fs2')).toEqual({ slot: 40, nodeId: node(2).nodeId });
    expect(machineInTable(rows, '10.0.0.1:5080')).toEqual({ slot: 7, nodeId: node(1).nodeId });
    expect(machineInTable(rows, '10.0.0.2:5080')).toBeUndefined();
  });

  it('reads rows written before machines (no mid) by their address, and skips rows without a duid', () => {
    const v1 = [
      { destination: 'sip:10.0.0.3:5080', priority: 12, attrs: `duid=${node(3).nodeId};maxload=10;weight=100` },
      { destination: 'sip:10.0.0.4:5080', priority: 13, attrs: 'weight=1' },
    ];
    expect(machineInTable(v1, '10.0.0.3:5080')).toEqual({ slot: 12, nodeId: node(3).nodeId });
    expect(machineInTable(v1, '10.0.0.4:5080')).toBeUndefined();
  });
});

describe('desiredSets with machine intent', () => {
  const rowsOf = (nodes = [node(1), node(2), node(3)], machines: MachineIntent[] = []) =>
    desiredSets(nodes, policy, machines).map((s) => s.destinations.map((d) => `${d.destination} ${d.priority} ${d.flags} ${/weight=(\d+)/.exec(d.attrs)?.[1]}`));

  it('a cordoned or draining machine keeps its node listed, disabled, in every set, so hashed sets keep their size', () => {
    const sets = rowsOf(undefined, [machine(2, { cordoned: true }), machine(3, { drain: { deadline: 5000 } })]);
    for (const set of sets) {
      expect(set).toEqual(['sip:10.0.0.3:5080 3 4 100', 'sip:10.0.0.2:5080 2 4 100', 'sip:10.0.0.1:5080 1 0 100']);
    }
  });

  it('the same as a draining node: the machine intent feeds the one disabled path', () => {
    const byIntent = desiredSets([node(1), node(2)], policy, [machine(2, { drain: { deadline: 5000 } })]);
    const byState = desiredSets([node(1), node(2, { state: 'draining' })], policy);
    expect(byIntent).toEqual(byState);
  });

  it("a weight override replaces the capacity weight, clamped to Kamailio's 1..100", () => {
    const nodes = [node(1, { capacity: 640 }), node(2, { capacity: 320 })];
    expect(rowsOf(nodes, [machine(1, { weightOverride: 10 })])[0]).toEqual(['sip:10.0.0.2:5080 2 0 50', 'sip:10.0.0.1:5080 1 0 10']);
    expect(rowsOf(nodes, [machine(2, { weightOverride: 500 })])[0]).toEqual(['sip:10.0.0.2:5080 2 0 100', 'sip:10.0.0.1:5080 1 0 100']);
  });

  it("a restarted node inherits its machine's intent: a new Core-UUID on a cordoned machine is cordoned", () => {
    const restarted = node(9, { machineId: node(2).machineId, sipUri: node(2).sipUri, slot: 2, state: 'joining' });
    const intent = [machine(2, { cordoned: true, weightOverride: 25, nodeId: restarted.nodeId })];
    expect(rowsOf([node(1), restarted, node(3)], intent)[1]).toEqual([
      'sip:10.0.0.3:5080 3 0 100',
      'sip:10.0.0.2:5080 2 4 25',
      'sip:10.0.0.1:5080 1 0 100',
    ]);
  });

  it('intent for a machine with no node, or no intent at all, changes nothing', () => {
    expect(rowsOf(undefined, [machine(8, { cordoned: true })])).toEqual(rowsOf());
    expect(rowsOf(undefined, [machine(1), machine(2), machine(3)])).toEqual(rowsOf());
  });
});
