import type { Static } from '@sinclair/typebox';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../../src/cli/run.js';
import type { OperationsPage } from '../../../src/http/routes/operations.js';
import type { ScaleView } from '../../../src/http/routes/scale.js';
import type { NodeDrainView } from '../../../src/http/schemas.js';

const A = '3f2a9c1d-5e6b-4c7d-8e9f-0a1b2c3d4e5f';
const B = '7b00e4a2-1111-4222-8333-444455556666';
const NOW = Date.UTC(2026, 11, 2, 5, 0, 0);

interface Seen {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly contentType: string | undefined;
  readonly body: string;
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

const servers: Server[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** A stand-in for the API: records every request as it arrived and answers `answer` to each. */
async function fakeApi(answer: Answer | ((seen: Seen) => Answer)): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const s = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Seen = { method: req.method, url: req.url, contentType: req.headers['content-type'], body: Buffer.concat(chunks).toString() };
      seen.push(r);
      const a = typeof answer === 'function' ? answer(r) : answer;
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
    });
  });
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, seen };
}

async function sbcctl(argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env: {}, now: () => NOW });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

const lines = (text: string) => text.split('\n');

const nodeView = (state: 'active' | 'draining' | 'drained', sessions: number): Static<typeof NodeDrainView>['node'] => ({
  nodeId: A,
  sipUri: 'sip:10.0.0.1:5080',
  hostname: 'fs-1',
  machineId: 'fs-1:5080',
  state,
  health: 'healthy',
  capacity: 1000,
  sessions,
  agentVersion: '1.0.0',
  priority: 1,
  heartbeatIntervalMs: 1000,
  joinedAt: '2026-12-02T04:00:00.000Z',
  lastSeenAt: '2026-12-02T05:00:00.000Z',
  expiresAt: '2026-12-02T05:00:05.000Z',
  stateChangedAt: '2026-12-02T05:00:00.000Z',
  blockers: [],
});

const DRAINING: Static<typeof NodeDrainView> = {
  node: nodeView('draining', 12),
  drain: { deadline: '2026-12-02T05:30:00.000Z', onDeadline: 'hangup', hangupCause: 'SYSTEM_SHUTDOWN', since: '2026-12-02T05:00:00.000Z', by: 'operator' },
  remainingCalls: 12,
  remainingRooms: ['3000', '3001'],
  pinnedRooms: 1,
  inboundPaused: false,
  estimatedEnd: '2026-12-02T05:20:00.000Z',
  applied: true,
};

const UNDRAINED: Static<typeof NodeDrainView> = {
  node: nodeView('active', 12),
  drain: null,
  remainingCalls: 12,
  remainingRooms: [],
  pinnedRooms: 0,
  inboundPaused: false,
  estimatedEnd: null,
  applied: false,
};

const SCALE: Static<typeof ScaleView> = {
  target: { replicas: 2, requestedAt: '2026-12-02T05:00:00.000Z', by: 'api:127.0.0.1' },
  provisioner: 'command',
  serving: 2,
  nodes: [
    { nodeId: A, machineId: 'fs-1:5080', state: 'active', sessions: 7 },
    { nodeId: B, machineId: 'fs-2:5080', state: 'draining', sessions: 3, drainedBy: 'scale' },
  ],
  settled: false,
  lastProvision: { at: '2026-12-02T04:59:00.000Z', outcome: 'done', detail: { action: 'remove', machineId: 'fs-3:5080' } },
};

const OPERATIONS: Static<typeof OperationsPage> = {
  operations: [
    { id: 3, at: '2026-12-02T05:00:02.000Z', kind: 'scale', actor: 'api:127.0.0.1', target: 'pool', outcome: 'requested', detail: { replicas: 2, previous: 3 } },
    {
      id: 2,
      at: '2026-12-02T05:00:01.000Z',
      kind: 'drain',
      actor: 'api:127.0.0.1',
      target: A,
      outcome: 'requested',
      detail: { machineId: 'fs-1:5080', deadline: '2026-12-02T05:30:00.000Z', onDeadline: 'hangup', hangupCause: 'SYSTEM_SHUTDOWN' },
    },
    { id: 1, at: '2026-12-02T05:00:00.000Z', kind: 'resume', actor: 'leader:cp-1', target: B, outcome: 'done', detail: {} },
  ],
  next: 'AAAAAQ',
};

