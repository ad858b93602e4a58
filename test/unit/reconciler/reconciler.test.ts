import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ingestNodeMessage } from '../../../src/registry/membership.js';
import { InMemoryNodeRegistry } from '../../fakes/inMemoryNodeRegistry.js';
import { Reconciler } from '../../../src/reconciler/reconciler.js';
import { KamailioAddressBook } from '../../../src/kamailio/addresses.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import type { StatusResult } from '../../../src/events/commands.js';
import type { NodeMessage } from '../../../src/events/schemas.js';
import { policy } from '../core/fixtures.js';
import { FakeStore } from '../../fakes/fakeDispatcherStore.js';
import { FakeKamailio } from '../../fakes/fakeKamailio.js';
import { silentLogger } from '../../fakes/silentLogger.js';

const managed = new Set([1, 2, 3]);
const membership = { heartbeatMisses: 3, goneRetentionMs: 60_000, maxClockSkewMs: 60_000 };
const uuid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const joined = (n: number, seq = 1, uri = `sip:10.0.0.${n}:5080`): NodeMessage => ({
  kind: 'joined',
  msg: { v: 1, nodeId: uuid(n), seq, sentAt: 0, sipUri: uri, hostname: `fs${n}`, capacity: 100, sessions: 0, agentVersion: '1', heartbeatIntervalMs: 2000, reason: 'start' },
});
const left = (n: number, seq: number): NodeMessage => ({ kind: 'left', msg: { v: 1, nodeId: uuid(n), seq, sentAt: 0, reason: 'agent-stopping' } });

