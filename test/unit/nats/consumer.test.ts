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

function setup() {
  const registry = new InMemoryNodeRegistry();
  const metrics = createMetrics();
  const onMembershipChange = vi.fn();
  const consumer = new NodeMessageConsumer({
    nats: {} as NatsConnection, subjects: s, registry, metrics, logger: silentLogger, instanceId: 'test',
    membership: { heartbeatMisses: 3, goneRetentionMs: 1000 }, onMembershipChange, now: () => 10_000,
  });
  return { registry, metrics, consumer, onMembershipChange };
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
});