const DRAINING_LINES = [
  `node:             ${A}`,
  'machine:          fs-1:5080',
  'state:            draining',
  'remaining calls:  12',
  'rooms:            3000, 3001',
  'pinned rooms:     1',
  'inbound paused:   no',
  'drain:            operator, since 2026-12-02T05:00:00.000Z',
  'deadline:         2026-12-02T05:30:00.000Z',
  'at deadline:      hang up the calls left (SYSTEM_SHUTDOWN)',
  'estimated end:    2026-12-02T05:20:00.000Z',
  'applied:          yes',
  '',
];

describe('sbcctl drain <node>', () => {
  it('drain: POSTs the terms as JSON (a duration deadline made absolute from now) and prints the progress', async () => {
    const api = await fakeApi({ status: 200, body: DRAINING });
    const r = await sbcctl(['drain', A, '--deadline', '30m', '--on-deadline', 'hangup', '--cause', 'SYSTEM_SHUTDOWN', '--url', api.url]);
    expect(r).toEqual({ code: 0, stderr: '', stdout: DRAINING_LINES.join('\n') });
    expect(api.seen).toEqual([
      {
        method: 'POST',
        url: `/v1/nodes/${A}/drain`,
        contentType: 'application/json',
        body: JSON.stringify({ deadline: '2026-12-02T05:30:00.000Z', onDeadline: 'hangup', hangupCause: 'SYSTEM_SHUTDOWN' }),
      },
    ]);
  });

  it('drain: a machine id is one path segment; an RFC 3339 deadline is sent as typed; no option sends {} (the API\'s defaults)', async () => {
    const api = await fakeApi({ status: 200, body: DRAINING });
    expect(await sbcctl(['drain', 'fs-1:5080', '--deadline=2026-12-02T07:00:00+02:00', '--on-deadline', 'keep', '--url', api.url])).toMatchObject({ code: 0 });
    expect(await sbcctl(['drain', 'fs/1', '--url', api.url])).toMatchObject({ code: 0 });
    expect(await sbcctl(['drain', A, '--deadline', '1h30m', '--url', api.url])).toMatchObject({ code: 0 });
    expect(api.seen.map((s) => [s.method, s.url, JSON.parse(s.body) as unknown])).toEqual([
      ['POST', '/v1/nodes/fs-1%3A5080/drain', { deadline: '2026-12-02T07:00:00+02:00', onDeadline: 'keep' }],
      ['POST', '/v1/nodes/fs%2F1/drain', {}],
      ['POST', `/v1/nodes/${A}/drain`, { deadline: '2026-12-02T06:30:00.000Z' }],
    ]);
  });

  it('drain --json: the API\'s answer as is', async () => {
    const api = await fakeApi({ status: 200, body: DRAINING });
    const r = await sbcctl(['drain', A, '--json', '--url', api.url]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(DRAINING);
    expect(r.stdout).toBe(`${JSON.stringify(DRAINING, null, 2)}\n`);
  });

  it.each([
    [400, { error: 'bad-request', message: 'body/hangupCause is for onDeadline "hangup" only' }],
    [404, { error: 'not-found', message: `no node ${B}` }],
    [409, { error: 'conflict', message: 'drains are not available on this control plane' }],
  ])('drain: the API\'s %i is exit 1 with its code and message', async (status, body) => {
    const api = await fakeApi({ status, body });
    expect(await sbcctl(['drain', B, '--cause', 'NORMAL_CLEARING', '--url', api.url])).toEqual({ code: 1, stdout: '', stderr: `error: ${body.error}: ${body.message}\n` });
    expect(api.seen).toHaveLength(1);
  });

  it.each([
    [['drain', A, '--on-deadline', 'never'], 'drain: --on-deadline: hangup or keep, not "never"'],
    [['drain', A, '--deadline', 'soon'], 'drain: --deadline: neither an RFC 3339 time (2026-12-02T05:30:00Z) nor a duration from now (30m, 2h, 1h30m): "soon"'],
    [['drain', A, '--deadline', '0m'], 'drain: --deadline: neither an RFC 3339 time (2026-12-02T05:30:00Z) nor a duration from now (30m, 2h, 1h30m): "0m"'],
    [['drain', A, '--deadline', '2026-12-02 05:30'], 'drain: --deadline: neither an RFC 3339 time (2026-12-02T05:30:00Z) nor a duration from now (30m, 2h, 1h30m): "2026-12-02 05:30"'],
    [['drain', A, '--deadline'], 'option --deadline needs a value'],
    [['drain', A, '--force'], 'unknown option --force'],
    [['drain'], 'drain: missing <node>'],
    // Another command's option is no option of this one.
    [['drain', A, '--limit', '5'], 'unknown option --limit'],
  ])('%j: usage error, nothing asked: %s', async (argv, message) => {
    const api = await fakeApi({ status: 200, body: DRAINING });
    const r = await sbcctl([...argv, '--url', api.url]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr).slice(0, 3)).toEqual([`error: ${message}`, '', 'usage: sbcctl [options] drain <node> [options]']);
    expect(api.seen).toEqual([]);
  });

  it('a command\'s own option before its name is an unknown option', async () => {
    const r = await sbcctl(['--deadline', '30m', 'drain', A]);
    expect(r.code).toBe(2);
    expect(lines(r.stderr).slice(0, 3)).toEqual(['error: unknown option --deadline', '', 'usage: sbcctl [options] <command> [arguments]']);
  });
});

