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
  let asked: string[];
  let kams: FakeKamailio[];
  let rec: Reconciler;
  let metrics: Metrics;
  const now = () => t;

  beforeEach(async () => {
    t = 1_000_000;
    registry = new InMemoryNodeRegistry();
    asked = [];
    rooms = new InMemoryRoomRegistry();
    policies = new InMemoryRoomPolicyStore();
    const store = new FakeStore(managed);
    kams = [new FakeKamailio('k1', store, 0, () => performance.now()), new FakeKamailio('k2', store, 0, () => performance.now())];
    metrics = createMetrics();
    rec = new Reconciler({
      registry, store, kamailios: kams, policy, managedSets: managed, membership, reloadDeltaMs: 0, resyncMs: 10_000,
      unknownNodeGraceMs: 5000, logger: silentLogger, metrics, now, rooms: {
        registry: rooms, pinGraceMs: GRACE, policies,
        links: {
          commands: {
            link: (nodeId, a) => {
              asked.push(`link ${nodeId.slice(-1)} ${a.room} ${a.target} via ${a.via} mt=${a.mediaTimeoutMs}`);
              return Promise.resolve({ jobUuid: '00000000-0000-4000-8000-00000000abcd' });
            },
            unlink: (nodeId, a) => {
              asked.push(`unlink ${nodeId.slice(-1)} ${a.room} ${a.linkId}`);
              return Promise.resolve({ found: true });
            },
          },
          via: () => 'sip:127.0.0.1:5060', setupGraceMs: 5000, mediaTimeoutMs: 10_000,
        },
      },
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

  it('links the halves of a split room from the larger one, keeps the link while both hold participants, drops it when one half empties', async () => {
    await rooms.recordPin('3500', { key: '3500', uri: uri(1), at: t, by: 'k1' });
    await rooms.recordHalf('3500', { nodeId: uuid(1), conferenceUuid: 'a', members: 2, links: 0, seq: 1, at: t });
    await rooms.recordHalf('3500', { nodeId: uuid(2), conferenceUuid: 'b', members: 5, links: 0, seq: 1, at: t });
    await rec.runOnce();
    expect(asked).toEqual([`link 2 3500 ${uri(1)} via sip:127.0.0.1:5060 mt=10000`]);
    const [link] = (await rooms.get('3500'))!.links!;
    expect(link).toMatchObject({ from: uuid(2), to: uuid(1) });
    // The link shows on both sides: nothing more to do, pass after pass.
    await rooms.recordHalf('3500', { nodeId: uuid(1), conferenceUuid: 'a', members: 3, links: 1, seq: 2, at: t });
    await rooms.recordHalf('3500', { nodeId: uuid(2), conferenceUuid: 'b', members: 6, links: 1, seq: 2, at: t });
    t += 20_000;
    await rec.runOnce();
    expect(asked).toHaveLength(1);
    // Node 1's participants all left (only the link member is there): the link goes.
    await rooms.recordHalf('3500', { nodeId: uuid(1), conferenceUuid: 'a', members: 1, links: 1, seq: 3, at: t });
    await rec.runOnce();
    expect(asked.slice(1).sort()).toEqual([`unlink 1 3500 ${link!.linkId}`, `unlink 2 3500 ${link!.linkId}`]);
    expect((await rooms.get('3500'))?.links).toBeUndefined();
  });

  it('a link to a node that died is dropped at once on the survivor; a link that never showed is made again', async () => {
    await policies.put({ room: '3600', mode: 'cascade', shards: 3 });
    for (const n of [1, 2, 3]) await rooms.recordHalf('3600', { nodeId: uuid(n), conferenceUuid: `c${n}`, members: n + 1, links: 0, seq: 1, at: t });
    await rec.runOnce();
    const made = asked.filter((a) => a.startsWith('link'));
    expect(made).toEqual([`link 3 3600 ${uri(2)} via sip:127.0.0.1:5060 mt=10000`, `link 3 3600 ${uri(1)} via sip:127.0.0.1:5060 mt=10000`]);
    asked = [];
    // Nothing shows in the conferences (links counts stay 0) past the setup grace: both are made again.
    t += 6000;
    await rec.runOnce();
    expect(asked.filter((a) => a.startsWith('unlink'))).toHaveLength(4);
    expect(asked.filter((a) => a.startsWith('link'))).toHaveLength(2);
    asked = [];
    // Node 2 dies: its link is dropped on the survivor's side only, no new link is needed for it.
    const links = (await rooms.get('3600'))!.links!;
    await rooms.recordHalf('3600', { nodeId: uuid(3), conferenceUuid: 'c3', members: 6, links: 2, seq: 2, at: t });
    await rooms.recordHalf('3600', { nodeId: uuid(1), conferenceUuid: 'c1', members: 3, links: 1, seq: 2, at: t });
    await ingestNodeMessage(registry, left(2), now, membership);
    await rec.runOnce();
    const toTwo = links.find((l) => l.to === uuid(2))!;
    expect(asked).toEqual([`unlink 3 3600 ${toTwo.linkId}`]);
    expect((await rooms.get('3600'))!.links!.map((l) => l.to)).toEqual([uuid(1)]);
  });
});
