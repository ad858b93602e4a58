import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { installErrorHandler } from '../../../src/http/errors.js';
import { installRouteConventions } from '../../../src/http/routeConventions.js';
import { openapiRoutes } from '../../../src/http/routes/openapi.js';
import { operationRoutes } from '../../../src/http/routes/operations.js';
import type { OperationEntry } from '../../../src/ports/operationLog.js';
import { encodeOperationCursor, OPERATION_BOUNDS } from '../../../src/postgres/operationLog.js';
import { InMemoryOperationLog } from '../../fakes/inMemoryOperationLog.js';

const AT = Date.UTC(2026, 11, 3, 9, 30, 0);

/**
 * The operations plugin on an app set up as buildApp sets up its own (same ajv options, error
 * handler and route conventions): buildApp does not register it yet.
 */
async function operationsApp(log: InMemoryOperationLog): Promise<FastifyInstance> {
  const app = Fastify({ ajv: { customOptions: { removeAdditional: false, coerceTypes: false } } }).withTypeProvider<TypeBoxTypeProvider>();
  installErrorHandler(app);
  installRouteConventions(app);
  await app.register(swagger, { openapi: { info: { title: 'operations', version: '0' }, tags: [{ name: 'operations' }] } });
  await app.register(operationRoutes, { log });
  await app.register(openapiRoutes);
  return app;
}

const entry = (n: number, over: Partial<OperationEntry> = {}): OperationEntry => ({
  kind: n % 2 ? 'drain' : 'scale',
  actor: n % 2 ? 'api:10.0.0.9' : 'autoscaler',
  target: n % 2 ? `fs-${n % 3}` : 'pool',
  outcome: 'done',
  detail: { n },
  at: AT + n * 1000,
  ...over,
});

interface Page {
  operations: { id: number; at: string; kind: string; actor: string; target: string; outcome: string; detail: Record<string, unknown> }[];
  next?: string;
}

