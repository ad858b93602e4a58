import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { node } from '../core/fixtures.js';
import { testApp, type TestApp } from './harness.js';

describe('HTTP API', () => {
  let t: TestApp;
  let redisOk = true;

  beforeEach(async () => {
    redisOk = true;
    t = await testApp({
      readiness: { redis: () => (redisOk ? Promise.resolve() : Promise.reject(new Error('ECONNREFUSED'))), postgres: () => Promise.resolve() },
    });
  });
  afterEach(() => t.app.close());

  it('GET /v1/nodes lists every node with its state and priority', async () => {
    const res = await t.app.inject('/v1/nodes');
    expect(res.statusCode).toBe(200);
    const body = res.json<{ nodes: { nodeId: string; state: string; priority: number; goneReason?: string }[] }>();
    expect(body.nodes.map((n) => [n.nodeId, n.state, n.priority, n.goneReason])).toEqual([
      [node(1).nodeId, 'active', 1, undefined],
      [node(2).nodeId, 'gone', 2, 'expired'],
      [node(3).nodeId, 'joining', 3, undefined],
    ]);
  });

  it('GET /v1/nodes/{id} returns one node, 404 for an unknown one, 400 for a malformed id', async () => {
    expect((await t.app.inject(`/v1/nodes/${node(1).nodeId}`)).json()).toMatchObject({ sipUri: 'sip:10.0.0.1:5080', hostname: 'fs1' });
    const missing = await t.app.inject('/v1/nodes/11111111-1111-4111-8111-111111111111');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: 'not-found', message: 'no node 11111111-1111-4111-8111-111111111111' });
    const bad = await t.app.inject('/v1/nodes/not-a-uuid');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({
      error: 'bad-request',
      message: 'params/nodeId must match pattern "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"',
    });
  });

  it('GET /v1/dispatcher shows the last pass: desired sets and each Kamailio as last seen (in sync, drifting, unreachable), making no RPC', async () => {
    type View = {
      pass: { id: number; at: string; ok: boolean } | null;
      desired: { setId: number; destinations: { destination: string }[] }[];
      keptForUnknownNodes: number;
      kamailios: { kamailio: string; status: string; observedAt?: string; missing?: unknown[]; error?: string; marks?: unknown[] }[];
    };
    let body = (await t.app.inject('/v1/dispatcher')).json<View>();
    expect(body.pass).toBeNull();
    expect(body.kamailios.map((k) => [k.kamailio, k.status])).toEqual([['http://k1/RPC', 'not-observed'], ['http://k2/RPC', 'not-observed']]);

    await t.reconciler.runOnce();
    body = (await t.app.inject('/v1/dispatcher')).json<View>();
    expect(body.pass).toEqual({ id: 1, at: new Date(1000).toISOString(), ok: true });
    expect(body.desired.map((s) => [s.setId, s.destinations.length])).toEqual([[1, 2], [2, 2], [3, 2]]);
    expect(body.kamailios.map((k) => [k.kamailio, k.status, k.observedAt])).toEqual([
      ['http://k1/RPC', 'in-sync', new Date(1000).toISOString()],
      ['http://k2/RPC', 'unreachable', new Date(1000).toISOString()],
    ]);
    expect(body.kamailios[1]!.error).toMatch(/ECONNREFUSED/);

    // A node joins; the reload window is closed, so the next pass leaves k1 drifting.
    await t.registry.put(node(4), undefined, 1000);
    await t.reconciler.runOnce();
    t.kamailios.forEach((k) => (k.calls = []));
    body = (await t.app.inject('/v1/dispatcher')).json<View>();
    expect(body.pass?.id).toBe(2);
    expect(body.kamailios.map((k) => [k.status, k.missing?.length])).toEqual([['drift', 3], ['unreachable', undefined]]);
    expect(body.kamailios[0]!.marks).toEqual([]);
    expect(t.kamailios.map((k) => k.calls)).toEqual([[], []]);
  });

  it('GET /v1/cluster shows this replica, its role, the epoch, the leader and every replica (from the last renew)', async () => {
    const body = (await t.app.inject('/v1/cluster')).json<unknown>();
    expect(body).toEqual({
      replicaId: 'cp-a',
      role: 'leader',
      epoch: 7,
      leaderId: 'cp-a',
      replicas: [
        { replicaId: 'cp-a', order: 1, role: 'leader', lastSeenMsAgo: 0, live: true },
        { replicaId: 'cp-b', order: 2, role: 'follower', lastSeenMsAgo: 413, live: true },
      ],
    });
    const follower = await testApp({ cluster: { status: () => ({ replicaId: 'cp-b', role: 'follower', epoch: null, leaderId: null, replicas: [] }) } });
    expect((await follower.app.inject('/v1/cluster')).json()).toEqual({ replicaId: 'cp-b', role: 'follower', epoch: null, leaderId: null, replicas: [] });
    await follower.app.close();
  });

  it('/readyz is 503 naming the failing dependency, 200 when all are usable', async () => {
    redisOk = false;
    const res = await t.app.inject('/readyz');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ ready: false, checks: { redis: { ok: false, detail: 'ECONNREFUSED' }, postgres: { ok: true } } });
    redisOk = true;
    const ok = await t.app.inject('/readyz');
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ ready: true, checks: { redis: { ok: true }, postgres: { ok: true } } });
  });

  it('serves metrics, liveness, and an OpenAPI document describing the routes', async () => {
    expect((await t.app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    const metrics = await t.app.inject('/metrics');
    expect(metrics.body).toMatch(/^# HELP sbc_nats_messages_rejected_total/m);
    const doc = (await t.app.inject('/openapi.json')).json<{ openapi: string; info: { version: string }; paths: Record<string, unknown> }>();
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.version).toBe('9.9.9');
    expect(Object.keys(doc.paths).sort()).toEqual(['/healthz', '/metrics', '/readyz', '/v1/calls', '/v1/calls/{id}', '/v1/cluster', '/v1/dispatcher', '/v1/nodes', '/v1/nodes/{nodeId}', '/v1/nodes/{nodeId}/drain', '/v1/nodes/{nodeId}/status', '/v1/nodes/{nodeId}/undrain', '/v1/operations', '/v1/rooms', '/v1/rooms/{room}', '/v1/rooms/{room}/policy', '/v1/scale', '/v1/tokens', '/v1/tokens/{id}']);
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await t.app.inject('/v2/nothing');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'not-found', message: 'no route GET /v2/nothing' });
  });
});
