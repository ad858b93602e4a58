import { describe, expect, it, vi } from 'vitest';
import { NodeMessageConsumer } from '../../../src/nats/nodeMessageConsumer.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { FakeMessageBus } from '../../fakes/fakeMessageBus.js';
import { InMemoryNodeRegistry } from '../../fakes/inMemoryNodeRegistry.js';
import { subjects } from '../../../src/events/subjects.js';
import { checkers } from '../../../src/events/schemas.js';
import { encodeMessage } from '../../../src/events/codec.js';
import { v1NodeMessages, v1Reannounce } from '../../fixtures/nats/v1.js';
import { silentLogger } from '../../fakes/silentLogger.js';

const s = subjects('sbc');
const id = '858bc0bf-fea0-4ae3-aed6-d8303ec5ad26';
const facts = { v: 1, nodeId: id, sentAt: 1, sipUri: 'sip:127.0.0.1:5080', hostname: 'vm', capacity: 1000, sessions: 0, agentVersion: '0.1.0', heartbeatIntervalMs: 2000 };
const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

function setup(opts: { kamailioAddresses?: readonly string[] } = {}) {
  const registry = new InMemoryNodeRegistry();
  const metrics = createMetrics();
  const onMembershipChange = vi.fn();
  const clock = { t: 10_000 };
  const consumer = new NodeMessageConsumer({
    bus: new FakeMessageBus(), subjects: s, registry, metrics, logger: silentLogger, instanceId: 'test',
    membership: { heartbeatMisses: 3, goneRetentionMs: 1000, maxClockSkewMs: 60_000 }, onMembershipChange, now: () => clock.t,
    isKamailioAddress: (uri) => (opts.kamailioAddresses ?? []).includes(uri),
  });
  return { registry, metrics, consumer, onMembershipChange, clock };
}

const count = async (metrics: ReturnType<typeof createMetrics>, name: string) =>
  Object.fromEntries((await metrics.registry.getSingleMetric(name)!.get()).values.map((v) => [Object.values(v.labels).join('/'), v.value]));

