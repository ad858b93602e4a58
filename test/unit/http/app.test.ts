import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../src/http/app.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { InMemoryNodeRegistry } from '../../../src/registry/nodeRegistry.js';
import { FakeKamailio, FakeStore } from '../reconciler/fakes.js';
import { node, policy } from '../core/fixtures.js';
import { desiredSets, flattenSets } from '../../../src/core/dispatcher.js';

const managed = new Set([1, 2, 3]);

describe('HTTP API', () => {
  let app: FastifyInstance;
  let registry: InMemoryNodeRegistry;
  let kam: FakeKamailio;
  let down: FakeKamailio;
  let store: FakeStore;
  let redisOk = true;

  beforeEach(async () => {
    registry = new InMemoryNodeRegistry();
    await registry.put(node(1), undefined, 1000);
    await registry.put(node(2, { state: 'gone', goneReason: 'expired' }), undefined, 1000);
    store = new FakeStore(managed);
    kam = new FakeKamailio('http://k1/RPC', store, 0, () => 0);
    down = new FakeKamailio('http://k2/RPC', store, 0, () => 0);
    down.down = true;
    redisOk = true;
    app = await buildApp({
      registry, kamailios: [kam, down], policy, managedSets: managed, metrics: createMetrics(), version: '9.9.9',
      readiness: { redis: () => (redisOk ? Promise.resolve() : Promise.reject(new Error('ECONNREFUSED'))), postgres: () => Promise.resolve() },
    });
  });
  afterEach(() => app.close());

  it('GET /v1/nodes lists every node with its state and priority', async () => {
    const res = await app.inject('/v1/nodes');
    expect(res.statusCode).toBe(200);
    const body = res.json<{ nodes: { nodeId: string; state: string; priority: number; goneReason?: string }[] }>();
    expect(body.nodes.map((n) => [n.nodeId, n.state, n.priority, n.goneReason])).toEqual([
      [node(1).nodeId, 'active', 1, undefined],
      [node(2).nodeId, 'gone', 2, 'expired'],
    ]);
  });

  it('GET /v1/nodes/{id} returns one node, 404 for an unknown one, 400 for a malformed id', async () => {
    expect((await app.inject(`/v1/nodes/${node(1).nodeId}`)).json()).toMatchObject({ sipUri: 'sip:10.0.0.1:5080', hostname: 'fs1' });
    const missing = await app.inject('/v1/nodes/11111111-1111-4111-8111-111111111111');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: 'not-found' });
    const bad = await app.inject('/v1/nodes/not-a-uuid');
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ message: string }>().message).toMatch(/nodeId/);
  });

  it('GET /v1/dispatcher shows desired sets and each Kamailio: in sync, drifting or unreachable', async () => {
    const rows = flattenSets(desiredSets(await registry.list(), policy));
    await store.sync(() => rows);
    let body = (await app.inject('/v1/dispatcher')).json<{ desired: { setId: number; destinations: unknown[] }[]; kamailios: { kamailio: string; status: string; missing?: unknown[]; error?: string }[] }>();
    expect(body.desired.map((s) => [s.setId, s.destinations.length])).toEqual([[1, 1], [2, 1], [3, 1]]);
    expect(body.kamailios.map((k) => [k.kamailio, k.status, k.missing?.length])).toEqual([
      ['http://k1/RPC', 'drift', 3],
      ['http://k2/RPC', 'unreachable', undefined],
    ]);
    expect(body.kamailios[1]!.error).toMatch(/ECONNREFUSED/);
    await kam.reload();
    body = (await app.inject('/v1/dispatcher')).json();
    expect(body.kamailios[0]!.status).toBe('in-sync');
  });

  it('/readyz is 503 naming the failing dependency, 200 when all are usable', async () => {
    redisOk = false;
    const res = await app.inject('/readyz');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ ready: false, checks: { redis: { ok: false, detail: 'ECONNREFUSED' }, postgres: { ok: true } } });
    redisOk = true;
    expect((await app.inject('/readyz')).statusCode).toBe(200);
  });

  it('serves metrics, liveness, and an OpenAPI document describing the routes', async () => {
    expect((await app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    const metrics = await app.inject('/metrics');
    expect(metrics.body).toMatch(/^# HELP sbc_nats_messages_rejected_total/m);
    const doc = (await app.inject('/openapi.json')).json<{ openapi: string; info: { version: string }; paths: Record<string, unknown> }>();
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.version).toBe('9.9.9');
    expect(Object.keys(doc.paths).sort()).toEqual(['/healthz', '/metrics', '/readyz', '/v1/dispatcher', '/v1/nodes', '/v1/nodes/{nodeId}']);
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await app.inject('/v2/nothing');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'not-found' });
  });
});
