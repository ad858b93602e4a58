import { once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { errorCodes, type InjectOptions } from 'fastify';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { answerClientError, ConflictError, ERROR_CODES, errorCodeOf, ForbiddenError, HTTP_ERRORS, UnauthorizedError, type ErrorCode } from '../../../src/http/errors.js';
import { AgentCommandRefusedError, AgentCommandTimeoutError } from '../../../src/nats/agentCommands.js';
import { node } from '../core/fixtures.js';
import { scrape, testApp, type TestApp } from './harness.js';

const id = node(1).nodeId;
const json = { 'content-type': 'application/json' };

interface Row {
  readonly code: ErrorCode;
  readonly what: string;
  readonly request: InjectOptions | string;
  readonly message: string;
  readonly headers?: Record<string, string>;
}

/** A route that takes a JSON body, as a future POST route would (registered before ready). */
function withBodyRoute(t: TestApp): void {
  t.app.post('/v1/echo', { schema: { body: Type.Object({ nodeId: Type.String() }, { additionalProperties: false }) } }, (req) => req.body);
  // Routes to come (API tokens, drain) throw these typed errors; the one handler answers them.
  t.app.get('/v1/needs-token', () => Promise.reject(new UnauthorizedError('an API token is required')));
  t.app.get('/v1/needs-role', () => Promise.reject(new ForbiddenError('this token may not drain nodes')));
  t.app.post('/v1/needs-state', () => Promise.reject(new ConflictError('node is gone; it cannot be drained')));
}

/** One request per way of reaching each row of the error table through app.inject(). */
const rows: readonly Row[] = [
  {
    code: 'bad-request',
    what: 'a malformed node id',
    request: '/v1/nodes/not-a-uuid',
    message: 'params/nodeId must match pattern "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"',
  },
  {
    code: 'bad-request',
    what: 'an unknown state in the filter (one complaint, not every anyOf branch)',
    request: '/v1/nodes?state=active,busy',
    message: 'querystring/state must match pattern "^(joining|active|draining|drained|gone)(,(joining|active|draining|drained|gone))*$"',
  },
  { code: 'unknown-parameter', what: 'a misspelt query parameter', request: '/v1/nodes?stat=active', message: 'unknown query parameter "stat"; this route takes state' },
  { code: 'bad-url', what: 'a malformed percent-encoding (FST_ERR_BAD_URL)', request: '/v1/nodes/%E0%A4%A', message: "'/v1/nodes/%E0%A4%A' is not a valid url component" },
  {
    code: 'invalid-json',
    what: 'a JSON body that does not parse',
    request: { method: 'POST', url: '/v1/nodes', headers: json, payload: '{"nodeId":' },
    message: "Body is not valid JSON but content-type is set to 'application/json'",
    headers: { connection: 'close' },
  },
  {
    code: 'invalid-json',
    what: 'an empty JSON body',
    request: { method: 'POST', url: '/v1/nodes', headers: json, payload: '' },
    message: "Body cannot be empty when content-type is set to 'application/json'",
  },
  {
    code: 'malformed-request',
    what: 'a body shorter than its Content-Length',
    request: { method: 'POST', url: '/v1/nodes', headers: { ...json, 'content-length': '10' }, payload: '{}' },
    message: 'Request body size did not match Content-Length',
  },
  { code: 'not-found', what: 'an unknown node', request: '/v1/nodes/11111111-1111-4111-8111-111111111111', message: 'no node 11111111-1111-4111-8111-111111111111' },
  { code: 'not-found', what: 'an unknown path', request: '/v1/nodez?x=1', message: 'no route GET /v1/nodez' },
  {
    code: 'method-not-allowed',
    what: 'a known path with a method it does not have',
    request: { method: 'DELETE', url: `/v1/nodes/${id}` },
    message: `DELETE is not allowed on /v1/nodes/${id}; allowed: GET, HEAD`,
    headers: { allow: 'GET, HEAD' },
  },
  {
    code: 'body-too-large',
    what: 'a body over 64 KiB',
    request: { method: 'POST', url: '/v1/nodes', headers: json, payload: `"${'x'.repeat(64 * 1024)}"` },
    message: 'Request body is too large',
    headers: { connection: 'close' },
  },
  {
    code: 'url-too-long',
    what: 'a path parameter over 2048 characters',
    request: `/v1/nodes/${'a'.repeat(2049)}`,
    message: `'/v1/nodes/${'a'.repeat(2049)}' is exceeding the max param length`,
  },
  {
    code: 'unsupported-media-type',
    what: 'a body of a type no parser takes, on a route that takes a body',
    request: { method: 'POST', url: '/v1/echo', headers: { 'content-type': 'application/xml' }, payload: '<node/>' },
    message: 'Unsupported Media Type',
  },
  {
    code: 'unsupported-media-type',
    what: 'a malformed Content-Type',
    request: { method: 'POST', url: '/v1/nodes', headers: { 'content-type': 'json' }, payload: '{}' },
    message: 'Unsupported Media Type',
  },
  {
    code: 'bad-request',
    what: 'a body that does not match its schema',
    request: { method: 'POST', url: '/v1/echo', headers: json, payload: '{"nodeId":"x","extra":1}' },
    message: 'body must NOT have additional properties',
  },
  { code: 'unauthorized', what: 'a route that requires credentials, without them', request: '/v1/needs-token', message: 'an API token is required' },
  { code: 'forbidden', what: 'credentials that may not use the route', request: '/v1/needs-role', message: 'this token may not drain nodes' },
  { code: 'conflict', what: 'a change the current state does not allow', request: { method: 'POST', url: '/v1/needs-state' }, message: 'node is gone; it cannot be drained' },
  {
    code: 'unsupported-media-type',
    what: 'a QUERY request without Content-Type',
    request: { method: 'QUERY' as string as InjectOptions['method'], url: '/v1/nodes', payload: 'state=active' },
    message: "Method 'QUERY' must provide a 'Content-Type' header.",
  },
];

/** Rows reached through a node's agent (a fake requester) below. */
const rowsFromAgents: readonly ErrorCode[] = ['agent-timeout', 'agent-error'];

/** Rows reached through a real listening server or Node's parser below. */
const rowsOnTheWire: readonly ErrorCode[] = ['headers-too-large', 'malformed-request', 'request-timeout', 'shutting-down', 'internal'];

/** Collects what the app logs, to show 5xx internals go there and not to the client. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'error' }, stream), lines };
}

/** Writes `payload` on a fresh connection and returns every byte the server sent until it closed. */
async function rawExchange(port: number, payload: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString()));
  socket.write(payload);
  await once(socket, 'close');
  return received;
}

