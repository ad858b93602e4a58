import { beforeEach, describe, expect, it } from 'vitest';
import { desiredSets, type DispatcherRow } from '../../../src/core/dispatcher.js';
import { markGone } from '../../../src/core/lifecycle.js';
import type { MachineIntent } from '../../../src/core/machine.js';
import type { NodeRecord } from '../../../src/core/node.js';
import type { NodeLeftReason, NodeMessage } from '../../../src/events/schemas.js';
import { ingestNodeMessage, slotsRecoveredFrom, transitionNode, type SlotSource } from '../../../src/registry/membership.js';
import { InMemoryNodeRegistry } from '../../fakes/inMemoryNodeRegistry.js';
import { hashedDestination } from '../../support/kamailioHash.js';
import { policy } from '../core/fixtures.js';
import { FakeStore } from '../../fakes/fakeDispatcherStore.js';

const membership = { heartbeatMisses: 3, goneRetentionMs: 60_000, maxClockSkewMs: 60_000 };
const uuid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const joined = (n: number, seq: number, over: { sipUri?: string; machineId?: string } = {}): NodeMessage => ({
  kind: 'joined',
  msg: {
    v: 1, nodeId: uuid(n), seq, sentAt: 0, sipUri: over.sipUri ?? `sip:10.0.0.${n}:5080`, hostname: `fs${n}`, capacity: 100,
    sessions: 0, agentVersion: '1', heartbeatIntervalMs: 2000, reason: 'start',
    ...(over.machineId === undefined ? {} : { machineId: over.machineId }),
  },
});
const left = (n: number, seq: number, reason: NodeLeftReason = 'core-uuid-changed'): NodeMessage => ({
  kind: 'left',
  msg: { v: 1, nodeId: uuid(n), seq, sentAt: 0, reason },
});
/** The rooms set (alg 2, hash over the To URI) as Kamailio would list it. */
const roomsSet = (nodes: readonly NodeRecord[], machines: readonly MachineIntent[] = []): DispatcherRow[] =>
  desiredSets(nodes, policy, machines).find((s) => s.purpose === 'rooms')!.destinations as DispatcherRow[];
const rooms = Array.from({ length: 30 }, (_, i) => String(3000 + i));
const placement = (rows: readonly DispatcherRow[]) => new Map(rooms.map((r) => [r, hashedDestination(rows, r)]));
const live = (nodes: readonly NodeRecord[]) => nodes.filter((n) => n.state !== 'gone');