describe('GET /v1/operations', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  const withLog = async (count: number) => {
    const log = new InMemoryOperationLog();
    for (let n = 1; n <= count; n++) await log.record(entry(n));
    app = await operationsApp(log);
    return { app, log };
  };
  const get = async (q: string) => {
    const res = await app!.inject(`/v1/operations${q}`);
    return { status: res.statusCode, body: res.json<Page & { error?: string; message?: string }>() };
  };

  it('answers each operation with its time as ISO 8601 and its detail as recorded, newest first', async () => {
    const log = new InMemoryOperationLog();
    await log.record(entry(1, { detail: { deadline: '2026-12-03T10:00:00Z', replicas: [2, 3], cause: { code: 'E1', retry: false }, none: null } }));
    await log.record(entry(2, { outcome: 'failed', detail: {} }));
    app = await operationsApp(log);
    expect(await get('')).toEqual({
      status: 200,
      body: {
        operations: [
          { id: 2, at: '2026-12-03T09:30:02.000Z', kind: 'scale', actor: 'autoscaler', target: 'pool', outcome: 'failed', detail: {} },
          {
            id: 1, at: '2026-12-03T09:30:01.000Z', kind: 'drain', actor: 'api:10.0.0.9', target: 'fs-1', outcome: 'done',
            detail: { deadline: '2026-12-03T10:00:00Z', replicas: [2, 3], cause: { code: 'E1', retry: false }, none: null },
          },
        ],
      },
    });
  });

  it('pages 50 by default, then by `next` to the end with no duplicates or gaps', async () => {
    await withLog(120);
    const ids = (p: Page) => p.operations.map((o) => o.id);
    const range = (from: number, to: number) => Array.from({ length: from - to + 1 }, (_, i) => from - i);
    const page1 = (await get('')).body;
    expect([ids(page1), page1.next]).toEqual([range(120, 71), encodeOperationCursor(71)]);
    const page2 = (await get(`?cursor=${page1.next}`)).body;
    expect(ids(page2)).toEqual(range(70, 21));
    const page3 = (await get(`?cursor=${page2.next}`)).body;
    expect([ids(page3), page3.next]).toEqual([range(20, 1), undefined]);
    const small = (await get('?limit=7&cursor=' + encodeOperationCursor(10))).body;
    expect([ids(small), small.next]).toEqual([range(9, 3), encodeOperationCursor(3)]);
  });

  it('filters by kind and by target, paging within the filter', async () => {
    await withLog(12);
    const ids = async (q: string) => (await get(q)).body.operations.map((o) => o.id);
    // drain for odd n, on fs-(n % 3); scale for even n, on pool.
    expect(await ids('?kind=drain')).toEqual([11, 9, 7, 5, 3, 1]);
    expect(await ids('?target=pool&limit=4')).toEqual([12, 10, 8, 6]);
    const first = (await get('?target=pool&limit=4')).body;
    expect((await get(`?target=pool&limit=4&cursor=${first.next}`)).body.operations.map((o) => o.id)).toEqual([4, 2]);
    expect(await ids('?kind=drain&target=fs-0')).toEqual([9, 3]);
    expect(await ids('?kind=scale&target=fs-0')).toEqual([]);
    expect(await ids('?kind=hangup')).toEqual([]);
    expect(await ids(`?target=${'t'.repeat(OPERATION_BOUNDS.target)}`)).toEqual([]);
  });

  it('takes a limit of 1..500 and nothing else', async () => {
    await withLog(501);
    const count = async (q: string) => {
      const r = await get(q);
      return [r.status, r.body.operations?.length ?? r.body.error];
    };
    expect(await count('?limit=1')).toEqual([200, 1]);
    expect(await count('?limit=500')).toEqual([200, 500]);
    expect(await count('?limit=99')).toEqual([200, 99]);
    for (const limit of ['0', '501', '1000', '-1', '01', '1.5', 'ten', '']) expect(await count(`?limit=${limit}`), limit).toEqual([400, 'bad-request']);
  });

  it('refuses a cursor it did not make, an unknown kind, a target over 256 and unknown parameters, with the reason', async () => {
    await withLog(3);
    const bad = async (q: string) => {
      const r = await get(q);
      return [r.status, r.body.error, r.body.message];
    };
    // Well-formed base64url that the log did not make: the log refuses it.
    expect(await bad('?cursor=abc')).toEqual([400, 'bad-request', 'invalid cursor: not one this API made']);
    expect(await bad(`?cursor=${Buffer.from('01').toString('base64url')}`)).toEqual([400, 'bad-request', 'invalid cursor: not one this API made']);
    // Not base64url at all, or longer than any cursor: the schema refuses it.
    expect((await bad('?cursor=a%2Bb'))[0]).toBe(400);
    expect((await bad(`?cursor=${'A'.repeat(25)}`)).slice(0, 2)).toEqual([400, 'bad-request']);
    expect((await bad('?kind=reboot')).slice(0, 2)).toEqual([400, 'bad-request']);
    expect((await bad('?kind=Drain')).slice(0, 2)).toEqual([400, 'bad-request']);
    expect((await bad(`?target=${'t'.repeat(OPERATION_BOUNDS.target + 1)}`)).slice(0, 2)).toEqual([400, 'bad-request']);
    expect((await bad('?target=')).slice(0, 2)).toEqual([400, 'bad-request']);
    expect(await bad('?actor=me')).toEqual([400, 'unknown-parameter', 'unknown query parameter "actor"; this route takes kind, target, limit, cursor']);
  });

  it('is documented in the OpenAPI document with its parameters and the shape of an operation', async () => {
    await withLog(0);
    const doc = (await app!.inject('/openapi.json')).json<{
      paths: Record<string, Record<string, { tags: string[]; parameters: { name: string; in: string }[]; responses: Record<string, unknown> }>>;
    }>();
    const op = doc.paths['/v1/operations']!;
    expect(Object.keys(op)).toEqual(['get']);
    expect(op.get!.tags).toEqual(['operations']);
    expect(op.get!.parameters.map((p) => [p.in, p.name])).toEqual([['query', 'kind'], ['query', 'target'], ['query', 'limit'], ['query', 'cursor']]);
    expect(Object.keys(op.get!.responses).sort()).toEqual(['200', '4XX', '5XX']);
  });

  it('a log that fails is a 500 that names no internals', async () => {
    const { log } = await withLog(1);
    log.failWith = new Error('connect ECONNREFUSED 127.0.0.1:5432');
    const r = await app!.inject('/v1/operations');
    expect(r.statusCode).toBe(500);
    // The first request of a fresh app is req-1: the key to the log line.
    expect(r.json()).toEqual({ error: 'internal', message: 'internal error; see the control plane log', requestId: 'req-1' });
  });
});