describe('sbcctl undrain <node> and drain-status <node>', () => {
  it('undrain: a POST with no body; the node back in, no drain left', async () => {
    const api = await fakeApi({ status: 200, body: UNDRAINED });
    const r = await sbcctl(['undrain', 'fs-1:5080', '--url', api.url]);
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        `node:             ${A}`,
        'machine:          fs-1:5080',
        'state:            active',
        'remaining calls:  12',
        'rooms:            none',
        'pinned rooms:     0',
        'inbound paused:   no',
        'drain:            none',
        'estimated end:    unknown',
        'applied:          no (the leader applies it in its next pass)',
        '',
      ].join('\n'),
    });
    expect(api.seen).toEqual([{ method: 'POST', url: '/v1/nodes/fs-1%3A5080/undrain', contentType: undefined, body: '' }]);
  });

  it('drain-status: a GET of the drain; its answer printed as drain\'s, or as is with --json', async () => {
    const api = await fakeApi({ status: 200, body: DRAINING });
    expect(await sbcctl(['drain-status', A, '--url', api.url])).toEqual({ code: 0, stderr: '', stdout: DRAINING_LINES.join('\n') });
    const j = await sbcctl(['drain-status', A, '--json', '--url', api.url]);
    expect(JSON.parse(j.stdout)).toEqual(DRAINING);
    expect(api.seen.map((s) => [s.method, s.url, s.body])).toEqual([
      ['GET', `/v1/nodes/${A}/drain`, ''],
      ['GET', `/v1/nodes/${A}/drain`, ''],
    ]);
  });

  it.each([
    [['undrain', A], 404, 'not-found', `no node ${A}`],
    [['undrain', A], 409, 'conflict', 'drains are not available on this control plane'],
    [['drain-status', 'not a node'], 400, 'bad-request', 'params/nodeId must match a node id or a machine id'],
    [['drain-status', B], 404, 'not-found', `no node ${B}`],
  ])('%j: the API\'s %i is exit 1', async (argv, status, error, message) => {
    const api = await fakeApi({ status, body: { error, message } });
    expect(await sbcctl([...argv, '--url', api.url])).toEqual({ code: 1, stdout: '', stderr: `error: ${error}: ${message}\n` });
  });

  it.each([
    [['undrain', A, '--deadline', '30m'], 'unknown option --deadline', 'undrain <node>'],
    [['drain-status'], 'drain-status: missing <node>', 'drain-status <node>'],
    [['drain-status', A, B], `drain-status: unexpected argument "${B}"`, 'drain-status <node>'],
  ])('%j: usage error: %s', async (argv, message, synopsis) => {
    const r = await sbcctl(argv);
    expect(r.code).toBe(2);
    expect(lines(r.stderr).slice(0, 3)).toEqual([`error: ${message}`, '', `usage: sbcctl [options] ${synopsis}`]);
  });
});