describe('NodeMessageConsumer', () => {
  it('stores a valid join and triggers a reconcile', async () => {
    const { registry, consumer, onMembershipChange, metrics } = setup();
    await consumer.handle(s.node(id, 'joined'), enc({ ...facts, seq: 1, reason: 'start' }));
    expect(await registry.get(id)).toMatchObject({ state: 'joining', sipUri: 'sip:127.0.0.1:5080', expiresAt: 16_000 });
    expect(onMembershipChange).toHaveBeenCalledTimes(1);
    expect(onMembershipChange).toHaveBeenLastCalledWith(false);
    expect(await count(metrics, 'sbc_nats_messages_total')).toEqual({ 'joined/created': 1 });
  });

  it('does not trigger a reconcile for a heartbeat that only moves the deadline', async () => {
    const { consumer, onMembershipChange } = setup();
    await consumer.handle(s.node(id, 'joined'), enc({ ...facts, seq: 1, reason: 'start' }));
    await consumer.handle(s.node(id, 'heartbeat'), enc({ ...facts, seq: 2, sessions: 5 }));
    expect(onMembershipChange).toHaveBeenCalledTimes(1);
    await consumer.handle(s.node(id, 'heartbeat'), enc({ ...facts, seq: 3, capacity: 2000 }));
    expect(onMembershipChange).toHaveBeenCalledTimes(2);
  });

  it('a draining node\'s first report of no calls asks for a pass (to drain it now); further ones do not', async () => {
    const { registry, consumer, onMembershipChange, clock } = setup();
    await consumer.handle(s.node(id, 'joined'), enc({ ...facts, seq: 1, reason: 'start', sessions: 3 }));
    const n = (await registry.get(id))!;
    clock.t += 100;
    await registry.put({ ...n, state: 'draining', stateChangedAt: clock.t, rev: n.rev + 1 }, n.rev);
    onMembershipChange.mockClear();
    clock.t += 100;
    await consumer.handle(s.node(id, 'heartbeat'), enc({ ...facts, seq: 2, sessions: 1 }));
    expect(onMembershipChange).not.toHaveBeenCalled();
    clock.t += 100;
    await consumer.handle(s.node(id, 'heartbeat'), enc({ ...facts, seq: 3, sessions: 0 }));
    expect(onMembershipChange.mock.calls).toEqual([[false]]);
    clock.t += 100;
    await consumer.handle(s.node(id, 'heartbeat'), enc({ ...facts, seq: 4, sessions: 0 }));
    expect(onMembershipChange.mock.calls).toEqual([[false]]);
  });

  it('marks a leave as urgent (it cannot wait for a reload window) and a join as not', async () => {
    const { consumer, onMembershipChange } = setup();
    await consumer.handle(s.node(id, 'joined'), enc({ ...facts, seq: 1, reason: 'start' }));
    await consumer.handle(s.node(id, 'left'), enc({ v: 1, nodeId: id, seq: 2, sentAt: 2, reason: 'agent-stopping' }));
    expect(onMembershipChange.mock.calls).toEqual([[false], [true]]);
  });

  it('drops and counts every bad message without touching the registry', async () => {
    const { registry, consumer, onMembershipChange, metrics } = setup();
    await consumer.handle('sbc.node.x', enc(facts));
    await consumer.handle(s.node(id, 'joined'), new TextEncoder().encode('not json'));
    await consumer.handle(s.node(id, 'joined'), enc({ ...facts, seq: 1 }));
    await consumer.handle(s.node(id, 'joined'), enc({ ...facts, seq: 1, reason: 'start', sipUri: 'sip:1.2.3.4\r\n2 sip:evil' }));
    expect(await registry.list()).toEqual([]);
    expect(onMembershipChange).not.toHaveBeenCalled();
    expect(await count(metrics, 'sbc_nats_messages_rejected_total')).toEqual({ subject: 1, json: 1, schema: 1, 'sip-uri': 1 });
  });

  it('counts a replayed (stale) message as rejected', async () => {
    const { consumer, metrics } = setup();
    await consumer.handle(s.node(id, 'joined'), enc({ ...facts, seq: 5, reason: 'start' }));
    await consumer.handle(s.node(id, 'heartbeat'), enc({ ...facts, seq: 4 }));
    expect(await count(metrics, 'sbc_nats_messages_rejected_total')).toEqual({ stale: 1 });
  });

  it('counts a registry failure instead of throwing', async () => {
    const { registry, consumer, metrics } = setup();
    registry.get = () => Promise.reject(new Error('ECONNRESET'));
    await expect(consumer.handle(s.node(id, 'joined'), enc({ ...facts, seq: 1, reason: 'start' }))).resolves.toBeUndefined();
    expect(await count(metrics, 'sbc_nats_messages_rejected_total')).toEqual({ 'registry-error': 1 });
  });

  describe('forged or hostile messages', () => {
    const other = '11111111-2222-4333-8444-555555555555';

    it('refuses a seq implausibly far ahead, so the real messages of that node stay current', async () => {
      const { registry, consumer, metrics } = setup();
      await consumer.handle(s.node(id, 'joined'), enc({ ...facts, seq: 5000, reason: 'start' }));
      await consumer.handle(s.node(id, 'heartbeat'), enc({ ...facts, seq: Number.MAX_SAFE_INTEGER }));
      await consumer.handle(s.node(id, 'heartbeat'), enc({ ...facts, seq: 5001, sessions: 7 }));
      expect(await registry.get(id)).toMatchObject({ seq: 5001, sessions: 7 });
      expect(await count(metrics, 'sbc_nats_messages_rejected_total')).toEqual({ 'seq-ahead': 1 });
    });

    it("refuses a new node claiming a live node's address, and leaves the live node alone", async () => {
      const { registry, consumer, metrics, onMembershipChange, clock } = setup();
      await consumer.handle(s.node(id, 'joined'), enc({ ...facts, seq: 1, reason: 'start' }));
      clock.t += 1000;
      await consumer.handle(s.node(other, 'joined'), enc({ ...facts, nodeId: other, seq: 1, reason: 'start' }));
      clock.t += 1000;
      await consumer.handle(s.node(id, 'heartbeat'), enc({ ...facts, seq: 2 }));
      expect(await registry.get(other)).toBeUndefined();
      expect(await registry.get(id)).toMatchObject({ state: 'joining', seq: 2 });
      expect(await count(metrics, 'sbc_nats_messages_rejected_total')).toEqual({ 'address-in-use': 1 });
      expect(onMembershipChange.mock.calls).toEqual([[false]]);
    });

    it('lets a new node take the address once the old one missed a heartbeat (FreeSWITCH restarted with its agent down)', async () => {
      const { registry, consumer, metrics, onMembershipChange, clock } = setup();
      await consumer.handle(s.node(id, 'joined'), enc({ ...facts, seq: 1, reason: 'start' }));
      clock.t += 3001; // 1.5 heartbeat intervals of silence, plus one ms
      await consumer.handle(s.node(other, 'joined'), enc({ ...facts, nodeId: other, seq: 1, reason: 'start' }));
      expect(await registry.get(other)).toMatchObject({ state: 'joining', sipUri: facts.sipUri });
      expect(await registry.get(id)).toMatchObject({ state: 'gone', goneReason: 'superseded' });
      expect(await count(metrics, 'sbc_node_transitions_total')).toEqual({ 'gone/superseded': 1 });
      expect(onMembershipChange).toHaveBeenLastCalledWith(true);
    });

    it("refuses a node at a Kamailio's own address", async () => {
      const { registry, consumer, metrics } = setup({ kamailioAddresses: ['sip:127.0.0.1:5060'] });
      await consumer.handle(s.node(id, 'joined'), enc({ ...facts, seq: 1, reason: 'start', sipUri: 'sip:127.0.0.1' }));
      expect(await registry.list()).toEqual([]);
      expect(await count(metrics, 'sbc_nats_messages_rejected_total')).toEqual({ 'kamailio-address': 1 });
    });

    it('takes a node that reports a blocker out of new calls at once (urgent)', async () => {
      const { registry, consumer, onMembershipChange } = setup();
      await consumer.handle(s.node(id, 'joined'), enc({ ...facts, seq: 1, reason: 'start' }));
      await consumer.handle(s.node(id, 'heartbeat'), enc({ ...facts, seq: 2, blockers: ['inbound-paused'] }));
      expect(await registry.get(id)).toMatchObject({ blockers: ['inbound-paused'], health: 'critical' });
      await consumer.handle(s.node(id, 'heartbeat'), enc({ ...facts, seq: 3, blockers: [] }));
      expect(await registry.get(id)).toMatchObject({ blockers: [], health: 'healthy' });
      expect(onMembershipChange.mock.calls).toEqual([[false], [true], [false]]);
    });
  });

  describe('rolling upgrades', () => {
    const captures = v1NodeMessages();
    /** Feeds the captured v1 agent, each message at the time it was sent, through a fresh consumer. */
    const replay = async (change: (body: Record<string, unknown>) => object) => {
      const t = setup();
      const records = [];
      for (const c of captures) {
        t.clock.t = c.body.sentAt as number;
        await t.consumer.handle(s.node(c.nodeId, c.kind), encodeMessage(change(c.body)));
        records.push(await t.registry.get(c.nodeId));
      }
      return { ...t, records };
    };

    it('a v1 agent, byte for byte as captured, joins, heartbeats, reports blockers and leaves', async () => {
      const { metrics, registry, consumer, clock } = setup();
      const seen = [];
      for (const c of captures) {
        clock.t = c.body.sentAt as number;
        await consumer.handle(s.node(c.nodeId, c.kind), c.bytes);
        seen.push(await registry.get(c.nodeId));
      }
      expect(seen.map((r) => [r?.state, r?.sessions, r?.blockers])).toEqual([
        ['joining', 0, []],
        ['joining', 12, []],
        ['joining', 12, ['sip-profile-down', 'inbound-paused']],
        ['joining', 12, []],
        ['gone', 12, []],
      ]);
      expect(seen[0]).toMatchObject({ sipUri: 'sip:10.0.0.5:5080', hostname: 'fs-1', capacity: 1000, agentVersion: '0.1.0', heartbeatIntervalMs: 2000 });
      expect(await count(metrics, 'sbc_nats_messages_total')).toEqual({ 'joined/created': 1, 'heartbeat/updated': 2, 'joined/updated': 1, 'left/left': 1 });
      expect(await count(metrics, 'sbc_nats_messages_rejected_total')).toEqual({});
    });

    it('an agent one version ahead is accepted the same way, and what it added is not stored', async () => {
      const newer = { zone: 'eu-west-1', load: { cpu: 0.42 }, features: ['recording'] };
      const plain = await replay((body) => body);
      const ahead = await replay((body) => ({ ...body, ...newer }));
      expect(ahead.records).toStrictEqual(plain.records);
      expect(JSON.stringify(ahead.records)).not.toMatch(/zone|eu-west-1|load|features|recording/);
      expect(await count(ahead.metrics, 'sbc_nats_messages_rejected_total')).toEqual({});
    });

    it('a v2 message is refused as unsupported-version, counted, and never reaches the registry', async () => {
      const { metrics, registry, onMembershipChange } = await replay((body) => ({ ...body, v: 2 }));
      expect(await registry.list()).toEqual([]);
      expect(onMembershipChange).not.toHaveBeenCalled();
      expect(await count(metrics, 'sbc_nats_messages_rejected_total')).toEqual({ 'unsupported-version': captures.length });
    });

    it('the reannounce request it publishes has exactly the v1 fields, so a v1 agent (strict) accepts it', () => {
      const bus = new FakeMessageBus();
      const consumer = new NodeMessageConsumer({
        bus, subjects: s, registry: new InMemoryNodeRegistry(), metrics: createMetrics(), logger: silentLogger,
        instanceId: 'cp-1', membership: { heartbeatMisses: 3, goneRetentionMs: 1000, maxClockSkewMs: 60_000 }, onMembershipChange: vi.fn(),
      });
      consumer.requestReannounce();
      expect(bus.published).toHaveLength(1);
      const { subject, data } = bus.published[0]!;
      expect(subject).toBe(s.reannounce);
      const sent = JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>;
      expect(checkers.reannounce.Check(sent)).toBe(true);
      expect(Object.keys(sent).sort()).toEqual(Object.keys(v1Reannounce().body).sort());
    });
  });
});

