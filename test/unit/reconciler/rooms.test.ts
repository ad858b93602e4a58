import { beforeEach, describe, expect, it } from 'vitest';
import type { NodeMessage } from '../../../src/events/schemas.js';
import { createMetrics, type Metrics } from '../../../src/metrics/metrics.js';
import { Reconciler } from '../../../src/reconciler/reconciler.js';
import { ingestNodeMessage } from '../../../src/registry/membership.js';
import { FakeStore } from '../../fakes/fakeDispatcherStore.js';
import { FakeKamailio } from '../../fakes/fakeKamailio.js';
import { InMemoryNodeRegistry } from '../../fakes/inMemoryNodeRegistry.js';
import { InMemoryRoomPolicyStore } from '../../fakes/inMemoryRoomPolicyStore.js';
import { InMemoryRoomRegistry } from '../../fakes/inMemoryRoomRegistry.js';
import { silentLogger } from '../../fakes/silentLogger.js';
import { policy } from '../core/fixtures.js';

const managed = new Set([1, 2, 3]);
const membership = { heartbeatMisses: 3, goneRetentionMs: 60_000, maxClockSkewMs: 60_000 };
const uuid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const uri = (n: number) => `sip:10.0.0.${n}:5080`;
const joined = (n: number): NodeMessage => ({
  kind: 'joined',
  msg: { v: 1, nodeId: uuid(n), seq: 1, sentAt: 0, sipUri: uri(n), hostname: `fs${n}`, capacity: 100, sessions: 0, agentVersion: '1', heartbeatIntervalMs: 60_000, reason: 'start' },
});
const left = (n: number): NodeMessage => ({ kind: 'left', msg: { v: 1, nodeId: uuid(n), seq: 2, sentAt: 0, reason: 'agent-stopping' } });
const GRACE = 10_000;

