import { Type } from '@sinclair/typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { RouteMethods } from '../../../src/http/routeConventions.js';
import { node } from '../core/fixtures.js';
import { testApp, type TestApp } from './harness.js';

const id = node(1).nodeId;

describe('HTTP 405 with Allow, from the registered routes', () => {
  let t: TestApp;
  afterEach(() => t.app.close());

  it('a known path with the wrong method is 405 listing the methods it has (GET implies HEAD), not 404', async () => {
    t = await testApp();
    const res = await t.app.inject({ method: 'POST', url: '/v1/nodes' });
    expect([res.statusCode, res.headers.allow, res.json<unknown>()]).toEqual([
      405,
      'GET, HEAD',
      { error: 'method-not-allowed', message: 'POST is not allowed on /v1/nodes; allowed: GET, HEAD' },
    ]);
    const withParam = await t.app.inject({ method: 'PUT', url: `/v1/nodes/${id}?x=1` });
    expect([withParam.statusCode, withParam.headers.allow]).toEqual([405, 'GET, HEAD']);
    // HEAD is really served where Allow says so.
    const head = await t.app.inject({ method: 'HEAD', url: '/readyz' });
    expect(head.statusCode).toBe(200);
    // A path no route has is still 404, without Allow.
    const unknown = await t.app.inject({ method: 'POST', url: '/v1/nodes/x/y' });
    expect([unknown.statusCode, unknown.headers.allow, unknown.json<unknown>()]).toEqual([
      404,
      undefined,
      { error: 'not-found', message: 'no route POST /v1/nodes/x/y' },
    ]);
  });

  it('a route added later, in its own plugin, gets 405 for free; none of it shows in OpenAPI', async () => {
    t = await testApp();
    void t.app.register((plugin, _opts, done) => {
      plugin.post('/v1/nodes/:nodeId/reboot', (_req, reply) => reply.code(202).send({ rebooting: true }));
      done();
    });
    expect((await t.app.inject({ method: 'POST', url: `/v1/nodes/${id}/reboot` })).statusCode).toBe(202);
    const res = await t.app.inject({ method: 'GET', url: `/v1/nodes/${id}/reboot` });
    expect([res.statusCode, res.headers.allow, res.json<unknown>()]).toEqual([
      405,
      'POST',
      { error: 'method-not-allowed', message: `GET is not allowed on /v1/nodes/${id}/reboot; allowed: POST` },
    ]);
    const doc = (await t.app.inject('/openapi.json')).json<{ paths: Record<string, Record<string, unknown>> }>();
    expect(Object.keys(doc.paths['/v1/nodes']!)).toEqual(['get']);
    expect(Object.keys(doc.paths['/v1/nodes/{nodeId}/reboot']!)).toEqual(['post']);
  });

  it('RouteMethods matches concrete paths against find-my-way patterns, literals taken literally', () => {
    const r = new RouteMethods();
    r.add('/v1/nodes/:nodeId', ['GET']);
    r.add('/v1/nodes/:nodeId', ['DELETE']);
    r.add('/openapi.json', ['GET']);
    r.add('/static/*', ['GET', 'POST']);
    r.add('/v1/rooms/:room(^\\d+)-:shard', ['PUT']);
    expect(r.allowed('/v1/nodes/abc')).toEqual(['DELETE', 'GET', 'HEAD']);
    expect(r.allowed('/v1/nodes/abc/def')).toEqual([]);
    expect(r.allowed('/v1/nodes')).toEqual([]);
    expect(r.allowed('/openapi.json')).toEqual(['GET', 'HEAD']);
    expect(r.allowed('/openapiXjson')).toEqual([]);
    expect(r.allowed('/static/a/b.css')).toEqual(['GET', 'HEAD', 'POST']);
    expect(r.allowed('/v1/rooms/3001-2')).toEqual(['PUT']);
  });
});

describe('HTTP query parameters', () => {
  let t: TestApp;
  afterEach(() => t.app.close());

  const states = async (url: string) => {
    const res = await t.app.inject(url);
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ nodes: { nodeId: string; state: string }[] }>().nodes.map((n) => [n.nodeId, n.state]);
  };

  it('GET /v1/nodes?state= filters by state: one, comma-separated, or repeated', async () => {
    t = await testApp();
    expect(await states('/v1/nodes?state=active')).toEqual([[node(1).nodeId, 'active']]);
    expect(await states('/v1/nodes?state=gone,joining')).toEqual([[node(2).nodeId, 'gone'], [node(3).nodeId, 'joining']]);
    expect(await states('/v1/nodes?state=joining&state=active')).toEqual([[node(1).nodeId, 'active'], [node(3).nodeId, 'joining']]);
    expect(await states('/v1/nodes?state=draining')).toEqual([]);
    expect(await states('/v1/nodes')).toHaveLength(3);
    const pattern = '"^(joining|active|draining|drained|gone)(,(joining|active|draining|drained|gone))*$"';
    for (const bad of ['state=', 'state=active,', 'state=Active', 'state=active&state=busy']) {
      const res = await t.app.inject(`/v1/nodes?${bad}`);
      expect([res.statusCode, res.json<unknown>()], bad).toEqual([
        400,
        { error: 'bad-request', message: `querystring/state${bad.includes('&') ? '/1' : ''} must match pattern ${pattern}` },
      ]);
    }
  });

  it('every route refuses a query parameter it does not declare, naming it', async () => {
    t = await testApp();
    const doc = (await t.app.inject('/openapi.json')).json<{ paths: Record<string, Record<string, unknown>> }>();
    // Query parameters concern the GET routes (the POST-only ones answer GET with 405).
    const paths = [...Object.keys(doc.paths).filter((p) => doc.paths[p]!.get !== undefined).map((p) => p.replace('{nodeId}', id).replace('{room}', '3000').replace('{id}', 'c1%40h')), '/openapi.json'].sort();
    expect(paths).toHaveLength(18);
    const answers = await Promise.all(paths.map(async (p) => [p, (await t.app.inject(`${p}?verbose=1`)).json<unknown>()]));
    expect(answers).toEqual(
      paths.map((p) => [
        p,
        { error: 'unknown-parameter', message: `unknown query parameter "verbose"; this route takes ${p === '/v1/nodes' ? 'state' : p === '/v1/calls' ? 'node, room, from, to, cause, limit, cursor' : p === '/v1/operations' ? 'kind, target, limit, cursor' : 'none'}` },
      ]),
    );
    const status = await t.app.inject('/healthz?verbose=1');
    expect(status.statusCode).toBe(400);
  });

  it('a route whose querystring schema would let unknown parameters through is refused at registration', async () => {
    t = await testApp();
    expect(() =>
      t.app.get('/v1/lenient', { schema: { querystring: Type.Object({ q: Type.Optional(Type.String()) }) } }, () => ({})),
    ).toThrow('route /v1/lenient: its querystring schema must set additionalProperties: false (unknown parameters are refused)');
  });
});
