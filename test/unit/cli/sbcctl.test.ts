import { execFile } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { CliEnv } from '../../../src/cli/args.js';
import { run } from '../../../src/cli/run.js';
import { InMemoryNodeRegistry } from '../../fakes/inMemoryNodeRegistry.js';
import { node } from '../core/fixtures.js';
import { fakes, testApp, type TestApp } from '../http/harness.js';

const A = '3f2a9c1d-5e6b-4c7d-8e9f-0a1b2c3d4e5f';
const B = '7b00e4a2-1111-4222-8333-444455556666';
const T = Date.UTC(2026, 11, 2, 5, 0, 0);

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function sbcctl(argv: readonly string[], env: CliEnv = {}): Promise<Result> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

const lines = (text: string) => text.split('\n');

let t: TestApp | undefined;
const servers: Server[] = [];

afterEach(async () => {
  await t?.app.close();
  t = undefined;
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/**
 * The real API over fakes, listening: nodes A (active, the pin of 3000) and B (draining);
 * room 3000 pinned to A, confirmed, split once and now cascaded over A and B; 3001 unpinned
 * on B; tenant-b.example/3000 pinned to an address no live node holds, waiting.
 */
async function world(): Promise<string> {
  const f = await fakes();
  const registry = new InMemoryNodeRegistry();
  await registry.put(node(1, { nodeId: A, sessions: 7 }), undefined);
  await registry.put(node(2, { nodeId: B, state: 'draining', health: 'degraded', sessions: 3, capacity: 500 }), undefined);
  const pin = { key: '3000', uri: 'sip:10.0.0.1:5080', at: T, by: 'kam-a' };
  await f.rooms.recordPin('3000', pin);
  await f.rooms.recordHalf('3000', { nodeId: A, conferenceUuid: 'c-a', members: 4, links: 1, seq: 1, at: T + 1000 });
  await f.rooms.recordHalf('3000', { nodeId: B, conferenceUuid: 'c-b', members: 2, links: 1, seq: 1, at: T + 1500 });
  await f.rooms.saveDecision({ room: '3000', pin, confirmedAt: T + 2000, split: [A, B] });
  await f.rooms.recordHalf('3001', { nodeId: B, conferenceUuid: 'c-b2', members: 2, links: 0, seq: 1, at: T + 3000 });
  await f.rooms.recordPin('tenant-b.example/3000', { key: 'tenant-b.example/3000', uri: 'sip:10.0.0.9:5080', at: T, by: 'kam-b' });
  t = await testApp({}, { ...f, registry });
  return t.app.listen({ port: 0, host: '127.0.0.1' });
}

async function rawServer(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

describe('sbcctl rooms', () => {
  it('rooms: a table of every active room, as the API sorts them, node ids shortened', async () => {
    const url = await world();
    const r = await sbcctl(['rooms', '--url', url]);
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'ROOM                   NODE                        MEMBERS  CONFERENCES                     PIN               SPLITS',
        '3000                   3f2a9c1d sip:10.0.0.1:5080  4        3f2a9c1d:4(+1), 7b00e4a2:2(+1)  kam-a, confirmed  1',
        '3001                   -                           2        7b00e4a2:2                      -                 0',
        'tenant-b.example/3000  - sip:10.0.0.9:5080         0        -                               kam-b, waiting    0',
        '',
      ].join('\n'),
    });
  });

  it('rooms: one line when no room is active', async () => {
    t = await testApp();
    const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
    expect(await sbcctl(['rooms'], { SBC_API_URL: url })).toEqual({ code: 0, stdout: 'no active rooms\n', stderr: '' });
  });

  it('rooms --json: the API\'s answer itself, pretty-printed', async () => {
    const url = await world();
    const r = await sbcctl(['--json', 'rooms', '--url', url]);
    const api = (await t!.app.inject('/v1/rooms')).json<unknown>();
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${JSON.stringify(api, null, 2)}\n`);
    expect(JSON.parse(r.stdout)).toEqual(api);
    expect(lines(r.stdout).slice(0, 3)).toEqual(['{', '  "rooms": [', '    {']);
  });
});

describe('sbcctl room <room>', () => {
  it('room: the room as key: value lines, then each node\'s conference', async () => {
    const url = await world();
    const r = await sbcctl(['room', '3000', '--url', url]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'room:             3000',
      'pin:              sip:10.0.0.1:5080',
      `pin node:         ${A}`,
      'pin by:           kam-a',
      'pin at:           2026-12-02T05:00:00.000Z',
      'pin confirmed:    2026-12-02T05:00:02.000Z',
      'members:          4',
      'splits repaired:  1',
      '',
      'conferences:',
      'NODE                                  CONFERENCE  MEMBERS  LINKS  UPDATED',
      `${A}  c-a         4        1      2026-12-02T05:00:01.000Z`,
      `${B}  c-b         2        1      2026-12-02T05:00:01.500Z`,
      '',
    ]);
  });

  it('room: a domain-scoped key reaches the API as one path segment; a pin with no live node and no conference says so', async () => {
    const url = await world();
    const r = await sbcctl(['room', 'tenant-b.example/3000', '--url', url]);
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'room:             tenant-b.example/3000',
        'pin:              sip:10.0.0.9:5080',
        'pin node:         none live at that URI',
        'pin by:           kam-b',
        'pin at:           2026-12-02T05:00:00.000Z',
        'pin confirmed:    waiting',
        'members:          0',
        'splits repaired:  0',
        '',
        'conferences: none',
        '',
      ].join('\n'),
    });
    const unpinned = await sbcctl(['room', '3001', '--url', url]);
    expect(lines(unpinned.stdout).slice(0, 4)).toEqual(['room:             3001', 'pin:              none', 'members:          2', 'splits repaired:  0']);
  });

  it('room --json: the API\'s answer for that room', async () => {
    const url = await world();
    const r = await sbcctl(['room', 'tenant-b.example/3000', '--json', '--url', url]);
    const api = (await t!.app.inject(`/v1/rooms/${encodeURIComponent('tenant-b.example/3000')}`)).json<unknown>();
    expect(r).toEqual({ code: 0, stderr: '', stdout: `${JSON.stringify(api, null, 2)}\n` });
  });

  it('room: an unknown room is the API\'s 404, exit 1 with its code and message', async () => {
    const url = await world();
    expect(await sbcctl(['room', '3999', '--url', url])).toEqual({ code: 1, stdout: '', stderr: 'error: not-found: no active room 3999\n' });
    // --json changes nothing for errors: they go to stderr the same way.
    expect(await sbcctl(['room', '3999', '--url', url, '--json'])).toEqual({ code: 1, stdout: '', stderr: 'error: not-found: no active room 3999\n' });
  });

  it('room: a key that cannot be a room is the API\'s 400', async () => {
    const url = await world();
    const r = await sbcctl(['room', '30 00', '--url', url]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: bad-request: .+\n$/);
  });
});

describe('sbcctl nodes', () => {
  it('nodes: a table in slot order, sessions over capacity', async () => {
    const url = await world();
    expect(await sbcctl(['nodes', '--url', url])).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'ID        STATE     URI                SESSIONS  HEALTH',
        '3f2a9c1d  active    sip:10.0.0.1:5080  7/1000    healthy',
        '7b00e4a2  draining  sip:10.0.0.2:5080  3/500     degraded',
        '',
      ].join('\n'),
    });
  });

  it('nodes: ids that agree on their first 8 characters are shown long enough to tell apart', async () => {
    t = await testApp(); // the harness's nodes 1-3: ids that differ only in their last character
    const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const r = await sbcctl(['nodes', '--url', url]);
    expect(lines(r.stdout)).toEqual([
      'ID                                    STATE    URI                SESSIONS  HEALTH',
      '00000000-0000-4000-8000-000000000001  active   sip:10.0.0.1:5080  0/1000    healthy',
      '00000000-0000-4000-8000-000000000002  gone     sip:10.0.0.2:5080  0/1000    healthy',
      '00000000-0000-4000-8000-000000000003  joining  sip:10.0.0.3:5080  0/1000    healthy',
      '',
    ]);
  });

  it('nodes --json: the API\'s answer', async () => {
    const url = await world();
    const r = await sbcctl(['nodes', '--json'], { SBC_API_URL: url });
    const api = (await t!.app.inject('/v1/nodes')).json<unknown>();
    expect(r).toEqual({ code: 0, stderr: '', stdout: `${JSON.stringify(api, null, 2)}\n` });
  });
});

describe('sbcctl: where it asks and what it sends', () => {
  it('--url wins over SBC_API_URL; a base URL\'s path prefix is kept; --token (else SBC_API_TOKEN) is a Bearer header', async () => {
    const seen: { url: string | undefined; headers: IncomingHttpHeaders }[] = [];
    const url = await rawServer((req, res) => {
      seen.push({ url: req.url, headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"nodes":[]}');
    });
    expect(await sbcctl(['nodes', '--url', `${url}/sbc/`], { SBC_API_URL: 'http://127.0.0.1:1', SBC_API_TOKEN: 'from-env' })).toEqual({ code: 0, stdout: 'no nodes\n', stderr: '' });
    expect(await sbcctl(['nodes', '--token', 'from-flag'], { SBC_API_URL: url, SBC_API_TOKEN: 'from-env' })).toMatchObject({ code: 0 });
    expect(await sbcctl(['nodes'], { SBC_API_URL: url })).toMatchObject({ code: 0 });
    expect(seen.map((s) => [s.url, s.headers.authorization])).toEqual([
      ['/sbc/v1/nodes', 'Bearer from-env'],
      ['/v1/nodes', 'Bearer from-flag'],
      ['/v1/nodes', undefined],
    ]);
    expect(seen[0]?.headers.accept).toBe('application/json');
  });

  it('an error answer that is not the API\'s own (a proxy\'s page) is exit 1 with its status and what it said', async () => {
    const url = await rawServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' }).end('<html>\n  <h1>Bad Gateway</h1>\n</html>\n');
    });
    expect(await sbcctl(['rooms', '--url', url])).toEqual({ code: 1, stdout: '', stderr: 'error: http-502: <html> <h1>Bad Gateway</h1> </html>\n' });
  });

  it('a 200 that is not JSON is exit 1', async () => {
    const url = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
    });
    expect(await sbcctl(['rooms', '--url', url])).toEqual({ code: 1, stdout: '', stderr: 'error: bad-answer: GET /v1/rooms answered 200 with a body that is not JSON\n' });
  });

  it('an answer of another shape than this sbcctl knows is exit 1, pointing at --json', async () => {
    const url = await rawServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"rooms":5}');
    });
    const r = await sbcctl(['rooms', '--url', url]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: bad-answer: cannot print the answer of rooms \(.+\); --json shows it\n$/);
    expect(await sbcctl(['rooms', '--url', url, '--json'])).toEqual({ code: 0, stderr: '', stdout: '{\n  "rooms": 5\n}\n' });
  });
});

describe('sbcctl as a process (src/cli/sbcctl.ts)', () => {
  it('reads SBC_API_URL from its environment and exits with run()\'s status', async () => {
    const url = await world();
    const child = promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/sbcctl.ts', 'room', '3999'], {
      env: { ...process.env, SBC_API_URL: url, SBC_API_TOKEN: '' },
    });
    await expect(child).rejects.toMatchObject({ code: 1, stdout: '', stderr: 'error: not-found: no active room 3999\n' });
    const ok = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/sbcctl.ts', 'nodes'], { env: { ...process.env, SBC_API_URL: url } });
    expect(ok.stdout.split('\n')[1]).toBe('3f2a9c1d  active    sip:10.0.0.1:5080  7/1000    healthy');
  }, 30_000);
});

describe('sbcctl: the API cannot be reached (exit 3)', () => {
  it('connection refused names the URL', async () => {
    // A port that was just free: nothing listens on it.
    const url = await rawServer(() => undefined);
    const s = servers.pop()!;
    await new Promise((resolve) => s.close(resolve));
    expect(await sbcctl(['rooms', '--url', url])).toEqual({
      code: 3,
      stdout: '',
      stderr: `error: cannot reach the API at ${url}: connection refused (ECONNREFUSED)\n`,
    });
  });

  it('a server that never answers is given up on after --timeout-ms', async () => {
    const url = await rawServer(() => undefined);
    expect(await sbcctl(['nodes', '--url', url, '--timeout-ms', '200'])).toEqual({
      code: 3,
      stdout: '',
      stderr: `error: cannot reach the API at ${url}: no answer within 200 ms\n`,
    });
  });
});

describe('sbcctl: usage (exit 2, usage on stderr; --help on stdout, exit 0)', () => {
  const usageFirst = 'usage: sbcctl [options] <command> [arguments]';

  it('--help and help print the usage with every command', async () => {
    for (const argv of [['--help'], ['-h'], ['help'], ['frobnicate', '--help']]) {
      const r = await sbcctl(argv);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(lines(r.stdout)).toEqual(expect.arrayContaining([
        usageFirst,
        '  rooms                 active rooms: pin and the node behind it, members, each node\'s conference, splits repaired',
        '  room <room>           one active room by its key (3000, or tenant-a.example/3000 with SBC_ROOM_SCOPE=domain)',
        '  nodes                 every node in the registry: state, SIP URI, sessions/capacity, health',
        '  --timeout-ms <ms>  give up on the API after this long (default 5000)',
        'exit status: 0 ok, 1 the API answered an error, 2 usage error, 3 the API could not be reached,',
        '  4 the API refused the token (401: none, unknown or revoked; 403: its scope is too low)',
      ]));
    }
  });

  it.each([
    [[], 'no command given', 'global'],
    [['frobnicate'], 'unknown command "frobnicate"', 'global'],
    [['room'], 'room: missing <room>', 'room'],
    [['rooms', 'extra'], 'rooms: unexpected argument "extra"', 'rooms'],
    [['rooms', '--verbose'], 'unknown option --verbose', 'rooms'],
    [['rooms', '-v'], 'unknown option -v', 'rooms'],
    [['rooms', '--json=yes'], 'option --json takes no value', 'rooms'],
    [['rooms', '--url'], 'option --url needs a value', 'rooms'],
    [['rooms', '--url', '--json'], 'option --url needs a value', 'rooms'],
    [['rooms', '--url', 'ftp://host'], '--url: not an http or https URL: "ftp://host"', 'rooms'],
    [['rooms', '--url', 'not a url'], '--url: not an http or https URL: "not a url"', 'rooms'],
    [['rooms', '--timeout-ms', '0'], '--timeout-ms: not a whole number of milliseconds from 1 to 2147483647: "0"', 'rooms'],
    [['rooms', '--timeout-ms', '1.5'], '--timeout-ms: not a whole number of milliseconds from 1 to 2147483647: "1.5"', 'rooms'],
    // Node's timers would fire at once for a longer one.
    [['rooms', '--timeout-ms', '2147483648'], '--timeout-ms: not a whole number of milliseconds from 1 to 2147483647: "2147483648"', 'rooms'],
  ])('%j: %s (%s usage)', async (argv, message, scope) => {
    const r = await sbcctl(argv);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const first = scope === 'global' ? usageFirst : `usage: sbcctl [options] ${scope === 'room' ? 'room <room>' : 'rooms'}`;
    expect(lines(r.stderr).slice(0, 3)).toEqual([`error: ${message}`, '', first]);
  });

  it('a bad SBC_API_URL is named as such', async () => {
    const r = await sbcctl(['rooms'], { SBC_API_URL: 'localhost:8080' });
    expect(r.code).toBe(2);
    expect(lines(r.stderr)[0]).toBe('error: SBC_API_URL: not an http or https URL: "localhost:8080"');
  });
});