describe('Reconciler: the room table and every Kamailio\'s pins', () => {
  let t: number;
  let registry: InMemoryNodeRegistry;
  let rooms: InMemoryRoomRegistry;
  let policies: InMemoryRoomPolicyStore;
  let kams: FakeKamailio[];
  let rec: Reconciler;
  let metrics: Metrics;
  const now = () => t;

  beforeEach(async () => {
    t = 1_000_000;
    registry = new InMemoryNodeRegistry();
    rooms = new InMemoryRoomRegistry();
    policies = new InMemoryRoomPolicyStore();
    const store = new FakeStore(managed);
    kams = [new FakeKamailio('k1', store, 0, () => performance.now()), new FakeKamailio('k2', store, 0, () => performance.now())];
    metrics = createMetrics();
    rec = new Reconciler({
      registry, store, kamailios: kams, policy, managedSets: managed, membership, reloadDeltaMs: 0, resyncMs: 10_000,
      unknownNodeGraceMs: 5000, logger: silentLogger, metrics, now, rooms: { registry: rooms, pinGraceMs: GRACE, policies },
    });
    for (const n of [1, 2, 3]) await ingestNodeMessage(registry, joined(n), now, membership);
  });

  const pins = (k: FakeKamailio) => Object.fromEntries(k.htables.get('pins') ?? []);
  const half = (nodeId: string, members: number, seq: number) => ({ nodeId, conferenceUuid: `c-${seq}`, members, links: 0, seq, at: t });

  it('a pin one Kamailio made reaches the other in one pass; a confirmed pin stays; a destroyed room is unpinned everywhere', async () => {
    kams[0]!.htables.get('pins')!.set('3000', `${uri(1)};at=${t};by=k1`);
    await rec.runOnce(); // adopted from k1's dump (NATS off)
    await rec.runOnce();
    expect(pins(kams[1]!)).toEqual({ '3000': `${uri(1)};at=${t};by=k1` });

    await rooms.recordHalf('3000', half(uuid(1), 3, 1));
    t += GRACE * 2;
    await rec.runOnce();
    expect((await rooms.get('3000'))?.confirmedAt).toBe(t);
    expect(pins(kams[0]!)['3000']).toMatch(new RegExp(`^${uri(1)};`));

    await rooms.recordHalf('3000', half(uuid(1), 0, 2)); // conference-destroy
    await rec.runOnce();
    expect(pins(kams[0]!)).toEqual({});
    expect(pins(kams[1]!)).toEqual({});
    expect(await rooms.get('3000')).toBeUndefined();
    expect((await metrics.roomPinsEnded.get()).values).toEqual([{ labels: { reason: 'destroyed' }, value: 1 }]);
  });

  it('a restarted Kamailio (empty htable) gets every pin back within one pass', async () => {
    for (const r of ['3000', '3001', '3002']) {
      await rooms.recordPin(r, { key: r, uri: uri(2), at: t, by: 'k1' });
      await rooms.recordHalf(r, half(uuid(2), 2, 1));
    }
    await rec.runOnce();
    kams[1]!.htables.set('pins', new Map());
    kams[1]!.calls = [];
    await rec.runOnce();
    expect(Object.keys(pins(kams[1]!)).sort()).toEqual(['3000', '3001', '3002']);
    expect(kams[1]!.calls.filter((c) => c.startsWith('htable.sets'))).toHaveLength(3);
  });

  it('an unconfirmed pin ends after the grace; a pin of a gone node ends at once', async () => {
    await rooms.recordPin('3100', { key: '3100', uri: uri(1), at: t, by: 'k1' });
    await rooms.recordPin('3101', { key: '3101', uri: uri(2), at: t, by: 'k1' });
    await rooms.recordHalf('3101', half(uuid(2), 2, 1));
    await rec.runOnce();
    expect(Object.keys(pins(kams[0]!)).sort()).toEqual(['3100', '3101']);
    await ingestNodeMessage(registry, left(2), now, membership);
    t += GRACE + 1;
    await rec.runOnce();
    expect(pins(kams[0]!)).toEqual({});
    const ended: Record<string, number> = Object.fromEntries((await metrics.roomPinsEnded.get()).values.map((v) => [String(v.labels.reason), v.value]));
    expect(ended).toEqual({ unconfirmed: 1, 'node-gone': 1 });
  });

  it('a split room is pointed at its larger half on every Kamailio, and counted once', async () => {
    await rooms.recordPin('3200', { key: '3200', uri: uri(1), at: t, by: 'k1' });
    await rooms.recordHalf('3200', half(uuid(1), 2, 1));
    await rooms.recordHalf('3200', half(uuid(2), 4, 1));
    await rec.runOnce();
    await rec.runOnce();
    for (const k of kams) expect(pins(k)['3200']).toMatch(new RegExp(`^${uri(2)};at=\\d+;by=control$`));
    expect((await metrics.roomSplits.get()).values[0]?.value).toBe(1);
    expect((await rooms.get('3200'))?.splitsRepaired).toBe(1);
  });

  it('never deletes a pin the table has not heard of yet, and keeps routing when one Kamailio is down', async () => {
    kams[1]!.down = true;
    kams[0]!.htables.get('pins')!.set('3300', `${uri(1)};at=${t};by=k1`);
    const r = await rec.runOnce();
    expect(r.kamailios.find((k) => k.kamailio === 'k1')?.error).toBeUndefined();
    expect(pins(kams[0]!)['3300']).toBeDefined();
    expect((await rooms.get('3300'))?.pin?.by).toBe('k1');
  });

  it('a cascade policy reaches every Kamailio\'s cascade htable with one shard pin per node; removing it ends them', async () => {
    await rec.runOnce(); // nodes active
    await policies.put({ room: '3400', mode: 'cascade', shards: 3 });
    await rec.runOnce();
    for (const k of kams) {
      expect(Object.fromEntries(k.htables.get('cascade') ?? [])).toEqual({ '3400': 3 });
      const shardUris = ['3400-0', '3400-1', '3400-2'].map((key) => String(pins(k)[key]).split(';')[0]);
      expect(new Set(shardUris).size).toBe(3);
    }
    // A shard whose node is gone moves; the others stay.
    const before = pins(kams[0]!);
    const victim = [1, 2, 3].find((n) => String(before['3400-1']).startsWith(uri(n)))!;
    await ingestNodeMessage(registry, left(victim), now, membership);
    t += 1;
    await rec.runOnce();
    const after = pins(kams[0]!);
    expect(after['3400-0']).toBe(before['3400-0']);
    expect(after['3400-2']).toBe(before['3400-2']);
    expect(String(after['3400-1'])).not.toMatch(new RegExp(`^${uri(victim)};`));

    await policies.delete('3400');
    await rec.runOnce();
    await rec.runOnce();
    for (const k of kams) {
      expect(Object.fromEntries(k.htables.get('cascade') ?? [])).toEqual({});
      expect(Object.keys(pins(k)).filter((key) => key.startsWith('3400-'))).toEqual([]);
    }
  });
});
