/**
 * The agent's ESL client (src/agent/esl-client.ts) against the stand-in, through a recording TCP
 * proxy, so each test asserts the exact command blocks the stand-in received on each connection:
 * auth, ONE `event json` subscription per connection, then the agent's own commands and nothing
 * replayed from an outage.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EslClient,
  EslDisconnectedError,
  EslNotConnectedError,
  type EslClientOptions,
  type EslConnectionState,
} from '../../src/agent/esl-client.js';
import type { EslEvent } from '../../src/agent/esl-frames.js';
import { SUBSCRIBED_EVENTS } from '../../src/agent/fs-events.js';
import { QUICK } from './fixture.js';
import { launchStandin, startStandin, type Standin, type StandinOptions } from './standin.js';
import { SipTestUac } from './test-clients.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** Forwards one port to another and records what clients sent, as command blocks per connection. */
class RecordingProxy {
  readonly sent: string[][] = [];
  /** While set, the stand-in's bytes are not passed on: commands sent meanwhile wait for replies. */
  holding = false;
  private readonly pairs = new Set<[Socket, Socket]>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async open(target: number): Promise<RecordingProxy> {
    const box: { proxy?: RecordingProxy } = {};
    const server = createServer((client) => {
      const proxy = box.proxy;
      if (!proxy) return client.destroy();
      const blocks: string[] = [];
      proxy.sent.push(blocks);
      const upstream = connect(target, '127.0.0.1');
      const pair: [Socket, Socket] = [client, upstream];
      proxy.pairs.add(pair);
      let text = '';
      client.on('data', (d: Buffer) => {
        text += d.toString('utf8');
        for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
          blocks.push(text.slice(0, end));
          text = text.slice(end + 2);
        }
        upstream.write(d);
      });
      upstream.on('data', (d: Buffer) => {
        if (!proxy.holding) client.write(d);
      });
      // A reset on one side is a reset on the other (kill -9 must look like kill -9).
      const drop = () => {
        proxy.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', drop);
      upstream.on('close', drop);
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    box.proxy = new RecordingProxy(server, typeof addr === 'object' && addr ? addr.port : 0);
    return box.proxy;
  }

  /** Command blocks of connection `n` with bgapi Job-UUIDs masked. */
  commands(n: number): string[] {
    return (this.sent[n] ?? []).map((b) => b.replace(/\nJob-UUID: [0-9a-f-]{36}$/, '\nJob-UUID: <uuid>'));
  }

  close(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function standin(opts: StandinOptions = {}): Promise<Standin> {
  const s = await startStandin({ ...QUICK, heartbeatMs: 200, ...opts });
  cleanup.push(() => s.stop());
  return s;
}

async function proxied(s: Standin): Promise<RecordingProxy> {
  const p = await RecordingProxy.open(s.eslPort);
  cleanup.push(() => p.close());
  return p;
}

function client(port: number, opts: Partial<EslClientOptions> = {}) {
  const states: EslConnectionState[] = [];
  const events: EslEvent[] = [];
  const c = new EslClient({
    host: '127.0.0.1',
    port,
    password: 'ClueCon',
    events: SUBSCRIBED_EVENTS,
    handshakeTimeoutMs: 2000,
    reconnectMinMs: 20,
    reconnectMaxMs: 100,
    onEvent: (e) => events.push(e),
    onState: (s) => states.push(s),
    ...opts,
  });
  cleanup.push(() => c.close());
  c.start();
  return { c, states, events };
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = probe();
    if (v !== undefined) return v;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const connectedCount = (states: readonly EslConnectionState[]) => states.filter((s) => s.connected).length;
const SUBSCRIBE = 'event json CHANNEL_CREATE CHANNEL_DESTROY HEARTBEAT RE_SCHEDULE SHUTDOWN API CHANNEL_ANSWER CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE BACKGROUND_JOB';
const settle = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

describe('ESL client against the stand-in', () => {
  it('one connection: auth, ONE subscription, bgapi with our Job-UUID; HEARTBEAT and CHANNEL_CREATE arrive as events', async () => {
    const s = await standin({ toneMs: 200 });
    const proxy = await proxied(s);
    const { c, states, events } = client(proxy.port);
    await until('connected', () => (c.connected ? true : undefined));
    expect(states).toEqual([{ connected: true, connection: 1 }]);

    const [uuid, host, status] = await Promise.all([c.bgapi('global_getvar core_uuid', 2000), c.bgapi('hostname', 2000), c.api('status', 2000)]);
    expect(uuid).toBe(s.coreUuid);
    expect(host).toBe(s.hostname);
    expect(status).toContain('\n0 session(s) - peak 0, last 5min 0 \n');

    const beat = await until('a HEARTBEAT', () => events.find((e) => e.name === 'HEARTBEAT'));
    expect(beat.headers['Core-UUID']).toBe(s.coreUuid);
    expect(beat.headers['Max-Sessions']).toBe('1000');

    const uac = await SipTestUac.open(s.sipPort, '9001');
    cleanup.push(() => uac.close());
    uac.invite();
    await uac.response(200);
    uac.ack();
    const create = await until('CHANNEL_CREATE', () => events.find((e) => e.name === 'CHANNEL_CREATE'));
    expect(create.headers['Unique-ID']).toBe(s.calls[0]?.uuid);
    expect(create.headers['variable_sip_call_id']).toBe(uac.callId);
    // An API event per command (ours, and the dialplan's strftime for the call); our
    // BACKGROUND_JOBs are results, never events.
    expect(events.filter((e) => e.name === 'API').map((e) => String(e.headers['API-Command'])).sort()).toEqual([
      'global_getvar',
      'hostname',
      'status',
      'strftime',
    ]);
    expect(events.some((e) => e.name === 'BACKGROUND_JOB')).toBe(false);

    expect(proxy.sent).toHaveLength(1);
    expect(proxy.commands(0)).toEqual([
      'auth ClueCon',
      SUBSCRIBE,
      'bgapi global_getvar core_uuid\nJob-UUID: <uuid>',
      'bgapi hostname\nJob-UUID: <uuid>',
      'api status',
    ]);
  });

  it('kill(): what waits fails at once with no notice; while down commands fail at once; after the restart ONE subscription and nothing replayed', async () => {
    const s = await standin();
    const proxy = await proxied(s);
    const { c, states, events } = client(proxy.port, { reconnectMinMs: 50 });
    await until('connected', () => (c.connected ? true : undefined));
    const first = s.coreUuid;

    // Replies held back: these wait on the socket (a minute each) when FreeSWITCH is killed.
    proxy.holding = true;
    const waiting = [settle(c.bgapi('global_getvar core_uuid', 60_000)), settle(c.api('status', 60_000))];
    await until('both sent', () => (proxy.sent[0]?.length === 4 ? true : undefined));
    await s.kill();
    const results = await Promise.all(waiting);
    expect(results.map((r) => !r.ok && r.error instanceof EslDisconnectedError)).toEqual([true, true]);
    proxy.holding = false;
    const lost = await until('disconnected', () => states.find((st) => !st.connected));
    expect(lost).toMatchObject({ connected: false, connection: 1, cause: 'closed', wasConnected: true });

    for (const cmd of ['status', 'hostname', 'global_getvar core_uuid']) {
      await expect(c.bgapi(cmd, 60_000)).rejects.toBeInstanceOf(EslNotConnectedError);
    }
    await s.restart();
    expect(s.coreUuid).not.toBe(first);
    await until('reconnected', () => (connectedCount(states) === 2 ? true : undefined));
    expect(await c.bgapi('global_getvar core_uuid', 2000)).toBe(s.coreUuid);
    await until('a HEARTBEAT of the new core', () => events.find((e) => e.name === 'HEARTBEAT' && e.headers['Core-UUID'] === s.coreUuid));

    // Attempts while the stand-in was down reached the proxy but no stand-in, and sent nothing.
    const last = proxy.sent.length - 1;
    expect(proxy.commands(last)).toEqual(['auth ClueCon', SUBSCRIBE, 'bgapi global_getvar core_uuid\nJob-UUID: <uuid>']);
    expect(proxy.sent.slice(1, last).flat()).toEqual([]);
    expect(proxy.commands(0)).toEqual(['auth ClueCon', SUBSCRIBE, 'bgapi global_getvar core_uuid\nJob-UUID: <uuid>', 'api status']);
  });

  it('shutdown(): SHUTDOWN arrives as an event, then the disconnect notice ends the connection with its text', async () => {
    const s = await standin();
    const { c, states, events } = client(s.eslPort);
    await until('connected', () => (c.connected ? true : undefined));
    let eventsAtDisconnect = -1;
    const lost = until('disconnected', () => {
      const d = states.find((st) => !st.connected);
      if (d && eventsAtDisconnect < 0) eventsAtDisconnect = events.length;
      return d;
    }, 15_000);
    await c.bgapi('fsctl shutdown', 2000);
    expect(await lost).toEqual({ connected: false, connection: 1, cause: 'disconnect-notice', detail: 'The system is being shut down.', wasConnected: true });
    expect(events.map((e) => e.name)).toContain('SHUTDOWN');
  });

  it('a wrong password: auth-refused with the stand-in reply, never connected', async () => {
    const s = await standin();
    const proxy = await proxied(s);
    const { c, states } = client(proxy.port, { password: 'WrongPassword' });
    const refused = await until('refused', () => states[0]);
    expect(refused).toEqual({ connected: false, connection: 0, cause: 'auth-refused', detail: '-ERR invalid', wasConnected: false });
    expect(c.connected).toBe(false);
    expect(proxy.commands(0)).toEqual(['auth WrongPassword']);
  });

  it('an event socket that opens only after a start-up delay: refused attempts, then connected once it is ready', async () => {
    const s = await launchStandin({ ...QUICK, eslReadyDelayMs: 600 });
    cleanup.push(() => s.stop());
    const { c, states } = client(s.eslPort);
    await s.ready;
    await until('connected', () => (c.connected ? true : undefined), 5000);
    expect(states.filter((st) => !st.connected).every((st) => !st.connected && st.cause === 'connect-failed')).toBe(true);
    expect(states.filter((st) => !st.connected).length).toBeGreaterThan(0);
    expect(await c.bgapi('global_getvar core_uuid', 2000)).toBe(s.coreUuid);
  });

  it('the probe commands answer as the agent expects: profile fields or Invalid Profile!, pause_check true/false', async () => {
    const s = await standin();
    const { c } = client(s.eslPort);
    await until('connected', () => (c.connected ? true : undefined));
    expect(await c.bgapi('sofia status profile internal', 2000)).toContain(`URL              \tsip:mod_sofia@127.0.0.1:${s.sipPort}\n`);
    await s.setProfileRunning(false);
    expect(await c.bgapi('sofia status profile internal', 2000)).toBe('Invalid Profile!\n');
    expect(await c.bgapi('fsctl pause_check inbound', 2000)).toBe('false');
    await c.bgapi('fsctl pause inbound', 2000);
    expect(await c.bgapi('fsctl pause_check inbound', 2000)).toBe('true');
  });
});