describe('sbcctl scale [<replicas>]', () => {
  const SCALE_LINES = [
    'target:          2 (asked 2026-12-02T05:00:00.000Z by api:127.0.0.1)',
    'provisioner:     command',
    'serving:         2',
    'settled:         no',
    'last provision:  2026-12-02T04:59:00.000Z done {"action":"remove","machineId":"fs-3:5080"}',
    '',
    'NODE      MACHINE    STATE     SESSIONS  DRAINED-BY',
    '3f2a9c1d  fs-1:5080  active    7         -',
    '7b00e4a2  fs-2:5080  draining  3         scale',
    '',
  ];

  it('scale <replicas>: POSTs {replicas} as JSON; the 202\'s pool printed', async () => {
    const api = await fakeApi({ status: 202, body: SCALE });
    expect(await sbcctl(['scale', '2', '--url', api.url])).toEqual({ code: 0, stderr: '', stdout: SCALE_LINES.join('\n') });
    expect(await sbcctl(['scale', '0', '--url', api.url])).toMatchObject({ code: 0 });
    expect(api.seen).toEqual([
      { method: 'POST', url: '/v1/scale', contentType: 'application/json', body: '{"replicas":2}' },
      { method: 'POST', url: '/v1/scale', contentType: 'application/json', body: '{"replicas":0}' },
    ]);
  });

  it('scale alone: a GET; never asked and an empty pool say so; --json is the answer', async () => {
    const empty: Static<typeof ScaleView> = { target: null, provisioner: 'none', serving: 0, nodes: [], settled: true, lastProvision: null };
    const api = await fakeApi((s) => ({ status: 200, body: s.url === '/v1/scale' ? empty : {} }));
    expect(await sbcctl(['scale', '--url', api.url])).toEqual({
      code: 0,
      stderr: '',
      stdout: ['target:          none asked', 'provisioner:     none', 'serving:         0', 'settled:         yes', 'last provision:  none', '', 'nodes: none', ''].join('\n'),
    });
    const j = await sbcctl(['scale', '--json', '--url', api.url]);
    expect(JSON.parse(j.stdout)).toEqual(empty);
    expect(api.seen.map((s) => [s.method, s.url, s.body])).toEqual([
      ['GET', '/v1/scale', ''],
      ['GET', '/v1/scale', ''],
    ]);
  });

  it('scale --json: the 202\'s answer as is', async () => {
    const api = await fakeApi({ status: 202, body: SCALE });
    const r = await sbcctl(['scale', '2', '--json', '--url', api.url]);
    expect(r).toEqual({ code: 0, stderr: '', stdout: `${JSON.stringify(SCALE, null, 2)}\n` });
  });

  it.each([
    [400, 'bad-request', 'body/replicas must be within 1..10 (SBC_SCALE_MIN_REPLICAS, SBC_SCALE_MAX_REPLICAS); got 20'],
    [409, 'conflict', 'no provisioner (SBC_PROVISIONER=none) to start machines: the pool has 3, 20 asked'],
  ])('scale: the API\'s %i is exit 1', async (status, error, message) => {
    const api = await fakeApi({ status, body: { error, message } });
    expect(await sbcctl(['scale', '20', '--url', api.url])).toEqual({ code: 1, stdout: '', stderr: `error: ${error}: ${message}\n` });
  });

  it.each([
    [['scale', '2.5'], 'scale: <replicas>: a whole number from 0, not "2.5"'],
    [['scale', 'three'], 'scale: <replicas>: a whole number from 0, not "three"'],
    [['scale', '--', '-1'], 'scale: <replicas>: a whole number from 0, not "-1"'],
    [['scale', '99999999999999999999'], 'scale: <replicas>: a whole number from 0, not "99999999999999999999"'],
    // `-1` reads as an option; `scale -- -1` above reaches the number check.
    [['scale', '-1'], 'unknown option -1'],
    [['scale', '2', '3'], 'scale: unexpected argument "3"'],
  ])('%j: usage error before any request: %s', async (argv, message) => {
    const api = await fakeApi({ status: 202, body: SCALE });
    const r = await sbcctl(['--url', api.url, ...argv]);
    expect(r.code).toBe(2);
    expect(lines(r.stderr).slice(0, 3)).toEqual([`error: ${message}`, '', 'usage: sbcctl [options] scale [<replicas>]']);
    expect(api.seen).toEqual([]);
  });
});

