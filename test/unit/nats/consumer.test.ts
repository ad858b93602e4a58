import { describe, expect, it, vi } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { NodeMessageConsumer } from '../../../src/nats/nodeMessageConsumer.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { InMemoryNodeRegistry } from '../../../src/registry/nodeRegistry.js';
import { subjects } from '../../../src/events/subjects.js';
import { silentLogger } from '../reconciler/fakes.js';

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
    nats: {} as NatsConnection, subjects: s, registry, metrics, logger: silentLogger, instanceId: 'test',
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
});