describe('machines: intent and slot per machine, observations per node', () => {
  let registry: InMemoryNodeRegistry;
  let t: number;
  const now = () => t;
  const ingest = (m: NodeMessage, slots?: SlotSource) => ingestNodeMessage(registry, m, now, membership, slots);

  beforeEach(async () => {
    registry = new InMemoryNodeRegistry();
    t = 100_000;
    for (const n of [1, 2, 3]) await ingest(joined(n, 1));
  });

  it('a restart on the same machine keeps its slot: no other node\'s priority changes and the hash order of the others is unchanged', async () => {
    const before = roomsSet(await registry.list());
    t += 500;
    await ingest(left(2, 2));
    const restarted = await ingest(joined(9, 3, { sipUri: 'sip:10.0.0.2:5080' }));
    expect(restarted).toMatchObject({ outcome: 'created', record: { nodeId: uuid(9), machineId: '10.0.0.2:5080', slot: 2 } });
    const after = roomsSet(await registry.list());
    expect(after.map((r) => [r.destination, r.priority])).toEqual(before.map((r) => [r.destination, r.priority]));
    expect(after.map((r) => r.description)).toEqual(['sbc:' + uuid(3), 'sbc:' + uuid(9), 'sbc:' + uuid(1)]);
    expect(await registry.getMachine('10.0.0.2:5080')).toEqual({ machineId: '10.0.0.2:5080', slot: 2, nodeId: uuid(9), rev: 2 });
  });

  it('restarting one of three nodes on its machine remaps none of 30 hashed rooms (a new, highest slot remapped those of the others too)', async () => {
    const before = placement(roomsSet(await registry.list()));
    expect(new Set(before.values()).size).toBe(3);
    t += 500;
    await ingest(left(2, 2));
    await ingest(joined(9, 3, { sipUri: 'sip:10.0.0.2:5080' }));
    const nodes = await registry.list();
    const after = placement(roomsSet(nodes));
    expect(rooms.filter((r) => after.get(r) !== before.get(r))).toEqual([]);

    // What a fresh slot above every other (the behaviour before machines) does to the same rooms.
    const fresh = nodes.map((n) => (n.nodeId === uuid(9) ? { ...n, slot: 4 } : n));
    const moved = placement(roomsSet(fresh));
    const othersMoved = rooms.filter((r) => before.get(r) !== 'sip:10.0.0.2:5080' && moved.get(r) !== before.get(r));
    expect(othersMoved).toHaveLength(11); // of the 20 rooms on the two untouched nodes
  });

  it('a restart its agent could not announce (no left) supersedes the old node and takes its slot', async () => {
    t += 3100; // the old node has missed a heartbeat: it no longer holds its address
    const claim = await ingest(joined(9, 1, { sipUri: 'sip:10.0.0.2:5080' }));
    expect(claim.superseded.map((n) => n.nodeId)).toEqual([uuid(2)]);
    expect(claim.record).toMatchObject({ slot: 2 });
    const nodes = live(await registry.list());
    expect(nodes.map((n) => [n.nodeId, n.slot]).sort()).toEqual([[uuid(1), 1], [uuid(3), 3], [uuid(9), 2]]);
  });

  it('two machines never share a slot, through joins, restarts and new machines', async () => {
    t += 500;
    await ingest(left(1, 2));
    await ingest(joined(11, 3, { sipUri: 'sip:10.0.0.1:5080' }));
    await ingest(joined(4, 1));
    await ingest(left(3, 2, 'freeswitch-shutdown'));
    await ingest(joined(13, 3, { sipUri: 'sip:10.0.0.3:5080' }));
    await ingest(joined(5, 1, { machineId: 'rack2-fs5' }));
    const machines = await registry.listMachines();
    expect(machines.map((m) => [m.machineId, m.slot]).sort()).toEqual([
      ['10.0.0.1:5080', 1], ['10.0.0.2:5080', 2], ['10.0.0.3:5080', 3], ['10.0.0.4:5080', 4], ['rack2-fs5', 5],
    ]);
    const slots = live(await registry.list()).map((n) => n.slot);
    expect(new Set(slots).size).toBe(slots.length);
  });

  it('two live nodes naming one machine (a copied SBC_MACHINE_ID) get different slots; the machine stays with the first', async () => {
    await ingest(joined(5, 1, { machineId: 'box' }));
    const second = await ingest(joined(6, 1, { machineId: 'box' }));
    expect(second.record).toMatchObject({ machineId: 'box', slot: 5 });
    const nodes = live(await registry.list());
    expect(new Set(nodes.map((n) => n.slot)).size).toBe(nodes.length);
    expect(await registry.getMachine('box')).toMatchObject({ slot: 4, nodeId: uuid(5) });
  });

  it('two new nodes racing for one machine: one takes its slot, the other a fresh one', async () => {
    await ingest(left(2, 2));
    const [a, b] = await Promise.all([
      ingest(joined(8, 1, { machineId: '10.0.0.2:5080', sipUri: 'sip:10.0.0.8:5080' })),
      ingest(joined(9, 1, { machineId: '10.0.0.2:5080', sipUri: 'sip:10.0.0.9:5080' })),
    ]);
    expect([a.record!.slot, b.record!.slot].sort()).toEqual([2, 4]);
    const holder = (await registry.getMachine('10.0.0.2:5080'))!.nodeId;
    expect((await registry.get(holder))!.slot).toBe(2);
  });

  it('a node revived after its machine passed its slot on gets a fresh slot, never a shared one', async () => {
    await ingest(joined(5, 1, { machineId: 'box', sipUri: 'sip:10.0.1.5:5080' }));
    await transitionNode(registry, uuid(5), (cur, at) => markGone(cur, 'expired', at), now, membership);
    // Its machine came back at another address with a new FreeSWITCH: that one takes the slot.
    const successor = await ingest(joined(6, 1, { machineId: 'box', sipUri: 'sip:10.0.1.6:5080' }));
    expect(successor.record).toMatchObject({ slot: 4 });
    // The old one was only cut off (a healed partition): revived, beside its successor.
    t += 100;
    const revived = await ingest(joined(5, 2, { machineId: 'box', sipUri: 'sip:10.0.1.5:5080' }));
    expect(revived.outcome).toBe('revived');
    expect(revived.record!.slot).toBe(5);
    const slots = live(await registry.list()).map((n) => n.slot);
    expect(new Set(slots).size).toBe(slots.length);
  });

  it("a restarted node inherits its machine's intent: cordoned before the restart, cordoned after", async () => {
    const m = (await registry.getMachine('10.0.0.2:5080'))!;
    expect(await registry.putMachine({ ...m, cordoned: true, weightOverride: 20, rev: m.rev + 1 }, m.rev)).toBe(true);
    t += 500;
    await ingest(left(2, 2));
    await ingest(joined(9, 3, { sipUri: 'sip:10.0.0.2:5080' }));
    const rows = roomsSet(await registry.list(), await registry.listMachines());
    expect(rows.map((r) => [r.description, r.priority, r.flags, /weight=(\d+)/.exec(r.attrs)?.[1]])).toEqual([
      [`sbc:${uuid(3)}`, 3, 0, '100'],
      [`sbc:${uuid(9)}`, 2, 4, '20'],
      [`sbc:${uuid(1)}`, 1, 0, '100'],
    ]);
    expect(await registry.getMachine('10.0.0.2:5080')).toMatchObject({ cordoned: true, weightOverride: 20, nodeId: uuid(9) });
  });

  it('a registry from before machines: a restart takes the slot of the last node at its address on that machine', async () => {
    const old = new InMemoryNodeRegistry();
    for (const n of await registry.list()) await old.put(n, undefined, 60_000); // node records only, no machines
    registry = old;
    t += 500;
    await ingest(left(2, 2));
    expect((await ingest(joined(9, 3, { sipUri: 'sip:10.0.0.2:5080' }))).record).toMatchObject({ slot: 2 });
    expect(await registry.getMachine('10.0.0.2:5080')).toMatchObject({ slot: 2, nodeId: uuid(9) });
  });

  it('after a registry loss a restarted node gets its machine\'s slot back from the dispatcher table, by mid', async () => {
    const store = new FakeStore(new Set(policy.sets.map((s) => s.setId)));
    // Slots far from the counter's, so a fresh slot could not pass for a recovered one.
    const routed = (await registry.list()).map((n) => ({ ...n, slot: n.slot * 10 }));
    await store.sync(() => desiredSets(routed, policy).flatMap((s) => s.destinations));
    registry = new InMemoryNodeRegistry(); // Redis came back empty
    const slots = slotsRecoveredFrom(store, registry);
    t += 500;
    const restarted = await ingest(joined(9, 1, { sipUri: 'sip:10.0.0.2:5080' }), slots);
    expect(restarted.record).toMatchObject({ machineId: '10.0.0.2:5080', slot: 20 });
    expect((await ingest(joined(1, 2), slots)).record).toMatchObject({ slot: 10 });
    expect((await ingest(joined(4, 1), slots)).record).toMatchObject({ slot: 31 });
    expect((await registry.listMachines()).map((m) => [m.machineId, m.slot, m.nodeId]).sort()).toEqual([
      ['10.0.0.1:5080', 10, uuid(1)], ['10.0.0.2:5080', 20, uuid(9)], ['10.0.0.4:5080', 31, uuid(4)],
    ]);
  });

  it('a recovered slot whose node is still live stays with it: the newcomer on that machine gets a fresh one', async () => {
    const store = new FakeStore(new Set(policy.sets.map((s) => s.setId)));
    const first = (await registry.get(uuid(1)))!;
    await store.sync(() => desiredSets([{ ...first, machineId: 'box' }], policy).flatMap((s) => s.destinations));
    registry = new InMemoryNodeRegistry();
    const slots = slotsRecoveredFrom(store, registry);
    expect((await ingest(joined(1, 2, { machineId: 'box' }), slots)).record).toMatchObject({ slot: 1 });
    expect((await ingest(joined(7, 1, { machineId: 'box', sipUri: 'sip:10.0.0.7:5080' }), slots)).record).toMatchObject({ slot: 2 });
    expect(await registry.getMachine('box')).toMatchObject({ slot: 1, nodeId: uuid(1) });
  });
});