describe('sbcctl operations', () => {
  it('operations: a table newest first, detail as compact JSON cut to its width, then how to page on', async () => {
    const api = await fakeApi({ status: 200, body: OPERATIONS });
    const r = await sbcctl(['operations', '--url', api.url]);
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'AT                        KIND    ACTOR          TARGET                                OUTCOME    DETAIL',
        '2026-12-02T05:00:02.000Z  scale   api:127.0.0.1  pool                                  requested  {"replicas":2,"previous":3}',
        `2026-12-02T05:00:01.000Z  drain   api:127.0.0.1  ${A}  requested  {"machineId":"fs-1:5080","deadline":"2026-12-02T05:30:00.00…`,
        `2026-12-02T05:00:00.000Z  resume  leader:cp-1    ${B}  done       -`,
        '',
        'more: --cursor AAAAAQ',
        '',
      ].join('\n'),
    });
    expect(api.seen.map((s) => [s.method, s.url])).toEqual([['GET', '/v1/operations']]);
  });

  it('operations: --kind, --target, --limit and --cursor are the query, encoded', async () => {
    const api = await fakeApi({ status: 200, body: { operations: [] } });
    const r = await sbcctl(['operations', '--kind', 'drain', '--target', 'fs-1:5080', '--limit', '5', '--cursor', 'AAAAAQ', '--url', api.url]);
    expect(r).toEqual({ code: 0, stderr: '', stdout: 'no operations\n' });
    expect(await sbcctl(['operations', '--target=pool', '--url', api.url])).toMatchObject({ code: 0 });
    expect(api.seen.map((s) => [s.method, s.url])).toEqual([
      ['GET', '/v1/operations?kind=drain&target=fs-1%3A5080&limit=5&cursor=AAAAAQ'],
      ['GET', '/v1/operations?target=pool'],
    ]);
  });

  it('operations --json: the page as is', async () => {
    const api = await fakeApi({ status: 200, body: OPERATIONS });
    const r = await sbcctl(['operations', '--json', '--url', api.url]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(OPERATIONS);
  });

  it('operations: the API\'s 400 (a kind it does not know) is exit 1', async () => {
    const api = await fakeApi({ status: 400, body: { error: 'bad-request', message: 'querystring/kind must be equal to one of the allowed values' } });
    expect(await sbcctl(['operations', '--kind', 'reboot', '--url', api.url])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: bad-request: querystring/kind must be equal to one of the allowed values\n',
    });
  });

  it.each([
    [['operations', '--limit', 'ten'], 'operations: --limit: a whole number, not "ten"'],
    [['operations', '--node', A], 'unknown option --node'],
    [['operations', '--kind'], 'option --kind needs a value'],
    [['operations', 'drain'], 'operations: unexpected argument "drain"'],
  ])('%j: usage error: %s', async (argv, message) => {
    const r = await sbcctl(argv);
    expect(r.code).toBe(2);
    expect(lines(r.stderr).slice(0, 3)).toEqual([`error: ${message}`, '', 'usage: sbcctl [options] operations [options]']);
  });
});

describe('sbcctl calls: its filters and --cursor are the query', () => {
  it('calls --node --room --from --to --cause --limit --cursor: GET /v1/calls with each, encoded', async () => {
    const api = await fakeApi({ status: 200, body: { legs: [] } });
    const argv = ['calls', '--node', A, '--room', 'tenant-a.example/3000', '--from', '2026-12-02T05:00:00Z', '--to', '2026-12-02T06:00:00+01:00', '--cause', 'NORMAL_CLEARING', '--limit', '10', '--cursor', 'abc_-1'];
    expect(await sbcctl([...argv, '--url', api.url])).toEqual({ code: 0, stderr: '', stdout: 'no calls\n' });
    expect(await sbcctl(['calls', '--url', api.url])).toMatchObject({ code: 0 });
    expect(api.seen.map((s) => [s.method, s.url])).toEqual([
      ['GET', `/v1/calls?node=${A}&room=tenant-a.example%2F3000&from=2026-12-02T05%3A00%3A00Z&to=2026-12-02T06%3A00%3A00%2B01%3A00&cause=NORMAL_CLEARING&limit=10&cursor=abc_-1`],
      ['GET', '/v1/calls'],
    ]);
    const r = await sbcctl(['calls', '--kind', 'drain']);
    expect(lines(r.stderr).slice(0, 3)).toEqual(['error: unknown option --kind', '', 'usage: sbcctl [options] calls [options]']);
  });
});

describe('sbcctl: the new commands when the API cannot be reached (exit 3)', () => {
  it.each([[['drain', A]], [['undrain', A]], [['drain-status', A]], [['scale', '3']], [['scale']], [['operations']]])('%j', async (argv) => {
    const api = await fakeApi({ status: 200, body: {} });
    const s = servers.pop()!;
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
    expect(await sbcctl([...argv, '--url', api.url])).toEqual({ code: 3, stdout: '', stderr: `error: cannot reach the API at ${api.url}: connection refused (ECONNREFUSED)\n` });
  });
});

