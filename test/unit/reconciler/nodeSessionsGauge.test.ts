import { describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../../../src/metrics/metrics.js';
import { Reconciler } from '../../../src/reconciler/reconciler.js';
import { ingestNodeMessage } from '../../../src/registry/membership.js';
import type { NodeMessage } from '../../../src/events/schemas.js';
import { FakeStore } from '../../fakes/fakeDispatcherStore.js';
import { FakeKamailio } from '../../fakes/fakeKamailio.js';
import { InMemoryNodeRegistry } from '../../fakes/inMemoryNodeRegistry.js';
import { silentLogger } from '../../fakes/silentLogger.js';
import { policy } from '../core/fixtures.js';

const managed = new Set([1, 2, 3]);
const membership = { heartbeatMisses: 3, goneRetentionMs: 60_000, maxClockSkewMs: 60_000 };
const uuid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const joined = (n: number, sessions: number, capacity: number): NodeMessage => ({
  kind: 'joined',
  msg: { v: 1, nodeId: uuid(n), seq: 1, sentAt: 0, sipUri: `sip:10.0.0.${n}:5080`, hostname: `fs${n}`, capacity, sessions, agentVersion: '1', heartbeatIntervalMs: 2000, reason: 'start' },
});
const left = (n: number, seq: number): NodeMessage => ({ kind: 'left', msg: { v: 1, nodeId: uuid(n), seq, sentAt: 0, reason: 'agent-stopping' } });

async function series(metrics: Metrics, name: 'sbc_node_sessions' | 'sbc_node_capacity'): Promise<Record<string, number>> {
  const values = (await metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
  return Object.fromEntries(values.map((v) => [String(v.labels.node), v.value]));
}

describe('node gauges: calls and capacity per node', () => {
  it('each live node shows the sessions and capacity it last reported; a node that left shows none', async () => {
    const t = 1_000_000;
    const registry = new InMemoryNodeRegistry();
    const store = new FakeStore(managed);
    const metrics = createMetrics();
    const rec = new Reconciler({
      registry, store, kamailios: [new FakeKamailio('k1', store, 1000, () => t)], policy, managedSets: managed, membership,
      reloadDeltaMs: 1000, resyncMs: 10_000, unknownNodeGraceMs: 5000, logger: silentLogger, metrics, now: () => t,
    });
    await ingestNodeMessage(registry, joined(1, 7, 100), () => t, membership);
    await ingestNodeMessage(registry, joined(2, 0, 50), () => t, membership);
    await rec.runOnce();
    expect(await series(metrics, 'sbc_node_sessions')).toEqual({ [uuid(1)]: 7, [uuid(2)]: 0 });
    expect(await series(metrics, 'sbc_node_capacity')).toEqual({ [uuid(1)]: 100, [uuid(2)]: 50 });

    await ingestNodeMessage(registry, left(2, 2), () => t, membership);
    await rec.runOnce();
    expect((await registry.get(uuid(2)))?.state).toBe('gone');
    expect(await series(metrics, 'sbc_node_sessions')).toEqual({ [uuid(1)]: 7 });
    expect(await series(metrics, 'sbc_node_capacity')).toEqual({ [uuid(1)]: 100 });
  });
});