describe('Reconciler', () => {
  let t: number;
  let registry: InMemoryNodeRegistry;
  let store: FakeStore;
  let kams: FakeKamailio[];
  let rec: Reconciler;
  const now = () => t;

  beforeEach(() => {
    t = 1_000_000;
    vi.useFakeTimers({ toFake: ['performance'] });
    vi.setSystemTime(0);
    registry = new InMemoryNodeRegistry();
    store = new FakeStore(managed);
    kams = [new FakeKamailio('k1', store, 1000, () => performance.now()), new FakeKamailio('k2', store, 1000, () => performance.now())];
    rec = new Reconciler({
      registry, store, kamailios: kams, policy, managedSets: managed, membership,
      reloadDeltaMs: 1000, resyncMs: 10_000, unknownNodeGraceMs: 5000, logger: silentLogger, metrics: createMetrics(), now,
    });
    return () => vi.useRealTimers();
  });

  const ingest = (m: NodeMessage) => ingestNodeMessage(registry, m, now, membership);
  const loadedUris = (k: FakeKamailio, set = 1) => k.loaded.filter((d) => d.setId === set).map((d) => `${d.uri} ${d.flags}`);

  it('does nothing at all when everything already matches', async () => {
    await ingest(joined(1));
    await rec.runOnce();
    kams.forEach((k) => (k.calls = []));
    const syncsBefore = store.syncs;
    const r = await rec.runOnce();
    expect(r.rowChanges).toEqual([]);
    expect(kams.map((k) => k.calls)).toEqual([['list'], ['list']]);
    expect(store.syncs).toBe(syncsBefore + 1);
  });

  it('a joined node is written, reloaded into every Kamailio, verified, then promoted to active', async () => {
    await ingest(joined(1));
    const r = await rec.runOnce();
    expect(r.rowChanges.map((c) => c.kind)).toEqual(['insert', 'insert', 'insert']);
    expect(kams.map((k) => k.calls)).toEqual([['list', 'reload', 'list'], ['list', 'reload', 'list']]);
    expect(loadedUris(kams[0]!)).toEqual(['sip:10.0.0.1:5080 AX']);
    expect(r.transitions).toEqual([{ nodeId: uuid(1), to: 'active', reason: 'in-every-kamailio' }]);
    expect((await registry.get(uuid(1)))?.state).toBe('active');
  });

  it('while this replica hears nothing on NATS a silent node is kept; heard again, it has a whole heartbeat window before it expires', async () => {
    let heardSince: number | null = t;
    rec = new Reconciler({
      registry, store, kamailios: kams, policy, managedSets: managed, membership,
      reloadDeltaMs: 1000, resyncMs: 10_000, unknownNodeGraceMs: 5000, logger: silentLogger, metrics: createMetrics(), now,
      heardSince: () => heardSince,
    });
    await ingest(joined(1));
    await rec.runOnce();
    // Cut off from NATS, then long past the node's deadline (3 x 2 s).
    heardSince = null;
    t += 60_000;
    expect((await rec.runOnce()).transitions).toEqual([]);
    expect((await registry.get(uuid(1)))?.state).toBe('active');
    // Heard again: still kept for 6 s, then expired.
    heardSince = t;
    t += 5999;
    expect((await rec.runOnce()).transitions).toEqual([]);
    t += 1;
    expect((await rec.runOnce()).transitions).toEqual([{ nodeId: uuid(1), to: 'gone', reason: 'expired' }]);
  });

  it('a draining node whose counted calls never reach 0 (a lost hang-up) is drained on its FreeSWITCH\'s own count, asked every 10 s', async () => {
    let freeswitchSessions = 2;
    const asked: string[] = [];
    const status = (nodeId: string): Promise<StatusResult> => {
      asked.push(nodeId);
      return Promise.resolve({
        coreUuid: nodeId, version: '1.10', uptimeMs: 1, ready: true, sessions: freeswitchSessions, maxSessions: 100, sessionsSinceStartup: 9, sessionsPeak: 3,
        sipProfile: { name: 'internal', running: true }, inboundPaused: false, blockers: [], readAt: 0,
      });
    };
    rec = new Reconciler({
      registry, store, kamailios: kams, policy, managedSets: managed, membership,
      reloadDeltaMs: 1000, resyncMs: 10_000, unknownNodeGraceMs: 5000, logger: silentLogger, metrics: createMetrics(), now,
      drainChecks: { agents: { status, pauseInbound: (_n, paused) => Promise.resolve({ inboundPaused: paused }), hangupAll: (_n, cause) => Promise.resolve({ cause }) } },
    });
    await ingest({ kind: 'joined', msg: { ...joined(1).msg, sessions: 2 } as NodeMessage['msg'] } as NodeMessage);
    await rec.runOnce();
    const m = (await registry.getMachine('10.0.0.1:5080'))!;
    await registry.putMachine({ ...m, drain: { deadline: t + 3_600_000 }, rev: m.rev + 1 }, m.rev);
    await rec.runOnce();
    expect((await registry.get(uuid(1)))?.state).toBe('draining');
    expect(asked).toEqual([uuid(1)]);
    // One call ends, its hang-up lost: the agent still counts 2; FreeSWITCH says 0.
    freeswitchSessions = 0;
    // Its agent keeps reporting the 2 it counts.
    const stillTwo = async (seq: number) => ingest({ kind: 'joined', msg: { ...joined(1, seq).msg, sessions: 2 } as NodeMessage['msg'] } as NodeMessage);
    t += 5000;
    await stillTwo(2);
    await rec.runOnce();
    expect(asked).toHaveLength(1);
    expect((await registry.get(uuid(1)))?.state).toBe('draining');
    t += 5000;
    await stillTwo(3);
    const r = await rec.runOnce();
    expect(asked).toHaveLength(2);
    expect(r.transitions).toEqual([{ nodeId: uuid(1), to: 'drained', reason: 'freeswitch-count' }]);
    expect(await registry.get(uuid(1))).toMatchObject({ state: 'drained', sessions: 0 });
  });

  it('a node that left is removed from every set; inside the reload window it is set inactive at once', async () => {
    await ingest(joined(1));
    await ingest(joined(2));
    await rec.runOnce();
    kams.forEach((k) => (k.calls = []));
    await ingest(left(2, 2));
    const r = await rec.runOnce(); // still inside the 1 s window of the first reload
    expect(r.rowChanges.map((c) => `${c.kind} ${c.row.setid} ${c.row.destination}`)).toEqual([
      'delete 1 sip:10.0.0.2:5080', 'delete 2 sip:10.0.0.2:5080', 'delete 3 sip:10.0.0.2:5080',
    ]);
    expect(kams[0]!.calls).toEqual(['list', 'set_state i 1 sip:10.0.0.2:5080', 'set_state i 2 sip:10.0.0.2:5080', 'set_state i 3 sip:10.0.0.2:5080']);
    expect(loadedUris(kams[0]!)).toEqual(['sip:10.0.0.2:5080 IX', 'sip:10.0.0.1:5080 AX']);
    expect(r.kamailios.every((k) => k.waitMs !== undefined && k.waitMs > 0 && k.waitMs <= 1001)).toBe(true);

    vi.advanceTimersByTime(1001);
    kams.forEach((k) => (k.calls = []));
    const r2 = await rec.runOnce();
    expect(kams[0]!.calls).toEqual(['list', 'reload', 'list']);
    expect(loadedUris(kams[0]!)).toEqual(['sip:10.0.0.1:5080 AX']);
    expect(r2.kamailios.every((k) => k.inSync)).toBe(true);
  });

  it('a silent node expires after three missed heartbeats and leaves routing', async () => {
    await ingest(joined(1));
    await ingest(joined(2));
    await rec.runOnce();
    t += 5999;
    expect((await rec.runOnce()).transitions).toEqual([]);
    t += 1;
    vi.advanceTimersByTime(2000);
    const r = await rec.runOnce();
    expect(r.transitions.filter((x) => x.to === 'gone').map((x) => x.nodeId).sort()).toEqual([uuid(1), uuid(2)]);
    expect(kams[0]!.loaded).toEqual([]);
  });

  it('schedules the next pass at the earliest node deadline', async () => {
    await ingest(joined(1));
    const r = await rec.runOnce();
    expect(r.nextRunInMs).toBe(6000 + 1);
  });

  it('a restarted FreeSWITCH (new Core-UUID, same address) ends up as one entry', async () => {
    await ingest(joined(1));
    await rec.runOnce();
    // Its agent was down too, so no `left`: the old node has missed a heartbeat by now.
    t += 3100;
    vi.advanceTimersByTime(1500);
    const claim = await ingest(joined(9, 1, 'sip:10.0.0.1:5080'));
    expect(claim.superseded.map((n) => n.nodeId)).toEqual([uuid(1)]);
    await rec.runOnce();
    expect(kams[0]!.loaded.filter((d) => d.setId === 1).map((d) => d.attrs)).toEqual([`duid=${uuid(9)};maxload=100;rweight=100;mid=10.0.0.1:5080`]);
    expect(store.rows).toHaveLength(3);
  });

  it('two live nodes at one address (a raced claim): the one heard on time keeps it, the newcomer is superseded', async () => {
    await ingest(joined(1));
    await rec.runOnce();
    t += 100;
    // Both stored, as when two control planes ingested at once.
    await registry.put({ ...(await registry.get(uuid(1)))!, nodeId: uuid(9), slot: 9, joinedAt: t, rev: 1 }, undefined, 60_000);
    const r = await rec.runOnce();
    expect(r.transitions).toContainEqual({ nodeId: uuid(9), to: 'gone', reason: 'superseded' });
    expect(kams[0]!.loaded.filter((d) => d.setId === 1).map((d) => d.attrs)).toEqual([`duid=${uuid(1)};maxload=100;rweight=100;mid=10.0.0.1:5080`]);
  });

  it('repairs drift: a Kamailio that lost its list, and a row edited by hand', async () => {
    await ingest(joined(1));
    await rec.runOnce();
    vi.advanceTimersByTime(1500);
    kams[1]!.loaded = []; // restarted with an empty list
    store.rows[0] = { ...store.rows[0]!, priority: 0 };
    const r = await rec.runOnce();
    expect(r.rowChanges.map((c) => c.kind)).toEqual(['update']);
    // k1 still held the right list (the table was repaired back to it); only k2 reloads.
    expect(r.kamailios.map((k) => [k.kamailio, k.inSync, k.reloaded])).toEqual([['k1', true, false], ['k2', true, true]]);
    expect(kams[1]!.loaded).toHaveLength(3);
  });

  it('an unreachable Kamailio does not block the others and is retried with backoff', async () => {
    kams[1]!.down = true;
    await ingest(joined(1));
    const r = await rec.runOnce();
    expect(r.kamailios[0]).toMatchObject({ inSync: true, reloaded: true });
    expect(r.kamailios[1]).toMatchObject({ inSync: false });
    expect(r.kamailios[1]!.error).toMatch(/ECONNREFUSED/);
    expect(r.nextRunInMs).toBe(200);
    // not promoted while one Kamailio has not confirmed it
    expect((await registry.get(uuid(1)))?.state).toBe('joining');
    kams[1]!.down = false;
    const r2 = await rec.runOnce();
    expect(r2.kamailios[1]).toMatchObject({ inSync: true, reloaded: true });
    expect((await registry.get(uuid(1)))?.state).toBe('active');
  });

  it('an "Ongoing reload" refusal is retried after the window, never dropped', async () => {
    await ingest(joined(1));
    await kams[0]!.reload(); // someone else reloaded just now
    kams[0]!.calls = [];
    const r = await rec.runOnce();
    expect(kams[0]!.calls).toEqual(['list', 'reload']);
    expect(r.kamailios[0]).toMatchObject({ inSync: false });
    expect(r.kamailios[0]!.waitMs).toBeGreaterThan(900);
    vi.advanceTimersByTime(1001);
    const r2 = await rec.runOnce();
    expect(r2.kamailios[0]).toMatchObject({ inSync: true, reloaded: true });
  });

  it('a lost registry does not empty Kamailio: unknown nodes keep their rows for the grace, then go', async () => {
    await ingest(joined(1));
    await ingest(joined(2));
    await rec.runOnce();
    const { slotsRecoveredFrom } = await import('../../../src/registry/membership.js');
    // Redis comes back empty; a fresh reconciler (as after a control plane restart) runs first.
    registry = new InMemoryNodeRegistry();
    rec = new Reconciler({
      registry, store, kamailios: kams, policy, managedSets: managed, membership,
      reloadDeltaMs: 1000, resyncMs: 10_000, unknownNodeGraceMs: 5000, logger: silentLogger, metrics: createMetrics(), now,
    });
    kams.forEach((k) => (k.calls = []));
    const r = await rec.runOnce();
    expect(r.rowChanges).toEqual([]);
    expect(kams.map((k) => k.calls)).toEqual([['list'], ['list']]);
    expect(r.nextRunInMs).toBe(5001);

    // Node 1 restates itself within the grace and gets its old slot back: nothing moves.
    await ingestNodeMessage(registry, joined(1, 2), now, membership, slotsRecoveredFrom(store, registry));
    t += 2000;
    expect((await rec.runOnce()).rowChanges).toEqual([]);
    expect(kams[0]!.calls.filter((c) => c !== 'list')).toEqual([]);

    // Node 2 never does: after the grace its rows go.
    t += 3000;
    vi.advanceTimersByTime(1500);
    const after = await rec.runOnce();
    expect(after.rowChanges.map((c) => `${c.kind} ${c.row.destination}`)).toEqual(Array(3).fill('delete sip:10.0.0.2:5080'));
    expect(kams[0]!.loaded.map((d) => d.uri)).toEqual(Array(3).fill('sip:10.0.0.1:5080'));
  });

  it('dispatcherStatus() reports the last pass: desired rows with those kept for unknown nodes, each Kamailio as last seen; it calls nothing', async () => {
    expect(rec.dispatcherStatus().pass).toBeUndefined();
    expect(rec.dispatcherStatus().kamailios).toEqual([{ kamailio: 'k1' }, { kamailio: 'k2' }]);
    await ingest(joined(1));
    await ingest(joined(2));
    await rec.runOnce();
    // The registry forgets node 2 (lost Redis): its rows are kept for the grace, and shown.
    const fresh = new InMemoryNodeRegistry();
    await fresh.put((await registry.get(uuid(1)))!, undefined, 0);
    registry = fresh;
    rec = new Reconciler({
      registry, store, kamailios: kams, policy, managedSets: managed, membership,
      reloadDeltaMs: 1000, resyncMs: 10_000, unknownNodeGraceMs: 5000, logger: silentLogger, metrics: createMetrics(), now,
    });
    kams[1]!.down = true;
    await rec.runOnce();
    kams.forEach((k) => (k.calls = []));
    const status = rec.dispatcherStatus();
    expect(kams.map((k) => k.calls)).toEqual([[], []]);
    expect(status.pass).toMatchObject({ id: 1, at: t, ok: true });
    expect(status.keptForUnknownNodes).toBe(3);
    const both = ['sip:10.0.0.1:5080', 'sip:10.0.0.2:5080'];
    expect(status.desired.map((s) => [s.setId, s.purpose, s.destinations.map((d) => d.destination).sort()])).toEqual([
      [1, 'general', both],
      [2, 'rooms', both],
      [3, 'cascade', both],
    ]);
    const [k1, k2] = status.kamailios;
    expect(k1).toMatchObject({ kamailio: 'k1', at: t, drift: { inSync: true } });
    expect(k1 && 'snapshot' in k1 ? k1.snapshot?.destinations.length : undefined).toBe(6);
    expect(k2).toMatchObject({ kamailio: 'k2', at: t, error: expect.stringMatching(/ECONNREFUSED/) as unknown });
  });

  it("Kamailio's own mark after a failed call is respected for the hold, reported per node, then cleared with set_state a", async () => {
    const metrics = createMetrics();
    rec = new Reconciler({
      registry, store, kamailios: kams, policy, managedSets: managed, membership, markHoldMs: 30_000,
      reloadDeltaMs: 1000, resyncMs: 10_000, unknownNodeGraceMs: 5000, logger: silentLogger, metrics, now,
    });
    await ingest(joined(1));
    await ingest(joined(2));
    await rec.runOnce();
    vi.advanceTimersByTime(1500);
    // routing.lua's failure route marks node 2 in set 1 of k1.
    kams[0]!.loaded.find((d) => d.setId === 1 && d.uri === 'sip:10.0.0.2:5080')!.flags = 'IX';
    kams.forEach((k) => (k.calls = []));
    const marked = async () =>
      ((await metrics.registry.getSingleMetric('sbc_kamailio_marked')?.get())?.values ?? []).map((v) => [v.labels.kamailio, v.labels.node, v.value]);

    const r = await rec.runOnce();
    expect(r.kamailios.map((o) => o.inSync)).toEqual([true, true]);
    expect(kams[0]!.calls).toEqual(['list']);
    expect(await marked()).toEqual([['k1', uuid(2), 1]]);
    expect(rec.dispatcherStatus().kamailios[0]).toMatchObject({ marks: [{ setId: 1, uri: 'sip:10.0.0.2:5080', nodeId: uuid(2), since: t, until: t + 30_000 }] });

    // Resyncs within the hold leave it alone.
    t += 20_000;
    await ingest(joined(1, 3));
    await ingest(joined(2, 3));
    await rec.runOnce();
    expect(kams[0]!.calls.filter((c) => c !== 'list')).toEqual([]);
    expect(kams[0]!.loaded.find((d) => d.setId === 1 && d.uri === 'sip:10.0.0.2:5080')?.flags).toBe('IX');

    // The hold ends: the destination is set active again, and the gauge drops it.
    t += 10_000;
    await ingest(joined(1, 4));
    await ingest(joined(2, 4));
    await rec.runOnce();
    expect(kams[0]!.calls.filter((c) => c !== 'list')).toEqual(['set_state a 1 sip:10.0.0.2:5080']);
    expect(kams[0]!.loaded.find((d) => d.setId === 1 && d.uri === 'sip:10.0.0.2:5080')?.flags).toBe('AX');
    expect(await marked()).toEqual([]);
  });

  it('a reload that membership needs clears marks, and the control plane forgets them', async () => {
    await ingest(joined(1));
    await rec.runOnce();
    vi.advanceTimersByTime(1500);
    kams[0]!.loaded[0]!.flags = 'IX';
    await rec.runOnce();
    expect(rec.dispatcherStatus().kamailios[0]).toMatchObject({ marks: [{ uri: 'sip:10.0.0.1:5080' }] });
    await ingest(joined(3));
    const r = await rec.runOnce();
    expect(r.kamailios[0]).toMatchObject({ reloaded: true, inSync: true });
    expect(rec.dispatcherStatus().kamailios[0]).toMatchObject({ marks: [] });
  });

  it("a pass reads each machine's intent: a cordoned machine's node stays listed but disabled in every set", async () => {
    await ingest(joined(1));
    await ingest(joined(2));
    await rec.runOnce();
    const n2 = (await registry.get(uuid(2)))!;
    const machine = (await registry.getMachine(n2.machineId))!;
    expect(await registry.putMachine({ ...machine, cordoned: true, rev: machine.rev + 1 }, machine.rev)).toBe(true);
    vi.advanceTimersByTime(1500);
    const r = await rec.runOnce();
    expect(r.rowChanges.map((c) => `${c.kind} ${c.row.destination} ${c.row.flags}`)).toEqual(Array(3).fill('update sip:10.0.0.2:5080 4'));
    expect(kams[0]!.loaded.filter((d) => d.uri === 'sip:10.0.0.2:5080').map((d) => d.flags)).toEqual(['DX', 'DX', 'DX']);
  });

  it('with the table unwritable, a node that left is still taken out of selection; nothing reloads', async () => {
    await ingest(joined(1));
    await ingest(joined(2));
    await rec.runOnce();
    vi.advanceTimersByTime(1500);
    const stranger = { setId: 1, uri: 'sip:10.9.9.9:5080', flags: 'AX', priority: 99, attrs: `duid=${uuid(77)};weight=1` };
    kams[0]!.loaded.push(stranger);
    kams.forEach((k) => (k.calls = []));
    store.sync = () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:5432'));
    await ingest(left(2, 2));
    await expect(rec.runOnce()).rejects.toThrow(/ECONNREFUSED/);
    for (const k of kams) {
      expect(k.calls.filter((c) => c !== 'list')).toEqual([1, 2, 3].map((set) => `set_state i ${set} sip:10.0.0.2:5080`));
    }
    expect(kams[0]!.loaded.find((d) => d.uri === stranger.uri)?.flags).toBe('AX');
  });

  it("a new leader's first reload waits one reload window from its first pass (the previous leader may have just reloaded); set_state does not wait", async () => {
    // The previous leader (another replica) loaded nodes 1 and 2; its window has passed for Kamailio.
    await ingest(joined(1));
    await ingest(joined(2));
    await rec.runOnce();
    vi.advanceTimersByTime(1000);
    let epoch: number | undefined = 7;
    store.epoch = 7;
    const leader = new Reconciler({
      registry, store, kamailios: kams, policy, managedSets: managed, membership,
      reloadDeltaMs: 1000, resyncMs: 10_000, unknownNodeGraceMs: 5000, logger: silentLogger, metrics: createMetrics(), now,
      leadership: { epoch: () => epoch, fencedOut: () => undefined },
    });
    kams.forEach((k) => (k.calls = []));
    await ingest(left(2, 2));
    await ingest(joined(3));
    const first = await leader.runOnce();
    expect(first.kamailios.map((k) => [k.reloaded, k.waitMs])).toEqual([[false, 1001], [false, 1001]]);
    expect(kams[0]!.calls).toEqual(['list', 'set_state i 1 sip:10.0.0.2:5080', 'set_state i 2 sip:10.0.0.2:5080', 'set_state i 3 sip:10.0.0.2:5080']);
    vi.advanceTimersByTime(1000);
    expect((await leader.runOnce()).kamailios.map((k) => k.reloaded)).toEqual([true, true]);
    expect(loadedUris(kams[0]!).sort()).toEqual(['sip:10.0.0.1:5080 AX', 'sip:10.0.0.3:5080 AX']);
    // A later term on this replica (a new epoch) waits again.
    vi.advanceTimersByTime(1000);
    epoch = 8;
    store.epoch = 8;
    await ingest(joined(4));
    expect((await leader.runOnce()).kamailios.map((k) => k.reloaded)).toEqual([false, false]);
  });

  it('the loop holds additions while the reload window is closed, but not removals', async () => {
    vi.useRealTimers();
    kams = [new FakeKamailio('k1', store, 400, () => performance.now())];
    rec = new Reconciler({
      registry, store, kamailios: kams, policy, managedSets: managed, membership,
      reloadDeltaMs: 400, resyncMs: 10_000, unknownNodeGraceMs: 5000, logger: silentLogger, metrics: createMetrics(), now,
    });
    await ingest(joined(1));
    rec.start();
    await rec.nextPass(); // reloads node 1: the window is now closed for 400 ms
    await ingest(joined(2));
    const held = rec.nextPass(); // urgent by default: runs, finds the window closed
    await held;
    const passesBefore = kams[0]!.calls.filter((c) => c === 'list').length;
    for (let i = 3; i <= 10; i++) {
      await ingest(joined(i));
      rec.trigger(false);
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(kams[0]!.calls.filter((c) => c === 'list').length).toBe(passesBefore); // additions held
    await ingest(left(1, 2));
    rec.trigger(true);
    await vi.waitFor(() => expect(kams[0]!.calls).toContain('set_state i 1 sip:10.0.0.1:5080'), { timeout: 300 });
    // When the window opens one pass loads all the held additions at once.
    await vi.waitFor(() => expect(kams[0]!.loaded.filter((d) => d.setId === 1)).toHaveLength(9), { timeout: 2000 });
    await rec.stop();
    expect(kams[0]!.calls.filter((c) => c === 'reload')).toHaveLength(2);
  });

  it('the loop coalesces a burst of triggers into few passes', async () => {
    vi.useRealTimers();
    rec.start();
    for (let i = 1; i <= 20; i++) {
      await ingest(joined(i));
      rec.trigger();
    }
    const report = await rec.nextPass();
    await rec.stop();
    expect(report.nodes).toBe(20);
    expect(store.rows).toHaveLength(60);
  });

  it("learns each Kamailio's own addresses and gives a node at one of them no rows", async () => {
    const addresses = new KamailioAddressBook();
    const withBook = new Reconciler({
      registry, store, kamailios: kams, policy, managedSets: managed, membership, addresses,
      reloadDeltaMs: 1000, resyncMs: 10_000, unknownNodeGraceMs: 5000, logger: silentLogger, metrics: createMetrics(), now,
    });
    kams[1]!.sockets = [{ proto: 'udp', addresses: ['10.0.0.7'], port: 5080, advertise: undefined }];
    await ingest(joined(7)); // sip:10.0.0.7:5080: accepted before anyone knew it was a Kamailio
    await withBook.runOnce();
    expect(kams.map((k) => k.calls.filter((c) => c === 'list_sockets').length)).toEqual([1, 1]);
    expect(addresses.has('sip:10.0.0.7:5080')).toBe(true);
    vi.advanceTimersByTime(1500);
    await withBook.runOnce();
    expect(store.rows).toEqual([]);
    expect(kams[0]!.loaded).toEqual([]);
    // Read again only after a resync interval.
    expect(kams.map((k) => k.calls.filter((c) => c === 'list_sockets').length)).toEqual([1, 1]);
  });
});

describe('slotsRecoveredFrom', () => {
  it('gives a node the registry lost its old slot back from the table, and new nodes a slot above all', async () => {
    const { slotsRecoveredFrom } = await import('../../../src/registry/membership.js');
    const { desiredSets, flattenSets } = await import('../../../src/core/dispatcher.js');
    const { node } = await import('../core/fixtures.js');
    const store = new FakeStore(managed);
    const rows = flattenSets(desiredSets([node(1, { slot: 7 }), node(2, { slot: 40 })], policy));
    await store.sync(() => rows);
    const registry = new InMemoryNodeRegistry(); // empty: Redis came back without data
    const slots = slotsRecoveredFrom(store, registry);
    expect(await slots.recovered(node(1))).toEqual({ slot: 7, nodeId: node(1).nodeId });
    expect(await slots.recovered(node(2))).toEqual({ slot: 40, nodeId: node(2).nodeId });
    expect(await slots.recovered({ nodeId: uuid(99), machineId: 'elsewhere' })).toBeUndefined();
    expect(await slots.fresh()).toBe(41);
    expect(await slots.fresh()).toBe(42);
  });

});