describe('FakeMessageBus matches subjects as NATS does', () => {
  it('`*` is one token, `>` one or more; a queue group gets each message once', async () => {
    const { FakeMessageBus: Bus, subjectMatches } = await import('../../fakes/fakeMessageBus.js');
    expect(subjectMatches('sbc.node.*.*', 'sbc.node.abc.joined')).toBe(true);
    expect(subjectMatches('sbc.node.*.*', 'sbc.node.abc')).toBe(false);
    expect(subjectMatches('sbc.>', 'sbc.node.abc.joined')).toBe(true);
    expect(subjectMatches('sbc.>', 'sbc')).toBe(false);
    const bus = new Bus();
    const got: string[] = [];
    const a = bus.consume('x.*', { queue: 'g' }, (m) => (got.push(`a ${m.subject}`), Promise.resolve()));
    bus.consume('x.*', { queue: 'g' }, (m) => (got.push(`b ${m.subject}`), Promise.resolve()));
    bus.consume('x.>', {}, (m) => (got.push(`c ${m.subject}`), Promise.resolve()));
    bus.publish('x.1', new Uint8Array());
    await a.drain();
    bus.publish('x.2', new Uint8Array());
    await new Promise((r) => setTimeout(r, 0));
    expect(got.sort()).toEqual(['a x.1', 'b x.2', 'c x.1', 'c x.2']);
  });
});
