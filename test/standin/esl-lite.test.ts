/**
 * The stand-in with the ESL client the agent uses: esl-lite subscribes with `event json <NAME>`
 * (plus CUSTOM, CHANNEL_EXECUTE_COMPLETE, BACKGROUND_JOB) on every (re)connect and runs api
 * commands as `bgapi` with a `job-uuid` header.
 */
import { FreeSwitchClient, type FreeSwitchResponse } from 'esl-lite';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStandin, type Standin } from './standin.js';
import { EslTestClient, SipTestUac } from './test-clients.js';

type Ev = Parameters<Parameters<FreeSwitchResponse['on']>[1]>[0];

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function bgapi(client: FreeSwitchClient, cmd: string): Promise<string | undefined> {
  const res = await client.bgapi(cmd, 1000);
  if (res instanceof Error) return undefined;
  const out = res.body.response;
  return typeof out === 'string' ? out : undefined;
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await probe();
    if (v !== undefined) return v;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('esl-lite FreeSwitchClient against the stand-in', () => {
  it('bgapi, HEARTBEAT and CHANNEL_CREATE; reconnects to a restarted stand-in with a new Core-UUID', async () => {
    const s: Standin = await startStandin({ heartbeatMs: 200, toneMs: 200 });
    cleanup.push(() => s.stop());
    const client = new FreeSwitchClient({ host: '127.0.0.1', port: s.eslPort, password: s.password, logger: pino({ level: 'silent' }) });
    cleanup.push(() => client.end());
    const heartbeats: Ev[] = [];
    const creates: Ev[] = [];
    client.on('HEARTBEAT', (ev) => heartbeats.push(ev));
    client.on('CHANNEL_CREATE', (ev) => creates.push(ev));

    expect(await until('core uuid', () => bgapi(client, 'global_getvar core_uuid'))).toBe(s.coreUuid);
    await until('a HEARTBEAT', () => heartbeats[0]);
    expect(heartbeats[0]?.body.data['Core-UUID']).toBe(s.coreUuid);
    expect(heartbeats[0]?.body.data['Max-Sessions']).toBe('1000');

    const uac = await SipTestUac.open(s.sipPort, '9001');
    cleanup.push(() => uac.close());
    uac.invite();
    await uac.response(200);
    uac.ack();
    const create = await until('CHANNEL_CREATE', () => creates[0]);
    expect(create.body.uniqueID).toBe(s.calls[0]?.uuid);
    expect(create.body.data['variable_sip_call_id']).toBe(uac.callId);
    expect(create.body.data['Caller-Destination-Number']).toBe('9001');
    const statusOut = await bgapi(client, 'status');
    expect(statusOut).toContain('\n1 session(s) - peak 1, last 5min 1 \n');

    const first = s.coreUuid;
    await s.shutdown();
    await s.restart();
    expect(s.coreUuid).not.toBe(first);
    const next = await until('the new core uuid', async () => {
      const out = await bgapi(client, 'global_getvar core_uuid');
      return out === s.coreUuid ? out : undefined;
    });
    expect(next).toBe(s.coreUuid);
    // The re-subscription after reconnecting delivers the restarted switch's heartbeats.
    const seen = heartbeats.length;
    await until('a HEARTBEAT after the restart', () => heartbeats.slice(seen).find((h) => h.body.data['Core-UUID'] === s.coreUuid));
  });

  it('kill() drops the connection with no disconnect notice; shutdown() sends one', async () => {
    const s = await startStandin();
    cleanup.push(() => s.stop());
    const client = new FreeSwitchClient({ host: '127.0.0.1', port: s.eslPort, password: s.password, logger: pino({ level: 'silent' }) });
    cleanup.push(() => client.end());
    await until('connected', () => bgapi(client, 'hostname'));
    const raw = await EslTestClient.ready(s.eslPort, s.password);
    cleanup.push(() => raw.close());

    await s.kill();
    await raw.waitClosed();
    await sleep(100);
    expect(raw.frames.filter((f) => f.headers.some(([, v]) => v === 'text/disconnect-notice'))).toEqual([]);
    expect(client.stats.disconnect).toBe(0n);

    await s.restart();
    await until('reconnected', () => bgapi(client, 'hostname'));
    await s.shutdown();
    await until('the shutdown notice', () => (client.stats.disconnect === 1n ? true : undefined));
  });
});
