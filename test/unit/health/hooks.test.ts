import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHookRunner, type HookConfig, type HookEvent } from '../../../src/health/hooks.js';

const AT = 1_700_000_000_000;
const clock = () => AT;

const EVENT: HookEvent = {
  v: 1,
  transition: 'critical',
  at: AT,
  state: 'active',
  health: 'critical',
  score: 0,
  worstSensor: 'sip-profile',
  node: {
    nodeId: '6f1c2a4e-0d7b-4c1e-9a53-3e2f8b9c0d11',
    machineId: 'fs-a',
    hostname: 'fs-a.example',
    sipUri: 'sip:10.0.0.5:5080',
    heartbeatArrivals: [AT - 2000],
    heartbeatIntervalMs: 2000,
    sessions: 3,
    capacity: 100,
    blockers: ['sip-profile-down'],
  },
};
const BASE = { transition: 'critical', nodeId: EVENT.node.nodeId, durationMs: 0 } as const;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sbc-hooks-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function nodeScript(name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, body);
  return path;
}

const runner = (hooks: HookConfig[], over: { concurrency?: number; maxQueued?: number; signal?: AbortSignal } = {}) =>
  createHookRunner(hooks, { concurrency: 4, maxQueued: 16, clock, ...over });

interface Received {
  method: string | undefined;
  url: string | undefined;
  contentType: string | undefined;
  token: string | undefined;
  body: string;
}

/** A local receiver; `respond` decides each answer (or never answers). */
async function receiver(respond: (req: IncomingMessage, res: ServerResponse) => void) {
  const received: Received[] = [];
  let inFlight = 0;
  let peak = 0;
  const server: Server = createServer((req, res) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    res.on('close', () => inFlight--);
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      received.push({
        method: req.method,
        url: req.url,
        contentType: req.headers['content-type'],
        token: req.headers['x-token'] as string | undefined,
        body,
      });
      respond(req, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  servers.push(server);
  return { url, received, peak: () => peak };
}
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
    await once(s, 'close');
  }
});

