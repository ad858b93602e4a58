import { afterEach, describe, expect, it } from 'vitest';
import { formatToken, mintToken, secretDigest, type ApiScope } from '../../../src/core/apiTokens.js';
import { OPENABLE_PATHS, type OpenablePath } from '../../../src/config/apiAuth.js';
import { routeScopes, type ApiAuth } from '../../../src/http/auth.js';
import { InMemoryTokenStore } from '../../fakes/inMemoryTokenStore.js';
import { node } from '../core/fixtures.js';
import { CALLS_NOW, scrape, testApp, type TestApp } from './harness.js';

const BOOTSTRAP = 'bootstrap-secret-0123456789abcdef0123456789';
const nodeId = node(1).nodeId;

interface AuthApp extends TestApp {
  readonly tokens: InMemoryTokenStore;
  /** A token with these scopes, stored; its text. */
  token(scopes: ApiScope[], name?: string): Promise<string>;
  clock: { now: number };
}

async function authApp(over: Partial<ApiAuth> = {}): Promise<AuthApp> {
  const tokens = new InMemoryTokenStore();
  const clock = { now: CALLS_NOW };
  const t = await testApp({ tokens, now: () => clock.now, auth: { tokens, openPaths: OPENABLE_PATHS, bootstrapSha256: secretDigest(BOOTSTRAP), now: () => clock.now, ...over } });
  let n = 0;
  const token = async (scopes: ApiScope[], name = `t${++n}`) => {
    const parts = mintToken();
    await tokens.create({ id: parts.id, name, scopes, createdAt: clock.now, createdBy: 'test', secretSha256: secretDigest(parts.secret) });
    return formatToken(parts);
  };
  return { ...t, tokens, token, clock };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A concrete URL for a route pattern: path parameters filled with values the routes take. */
function concrete(url: string): string {
  return url
    .replace(':nodeId', nodeId)
    .replace(':room', '3000')
    .replace('/v1/tokens/:id', '/v1/tokens/0123456789abcdef')
    .replace('/v1/calls/:id', '/v1/calls/c1%40h')
    .replace(/\*$/, 'swagger-ui.css');
}

const RANK: Record<ApiScope, number> = { read: 1, operate: 2, admin: 3 };

describe('API tokens: every route declares its scope, one hook checks it', () => {
  let t: AuthApp;
  afterEach(() => t.app.close());

  it('every route of buildApp declares a scope: GETs read; drain, undrain, scale and room policy writes operate; tokens admin', async () => {
    t = await authApp();
    await t.app.ready();
    const routes = routeScopes(t.app);
    expect(routes.length).toBeGreaterThan(30);
    // Only the console's static assets declare none: they are answered without a token.
    expect(routes.filter((r) => r.scope === undefined).map((r) => [r.method, r.url, r.consoleAsset, r.open])).toEqual(
      ['/ui', '/ui/console.js', '/ui/console.css'].flatMap((url) => [['GET', url, true, true], ['HEAD', url, true, true]]),
    );
    const own = routes.filter((r) => !r.url.startsWith('/docs') && !r.consoleAsset);
    const byScope = (s: ApiScope) => own.filter((r) => r.scope === s).map((r) => `${r.method} ${r.url}`).sort();
    expect(byScope('operate')).toEqual([
      'DELETE /v1/rooms/:room/policy',
      'POST /v1/nodes/:nodeId/drain',
      'POST /v1/nodes/:nodeId/undrain',
      'POST /v1/scale',
      'PUT /v1/rooms/:room/policy',
    ]);
    expect(byScope('admin')).toEqual(['DELETE /v1/tokens/:id', 'GET /v1/tokens', 'HEAD /v1/tokens', 'POST /v1/tokens']);
    expect(own.filter((r) => r.scope === 'read').every((r) => r.method === 'GET' || r.method === 'HEAD')).toBe(true);
    expect(routes.filter((r) => r.url.startsWith('/docs')).every((r) => r.scope === 'read')).toBe(true);
  });

  it('every route that is not open refuses a request without a token (401, WWW-Authenticate: Bearer) and one lacking its scope (403), and serves one holding it', async () => {
    t = await authApp({ openPaths: [] });
    const tokens = { read: await t.token(['read']), operate: await t.token(['operate']), admin: await t.token(['admin']) };
    await t.app.ready();
    const routes = routeScopes(t.app).filter((r) => r.method !== 'HEAD' && !r.consoleAsset);
    expect(routes.length).toBeGreaterThan(30);
    expect(routes.every((r) => !r.open)).toBe(true);
    let refusedForScope = 0;
    for (const r of routes) {
      const url = concrete(r.url);
      const method = r.method as 'GET';
      const none = await t.app.inject({ method, url });
      expect([r.method, r.url, none.statusCode, none.headers['www-authenticate'], none.json<{ error: string }>().error]).toEqual([r.method, r.url, 401, 'Bearer realm="sbc"', 'unauthorized']);
      for (const held of ['read', 'operate', 'admin'] as const) {
        const res = await t.app.inject({ method, url, headers: bearer(tokens[held]) });
        const label = `${r.method} ${r.url} with ${held}`;
        if (RANK[held] < RANK[r.scope!]) {
          refusedForScope += 1;
          expect([label, res.statusCode, res.json<{ error: string }>().error], res.body).toEqual([label, 403, 'forbidden']);
          expect(res.headers['www-authenticate']).toBe(`Bearer realm="sbc", error="insufficient_scope", scope="${r.scope}"`);
        } else {
          expect([label, res.statusCode === 401 || res.statusCode === 403], res.body).toEqual([label, false]);
        }
      }
    }
    // operate routes refuse read; admin routes refuse read and operate.
    expect(refusedForScope).toBe(5 * 1 + 3 * 2);
  });

  it('health, readiness, metrics, the OpenAPI document and the docs UI are open by default, and protected when SBC_API_OPEN_PATHS leaves them out', async () => {
    t = await authApp();
    for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs', '/docs/json', '/docs/static/swagger-ui.css']) {
      expect([url, (await t.app.inject(url)).statusCode]).toEqual([url, 200]);
    }
    expect((await t.app.inject('/v1/nodes')).statusCode).toBe(401);
    await t.app.close();
    t = await authApp({ openPaths: ['/healthz'] satisfies OpenablePath[] });
    expect((await t.app.inject('/healthz')).statusCode).toBe(200);
    for (const url of ['/readyz', '/metrics', '/openapi.json', '/docs/json']) expect([url, (await t.app.inject(url)).statusCode]).toEqual([url, 401]);
    expect((await t.app.inject({ url: '/metrics', headers: bearer(await t.token(['read'])) })).statusCode).toBe(200);
  });

  it('a revoked, unknown, malformed or wrong-secret token is 401 invalid_token, each counted by outcome', async () => {
    t = await authApp();
    const good = await t.token(['read'], 'ci');
    expect((await t.app.inject({ url: '/v1/nodes', headers: bearer(good) })).statusCode).toBe(200);
    const id = good.slice(4, 20);
    const wrongSecret = `${good.slice(0, 21)}${good.at(21) === 'A' ? 'B' : 'A'}${good.slice(22)}`;
    const unknown = formatToken(mintToken());
    const cases: [Record<string, string>, string][] = [
      [bearer(unknown), 'unknown API token'],
      [bearer(wrongSecret), 'unknown API token'],
      [bearer('sbc_short'), 'not an API token (sbc_<id>_<secret>)'],
      [{ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, 'the Authorization header is not "Bearer <token>"'],
    ];
    for (const [headers, message] of cases) {
      const res = await t.app.inject({ url: '/v1/nodes', headers });
      expect([res.statusCode, res.json<unknown>(), res.headers['www-authenticate']]).toEqual([401, { error: 'unauthorized', message }, 'Bearer realm="sbc", error="invalid_token"']);
    }
    await t.tokens.revoke(id, CALLS_NOW + 5);
    const revoked = await t.app.inject({ url: '/v1/nodes', headers: bearer(good) });
    expect([revoked.statusCode, revoked.json<unknown>()]).toEqual([401, { error: 'unauthorized', message: `API token ${id} (ci) was revoked at ${new Date(CALLS_NOW + 5).toISOString()}` }]);
    const read = await t.token(['read']);
    expect((await t.app.inject({ method: 'POST', url: `/v1/nodes/${nodeId}/drain`, headers: bearer(read) })).statusCode).toBe(403);
    expect((await t.app.inject('/v1/nodes')).statusCode).toBe(401);
    const outcomes = Object.fromEntries((await t.metrics.apiAuth.get()).values.map((v) => [String(v.labels.outcome), v.value]));
    expect(outcomes).toEqual({ accepted: 1, unknown: 2, malformed: 2, revoked: 1, forbidden: 1, missing: 1 });
    expect(await scrape(t.app, 'sbc_api_auth_total', { outcome: 'unknown' })).toBe('sbc_api_auth_total{outcome="unknown"} 2');
  });

  it('a route registered without a scope fails the start while auth is on', async () => {
    t = await authApp();
    expect(() => t.app.get('/v1/forgotten', () => ({}))).toThrow("route GET /v1/forgotten declares no scope (config: { scope: 'read' | 'operate' | 'admin' })");
    expect(() => t.app.get('/v1/typo', { config: { scope: 'write' as ApiScope } }, () => ({}))).toThrow('route /v1/typo: scope "write" is not one of read, operate, admin');
  });

  it('the console\'s static assets are answered without a token even with nothing open; every data route, one under /ui too, still asks for one', async () => {
    t = await authApp({ openPaths: [] });
    // A data route someone puts under /ui without the mark: its scope holds, as anywhere.
    t.app.get('/ui/data', { config: { scope: 'read' } }, () => ({ secret: 1 }));
    const reader = await t.token(['read']);
    for (const url of ['/ui', '/ui/console.js', '/ui/console.css']) {
      const res = await t.app.inject(url);
      expect([url, res.statusCode, res.headers['www-authenticate']]).toEqual([url, 200, undefined]);
    }
    for (const [method, url] of [['GET', '/ui/data'], ['GET', '/v1/nodes'], ['GET', '/v1/calls'], ['GET', '/v1/rooms'], ['POST', `/v1/nodes/${nodeId}/drain`]] as const) {
      const res = await t.app.inject({ method, url });
      expect([method, url, res.statusCode, res.json<{ error: string }>().error]).toEqual([method, url, 401, 'unauthorized']);
    }
    expect((await t.app.inject({ url: '/ui/data', headers: bearer(reader) })).json()).toEqual({ secret: 1 });
    // An unknown path under the prefix is not an asset: 404, nothing served.
    expect((await t.app.inject('/ui/other.js')).statusCode).toBe(404);
    // Assets are not checked at all: no token outcome counted for them.
    const outcomes = Object.fromEntries((await t.metrics.apiAuth.get()).values.map((v) => [String(v.labels.outcome), v.value]));
    expect(outcomes).toEqual({ missing: 5, accepted: 1 });
    const scopes = routeScopes(t.app).filter((r) => r.url.startsWith('/ui'));
    expect(scopes.filter((r) => r.method === 'GET').map((r) => [r.url, r.scope, r.open, r.consoleAsset])).toEqual([
      ['/ui', undefined, true, true],
      ['/ui/console.js', undefined, true, true],
      ['/ui/console.css', undefined, true, true],
      ['/ui/data', 'read', false, false],
    ]);
  });

  it('the console-asset mark opens nothing but a GET under /ui without a scope: anything else fails the start', async () => {
    t = await authApp();
    expect(() => t.app.get('/v1/nodes2', { config: { consoleAsset: true } }, () => ({}))).toThrow('route GET /v1/nodes2: a console asset must be under /ui');
    expect(() => t.app.get('/uix', { config: { consoleAsset: true } }, () => ({}))).toThrow('route GET /uix: a console asset must be under /ui');
    expect(() => t.app.post('/ui/drain', { config: { consoleAsset: true } }, () => ({}))).toThrow('route POST /ui/drain: a console asset is answered to GET only');
    expect(() => t.app.get('/ui/both', { config: { consoleAsset: true, scope: 'read' } }, () => ({}))).toThrow('route GET /ui/both: a console asset declares no scope (it is answered without a token)');
  });

  it('the bootstrap secret is an admin token: it creates a token, which is shown once and audited as token:bootstrap; the new token acts as token:<name>', async () => {
    t = await authApp();
    const created = await t.app.inject({ method: 'POST', url: '/v1/tokens', headers: bearer(BOOTSTRAP), payload: { name: 'ops', scopes: ['operate'] } });
    expect(created.statusCode, created.body).toBe(201);
    const body = created.json<{ id: string; name: string; scopes: string[]; token: string }>();
    expect(body).toMatchObject({ name: 'ops', scopes: ['operate'] });
    expect(body.token).toMatch(new RegExp(`^sbc_${body.id}_[A-Za-z0-9_-]{43}$`));
    // Stored: the digest of the secret, never the secret.
    const row = t.tokens.rows.get(body.id)!;
    expect(Buffer.from(row.secretSha256)).toEqual(secretDigest(body.token.slice(21)));
    expect(JSON.stringify(await t.tokens.list())).not.toContain(body.token.slice(21));
    expect(t.operations.rows.map((o) => [o.kind, o.actor, o.target, o.detail])).toEqual([['token-create', 'token:bootstrap', body.id, { name: 'ops', scopes: ['operate'] }]]);

    const drained = await t.app.inject({ method: 'POST', url: `/v1/nodes/${nodeId}/drain`, headers: bearer(body.token) });
    // The scope let it through to the route, which refuses it on its own terms (this test app has no drain default).
    expect(drained.json<unknown>()).toEqual({ error: 'bad-request', message: 'body/deadline must be in the future (got )' });
    const scaled = await t.app.inject({ method: 'POST', url: '/v1/scale', headers: bearer(body.token), payload: { replicas: 1 } });
    expect(scaled.statusCode).toBe(409);
    expect((await t.app.inject({ url: '/v1/tokens', headers: bearer(body.token) })).statusCode).toBe(403);

    const list = await t.app.inject({ url: '/v1/tokens', headers: bearer(BOOTSTRAP) });
    expect(list.json<{ tokens: unknown[] }>().tokens).toEqual([
      { id: body.id, name: 'ops', scopes: ['operate'], createdAt: new Date(CALLS_NOW).toISOString(), createdBy: 'token:bootstrap', lastUsedAt: new Date(CALLS_NOW).toISOString(), revokedAt: null },
    ]);
    const again = await t.app.inject({ method: 'POST', url: '/v1/tokens', headers: bearer(BOOTSTRAP), payload: { name: 'ops', scopes: ['read'] } });
    expect([again.statusCode, again.json<unknown>()]).toEqual([409, { error: 'conflict', message: 'a token named ops exists (revoke it first, or choose another name)' }]);

    const revoked = await t.app.inject({ method: 'DELETE', url: `/v1/tokens/${body.id}`, headers: bearer(BOOTSTRAP) });
    expect([revoked.statusCode, revoked.json<{ revokedAt: string }>().revokedAt]).toEqual([200, new Date(CALLS_NOW).toISOString()]);
    expect((await t.app.inject({ url: '/v1/nodes', headers: bearer(body.token) })).statusCode).toBe(401);
    expect(t.operations.rows.map((o) => [o.kind, o.actor, o.target])).toEqual([
      ['token-create', 'token:bootstrap', body.id],
      ['token-revoke', 'token:bootstrap', body.id],
    ]);
    const missing = await t.app.inject({ method: 'DELETE', url: '/v1/tokens/0123456789abcdef', headers: bearer(BOOTSTRAP) });
    expect([missing.statusCode, missing.json<unknown>()]).toEqual([404, { error: 'not-found', message: 'no API token 0123456789abcdef' }]);
    const badBody = await t.app.inject({ method: 'POST', url: '/v1/tokens', headers: bearer(BOOTSTRAP), payload: { name: 'has space', scopes: [] } });
    expect(badBody.statusCode).toBe(400);
  });

  it('an operation asked with a token is audited as token:<name>', async () => {
    t = await authApp();
    const token = await t.token(['operate'], 'deployer');
    const res = await t.app.inject({ method: 'POST', url: '/v1/tokens', headers: bearer(token), payload: { name: 'x', scopes: ['read'] } });
    expect(res.statusCode).toBe(403);
    expect(res.json<{ message: string }>().message).toBe('token deployer (scopes operate) may not use POST /v1/tokens: it needs scope admin');
  });

  it('lastUsed is written at most once a minute per token', async () => {
    t = await authApp();
    const token = await t.token(['read']);
    const use = async () => expect((await t.app.inject({ url: '/v1/nodes', headers: bearer(token) })).statusCode).toBe(200);
    await use();
    t.clock.now += 59_999;
    await use();
    t.clock.now += 1;
    await use();
    await use();
    expect(t.tokens.touches.map(([, at]) => at - CALLS_NOW)).toEqual([0, 60_000]);
  });

  it('a token store that fails is a 500, counted as error, never an accepted request', async () => {
    t = await authApp();
    const token = await t.token(['read']);
    t.tokens.failWith = new Error('connection refused');
    const res = await t.app.inject({ url: '/v1/nodes', headers: bearer(token) });
    expect([res.statusCode, res.json<{ error: string }>().error]).toEqual([500, 'internal']);
    expect(await scrape(t.app, 'sbc_api_auth_total', { outcome: 'error' })).toBe('sbc_api_auth_total{outcome="error"} 1');
  });

  it('the OpenAPI document declares the bearer scheme, and each route its security: none on open paths', async () => {
    t = await authApp({ openPaths: ['/healthz', '/openapi.json'] });
    const doc = (await t.app.inject('/openapi.json')).json<{ components: { securitySchemes: Record<string, unknown> }; paths: Record<string, Record<string, { security?: unknown; description?: string }>> }>();
    expect(doc.components.securitySchemes).toEqual({ bearerToken: { type: 'http', scheme: 'bearer', description: expect.stringContaining('sbc_<id>_<secret>') as unknown } });
    expect(doc.paths['/healthz']!.get!.security).toEqual([]);
    expect(doc.paths['/metrics']!.get!.security).toEqual([{ bearerToken: [] }]);
    expect(doc.paths['/v1/nodes/{nodeId}/drain']!.post!.description).toBe('Needs a token with scope `operate` (or a scope above it).');
    const operations = Object.values(doc.paths).flatMap((p) => Object.values(p));
    expect(operations.every((o) => Array.isArray(o.security))).toBe(true);
    const ui = await t.app.inject({ url: '/docs', headers: bearer(await t.token(['read'])) });
    expect([ui.statusCode, ui.headers['content-type']]).toEqual([200, 'text/html; charset=utf-8']);
    expect(ui.body).toContain('swagger-ui');
  });
});

describe('API tokens: with auth off', () => {
  let t: TestApp;
  afterEach(() => t.app.close());

  it('no route asks for a token, the OpenAPI document declares no security, and actors stay api:<address>', async () => {
    const tokens = new InMemoryTokenStore();
    t = await testApp({ tokens });
    expect((await t.app.inject('/v1/nodes')).statusCode).toBe(200);
    const created = await t.app.inject({ method: 'POST', url: '/v1/tokens', payload: { name: 'first', scopes: ['admin'] } });
    expect(created.statusCode).toBe(201);
    expect(t.operations.rows.map((o) => o.actor)).toEqual(['api:127.0.0.1']);
    const doc = (await t.app.inject('/openapi.json')).json<{ components?: { securitySchemes?: unknown } }>();
    expect(doc.components?.securitySchemes).toBeUndefined();
  });
});