describe('HTTP error table', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.app.close();
    t = undefined;
  });

  it('every way of reaching a row through app.inject() answers its status and exactly {error, message}', async () => {
    t = await testApp();
    withBodyRoute(t);
    for (const row of rows) {
      const res = await t.app.inject(row.request);
      const headers = Object.fromEntries(['content-type', 'allow', ...Object.keys(row.headers ?? {})].map((h) => [h, res.headers[h]]));
      expect({ status: res.statusCode, body: res.json<unknown>(), headers }, `${row.code}: ${row.what}`).toEqual({
        status: HTTP_ERRORS[row.code].status,
        body: { error: row.code, message: row.message },
        headers: { 'content-type': 'application/json; charset=utf-8', allow: undefined, ...row.headers },
      });
    }
  });

  it('internal: an unknown error is 500 with a requestId; its message and cause stay in the log', async () => {
    const { logger, lines } = capturingLogger();
    t = await testApp({ logger });
    t.registry.list = () => Promise.reject(new Error('connect ECONNREFUSED 10.9.9.9:6379 (user sbc, password hunter2)'));
    const res = await t.app.inject('/v1/nodes');
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'internal', message: 'internal error; see the control plane log', requestId: 'req-1' });
    expect(res.body).not.toMatch(/hunter2|ECONNREFUSED|10\.9\.9\.9/);
    expect(lines.map((l) => [l.reqId, l.msg, (l.err as { message: string }).message])).toEqual([
      ['req-1', 'request failed', 'connect ECONNREFUSED 10.9.9.9:6379 (user sbc, password hunter2)'],
    ]);
  });

  it("internal: an error whose code and status the table does not know is 500 too, never its own 4xx, nor a client error for a Node code", async () => {
    t = await testApp();
    const thrown = [
      Object.assign(new Error('teapot'), { code: 'E_TEAPOT', statusCode: 418 }),
      // A Redis socket reset, or an HTTP client's parser error, inside a handler: the server's fault.
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      Object.assign(new Error('Header overflow'), { code: 'HPE_HEADER_OVERFLOW' }),
    ];
    for (const [i, err] of thrown.entries()) {
      t.registry.list = () => Promise.reject(err);
      const res = await t.app.inject('/v1/nodes');
      expect([res.statusCode, res.json<unknown>()], err.message).toEqual([
        500,
        { error: 'internal', message: 'internal error; see the control plane log', requestId: `req-${i + 1}` },
      ]);
    }
  });

  it("headers-too-large and malformed-request: Node's parser refusals reach the client as JSON in the same shape", async () => {
    t = await testApp();
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = t.app.server.address() as AddressInfo;
    const tooLarge = await rawExchange(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(tooLarge).toBe(
      'HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 81\r\nConnection: close\r\n\r\n' +
        '{"error":"headers-too-large","message":"request headers exceed the server limit"}',
    );
    const badMethod = await rawExchange(port, 'BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(badMethod).toBe(
      'HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 85\r\nConnection: close\r\n\r\n' +
        '{"error":"malformed-request","message":"malformed HTTP request (HPE_INVALID_METHOD)"}',
    );
    expect(await scrape(t.app, 'sbc_http_requests_total', { route: 'unmatched', method: 'unknown', status: '431' })).toBe(
      'sbc_http_requests_total{route="unmatched",method="unknown",status="431"} 1',
    );
  });

  it('request-timeout: a request Node timed out is answered 408 on the raw socket, which is then closed', () => {
    const written: string[] = [];
    const socket = { destroyed: false, writable: true, write: (s: string) => written.push(s), destroy: vi.fn() };
    const err = Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
    expect(answerClientError(err, socket as unknown as Socket)).toBe(408);
    expect(written).toEqual([
      'HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 76\r\nConnection: close\r\n\r\n' +
        '{"error":"request-timeout","message":"the request was not received in time"}',
    ]);
    expect(socket.destroy).toHaveBeenCalledTimes(1);
    // A connection the client already reset gets nothing written.
    const reset = { ...socket, write: vi.fn(), destroy: vi.fn() };
    expect(answerClientError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), reset as unknown as Socket)).toBeUndefined();
    expect(reset.write).not.toHaveBeenCalled();
  });

  it('shutting-down: a request on a kept-alive connection while the server closes is 503 in the same shape', async () => {
    let release!: () => void;
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => (entered = r));
    const gate = new Promise<void>((r) => (release = r));
    t = await testApp();
    const list = t.registry.list.bind(t.registry);
    t.registry.list = async () => {
      entered();
      await gate;
      return list();
    };
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = t.app.server.address() as AddressInfo;
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    socket.write('GET /v1/nodes?state=gone HTTP/1.1\r\nHost: x\r\n\r\n');
    await inHandler;
    const closed = t.app.close();
    await vi.waitFor(() => expect(t!.app.server.listening).toBe(false));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    release();
    await once(socket, 'close');
    await closed;
    const answers = received.split(/(?=HTTP\/1\.1 )/);
    expect(answers.map((a) => a.split('\r\n', 1)[0])).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 503 Service Unavailable']);
    expect(answers[1]).toMatch(/\r\nConnection: close\r\n/);
    expect(JSON.parse(answers[1]!.split('\r\n\r\n')[1]!)).toEqual({
      error: 'shutting-down',
      message: 'the control plane is shutting down; retry on another instance',
      requestId: 'req-2',
    });
    t = undefined;
  });

  it('agent-timeout and agent-error: the agent\'s silence or refusal, told to the client with a requestId', async () => {
    t = await testApp();
    t.agents.answers.set(id, new AgentCommandTimeoutError(id, 'status', 'no-responders', 3000));
    const silent = await t.app.inject(`/v1/nodes/${id}/status`);
    expect([silent.statusCode, silent.json<unknown>()]).toEqual([
      HTTP_ERRORS['agent-timeout'].status,
      { error: 'agent-timeout', message: `no agent is listening for node ${id}'s commands (agent down, or the node restarted as another node id)`, requestId: 'req-1' },
    ]);
    t.agents.answers.set(id, new AgentCommandRefusedError(id, 'status', 'invalid-reply', 'schema: /result/sessions: Expected integer'));
    const bad = await t.app.inject(`/v1/nodes/${id}/status`);
    expect([bad.statusCode, bad.json<{ error: string }>().error]).toEqual([HTTP_ERRORS['agent-error'].status, 'agent-error']);
  });

  it("every client error Fastify can raise for a request has its row, so a Fastify upgrade cannot turn one into a 500", () => {
    // Neither reaches a request: one is thrown while the app is set up, the other by no code in Fastify 5.
    const notPerRequest = new Set(['FST_ERR_CTP_INSTANCE_ALREADY_STARTED', 'FST_ERR_ROUTE_MISSING_CONTENT']);
    const clientErrors = Object.entries(errorCodes).flatMap(([code, Type]) => {
      const err = new Type('x', 'y', 'z');
      return err.statusCode !== undefined && err.statusCode < 500 && !notPerRequest.has(code) ? [[code, err] as const] : [];
    });
    expect(clientErrors.length).toBeGreaterThan(10);
    const unmapped = clientErrors.filter(([, err]) => HTTP_ERRORS[errorCodeOf(err)].status >= 500).map(([code]) => code);
    expect(unmapped).toEqual([]);
  });

  it('every row of the table is exercised by a test above', () => {
    const covered = new Set([...rows.map((r) => r.code), ...rowsOnTheWire, ...rowsFromAgents]);
    expect([...covered].sort()).toEqual([...ERROR_CODES].sort());
  });
});