describe('command hooks', () => {
  it('a command gets the event as JSON on stdin and the node as env', async () => {
    const out = join(dir, 'hook-out.json');
    const path = await nodeScript(
      'record.mjs',
      `import { writeFileSync } from 'node:fs';
let s = '';
process.stdin.on('data', (d) => (s += d));
process.stdin.on('end', () => {
  const e = process.env;
  writeFileSync(e.OUT, JSON.stringify({ stdin: JSON.parse(s), env: [e.SBC_HOOK_NAME, e.SBC_HOOK_TRANSITION, e.SBC_NODE_ID,
    e.SBC_NODE_STATE, e.SBC_NODE_HEALTH, e.SBC_NODE_BLOCKERS, e.SBC_NODE_SIP_URI] }));
});`,
    );
    const hooks: HookConfig[] = [
      { name: 'page-oncall', on: ['critical', 'gone'], target: { kind: 'command', spec: { command: process.execPath, args: [path], timeoutMs: 10_000, env: { OUT: out } } } },
    ];
    expect(await runner(hooks).fire(EVENT)).toEqual([{ hook: 'page-oncall', ...BASE, ok: true }]);
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual({
      stdin: EVENT,
      env: ['page-oncall', 'critical', EVENT.node.nodeId, 'active', 'critical', 'sip-profile-down', 'sip:10.0.0.5:5080'],
    });
  });

  it('only the hooks configured for the transition run', async () => {
    const out = join(dir, 'not-run');
    const path = await nodeScript('touch.mjs', `import { writeFileSync } from 'node:fs'; writeFileSync(process.env.OUT, 'ran');`);
    const hooks: HookConfig[] = [
      { name: 'on-gone', on: ['gone'], target: { kind: 'command', spec: { command: process.execPath, args: [path], timeoutMs: 10_000, env: { OUT: out } } } },
    ];
    expect(await runner(hooks).fire(EVENT)).toEqual([]);
    await expect(readFile(out, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a failing, hanging or missing command is an outcome, not an exception', async () => {
    const fail = await nodeScript('fail.mjs', `process.stderr.write('no route to pager'); process.exit(2);`);
    const hang = await nodeScript('hang.mjs', `setTimeout(() => {}, 60_000);`);
    const cmd = (name: string, command: string, args: string[], timeoutMs = 10_000): HookConfig => ({
      name,
      on: ['critical'],
      target: { kind: 'command', spec: { command, args, timeoutMs } },
    });
    const outcomes = await runner([
      cmd('fails', process.execPath, [fail]),
      cmd('hangs', process.execPath, [hang], 300),
      cmd('missing', join(dir, 'no-such-hook'), []),
    ]).fire(EVENT);
    expect(outcomes).toEqual([
      { hook: 'fails', ...BASE, ok: false, reason: 'exit', detail: 'exit code 2: no route to pager' },
      { hook: 'hangs', ...BASE, ok: false, reason: 'timeout', detail: 'no exit within 300 ms' },
      { hook: 'missing', ...BASE, ok: false, reason: 'spawn', detail: `spawn ${join(dir, 'no-such-hook')} ENOENT` },
    ]);
  });
});

describe('webhooks', () => {
  it('POSTs the event as JSON with the configured headers', async () => {
    const r = await receiver((_req, res) => res.writeHead(204).end());
    expect(await runner([webhook('ops', `${r.url}/hooks/sbc`)]).fire(EVENT)).toEqual([
      { hook: 'ops', ...BASE, ok: true, status: 204 },
    ]);
    expect(r.received).toEqual([
      { method: 'POST', url: '/hooks/sbc', contentType: 'application/json', token: 'secret-1', body: JSON.stringify(EVENT) },
    ]);
  });

  it('a non-2xx answer, a redirect included, is http-status', async () => {
    const r = await receiver((req, res) => {
      if (req.url === '/moved') res.writeHead(302, { location: '/elsewhere' }).end();
      else res.writeHead(500).end('oops');
    });
    expect(await runner([webhook('err', `${r.url}/err`), webhook('moved', `${r.url}/moved`)]).fire(EVENT)).toEqual([
      { hook: 'err', ...BASE, ok: false, reason: 'http-status', detail: 'HTTP 500' },
      { hook: 'moved', ...BASE, ok: false, reason: 'http-status', detail: 'HTTP 302' },
    ]);
    expect(r.received.map((x) => x.url)).toEqual(['/err', '/moved']);
  });

  it('a receiver that never answers is a timeout', async () => {
    const r = await receiver(() => undefined);
    expect(await runner([webhook('slow', r.url, 300)]).fire(EVENT)).toEqual([
      { hook: 'slow', ...BASE, ok: false, reason: 'timeout', detail: 'no answer within 300 ms' },
    ]);
    expect(r.received).toHaveLength(1);
  });

  it('nobody listening is a network failure naming the cause', async () => {
    const r = await receiver((_req, res) => res.end());
    const closed = r.url;
    for (const s of servers.splice(0)) {
      s.close();
      await once(s, 'close');
    }
    expect(await runner([webhook('down', closed)]).fire(EVENT)).toEqual([
      { hook: 'down', ...BASE, ok: false, reason: 'network', detail: 'fetch failed: ECONNREFUSED' },
    ]);
  });
});

describe('the hook runner', () => {
  it('runs at most `concurrency` at once, queues up to `maxQueued`, drops the rest as queue-full', async () => {
    const r = await receiver((_req, res) => setTimeout(() => res.writeHead(200).end(), 150));
    const hooks = ['a', 'b', 'c', 'd'].map((n): HookConfig => ({
      name: n,
      on: ['critical'],
      target: { kind: 'webhook', url: `${r.url}/${n}`, timeoutMs: 5000 },
    }));
    const run = runner(hooks, { concurrency: 2, maxQueued: 1 });
    const outcomes = await run.fire(EVENT);
    expect(outcomes).toEqual([
      { hook: 'a', ...BASE, ok: true, status: 200 },
      { hook: 'b', ...BASE, ok: true, status: 200 },
      { hook: 'c', ...BASE, ok: true, status: 200 },
      { hook: 'd', ...BASE, ok: false, reason: 'queue-full', detail: '1 runs already waiting' },
    ]);
    expect(r.peak()).toBe(2);
    expect(r.received.map((x) => x.url).sort()).toEqual(['/a', '/b', '/c']);
    // Its turns were all given back: the next event runs again.
    expect((await run.fire(EVENT)).map((o) => o.ok)).toEqual([true, true, true, false]);
  });

  it('idle() resolves once every run has ended', async () => {
    const r = await receiver((_req, res) => setTimeout(() => res.writeHead(200).end(), 150));
    const run = runner([webhook('x', r.url)], { concurrency: 1, maxQueued: 4 });
    const fired = Promise.all([run.fire(EVENT), run.fire(EVENT)]);
    await run.idle();
    // Both answered (one after the other: concurrency 1), nothing runs any more.
    expect(r.received).toHaveLength(2);
    expect(r.peak()).toBe(1);
    expect((await fired).flat()).toEqual([
      { hook: 'x', ...BASE, ok: true, status: 200 },
      { hook: 'x', ...BASE, ok: true, status: 200 },
    ]);
  });

  it('an abort ends running and waiting runs as aborted', async () => {
    const r = await receiver(() => undefined);
    const hang = await nodeScript('hang-abort.mjs', `setTimeout(() => {}, 60_000);`);
    const controller = new AbortController();
    const run = runner(
      [
        webhook('web', r.url),
        { name: 'cmd', on: ['critical'], target: { kind: 'command', spec: { command: process.execPath, args: [hang], timeoutMs: 10_000 } } },
      ],
      { concurrency: 1, maxQueued: 4, signal: controller.signal },
    );
    const pending = run.fire(EVENT);
    setTimeout(() => controller.abort(), 200);
    expect(await pending).toEqual([
      { hook: 'web', ...BASE, ok: false, reason: 'aborted', detail: 'aborted' },
      { hook: 'cmd', ...BASE, ok: false, reason: 'aborted', detail: 'aborted before start' },
    ]);
  });
});

function webhook(name: string, url: string, timeoutMs = 5000): HookConfig {
  return { name, on: ['critical'], target: { kind: 'webhook', url, timeoutMs, headers: { 'x-token': 'secret-1' } } };
}