describe('sbcctl <command> --help: that command\'s usage with its options (stdout, exit 0)', () => {
  const global = [
    'options of every command:',
    '  --url <url>        the API\'s base URL (default: $SBC_API_URL, else the config file\'s "url", else http://127.0.0.1:8080)',
    '  --timeout-ms <ms>  give up on the API after this long (default 5000)',
    '  --token <token>    sent as Authorization: Bearer <token> (default: $SBC_API_TOKEN, else the config file\'s "token")',
    '  --json             print the API\'s JSON answer as is',
    '  -h, --help         print this text (after a command: that command\'s)',
    '',
    'exit status: 0 ok, 1 the API answered an error, 2 usage error, 3 the API could not be reached,',
    '  4 the API refused the token (401: none, unknown or revoked; 403: its scope is too low)',
    '',
  ];

  it('drain --help (and -h, help drain, --help before the name): its options', async () => {
    const expected = [
      'usage: sbcctl [options] drain <node> [options]',
      '',
      'drains a node (its id, or its machine\'s): no new calls or rooms; drained once its calls are 0',
      '',
      'options of drain:',
      '  --deadline <time>          stop waiting for its calls then: RFC 3339, or a duration from now (30m, 2h, 1h30m); default SBC_DRAIN_DEADLINE_MS',
      '  --on-deadline hangup|keep  at the deadline, hang up the calls left, or keep them (default keep)',
      '  --cause <cause>            the hang-up cause for --on-deadline hangup (NORMAL_CLEARING, ...)',
      '',
      ...global,
    ].join('\n');
    for (const argv of [['drain', '--help'], ['drain', A, '-h'], ['help', 'drain'], ['--help', 'drain'], ['drain', '--on-deadline', 'never', '--help']]) {
      expect(await sbcctl(argv)).toEqual({ code: 0, stderr: '', stdout: expected });
    }
  });

  it('operations --help lists its filters; scale --help its optional argument; a command without options has no section of its own', async () => {
    const ops = lines((await sbcctl(['operations', '--help'])).stdout);
    expect(ops.slice(0, 10)).toEqual([
      'usage: sbcctl [options] operations [options]',
      '',
      'the audit log, newest first: drains, undrains, scaling, provisioning, pauses, forced hang-ups, tokens created and revoked',
      '',
      'options of operations:',
      '  --kind <kind>      only this kind: drain, undrain, scale, provision, hangup, pause, resume, token-create, token-revoke',
      '  --target <target>  only operations on this target: a node id, a machine id, pool',
      '  --limit <n>        at most this many, 1 to 500 (default 50)',
      '  --cursor <cursor>  the page after the one whose last line said more: --cursor <cursor>',
      '',
    ]);
    expect(await sbcctl(['scale', '--help'])).toEqual({
      code: 0,
      stderr: '',
      stdout: ['usage: sbcctl [options] scale [<replicas>]', '', 'sets the pool\'s size to <replicas> (scale-down drains the fewest calls first); alone: shows the target and the pool', '', ...global].join('\n'),
    });
    expect(lines((await sbcctl(['undrain', '--help'])).stdout).slice(0, 5)).toEqual([
      'usage: sbcctl [options] undrain <node>',
      '',
      'lifts a node\'s drain: it takes new calls and rooms again, inbound resumed',
      '',
      'options of every command:',
    ]);
  });

  it('the usage lists every command', async () => {
    const r = await sbcctl(['--help']);
    expect(lines(r.stdout)).toEqual(expect.arrayContaining([
      '  drain <node>          drains a node (its id, or its machine\'s): no new calls or rooms; drained once its calls are 0',
      '  undrain <node>        lifts a node\'s drain: it takes new calls and rooms again, inbound resumed',
      '  drain-status <node>   a drain\'s progress: state, calls and rooms left, pinned rooms, inbound paused, deadline, estimated end',
      '  scale [<replicas>]    sets the pool\'s size to <replicas> (scale-down drains the fewest calls first); alone: shows the target and the pool',
      '  operations            the audit log, newest first: drains, undrains, scaling, provisioning, pauses, forced hang-ups, tokens created and revoked',
    ]));
  });
});
