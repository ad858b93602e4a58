/**
 * Event Socket behaviour beyond the captured sessions: auth, subscriptions, bgapi, API events,
 * and the three ways the switch goes away (shutdown, kill, stop) and comes back (restart).
 */
import { createServer } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { captureEvents } from './captures.js';
import { contentType, getHeader, type EslEvent } from './esl-frames.js';
import { EslTestClient, SipTestUac } from './test-clients.js';
import { api, useStandins } from './fixture.js';

const { standin, closeLater, client, answeredCall } = useStandins();


const evName = (e: EslEvent) => getHeader(e.headers, 'Event-Name');
const reply = async (c: EslTestClient, cmd: string) => getHeader((await c.command(cmd)).headers, 'Reply-Text');

describe('authentication and commands', () => {
  it('wrong password: -ERR invalid, the 67-byte notice, socket closed', async () => {
    const s = await standin({ password: 'Secret1' });
    const c = await EslTestClient.open(s.eslPort);
    closeLater(c);
    expect(await reply(c, 'auth ClueCon')).toBe('-ERR invalid');
    await c.waitClosed();
    expect(c.frames.map(contentType)).toEqual(['auth/request', 'command/reply', 'text/disconnect-notice']);
    expect(c.frames[2]?.body.length).toBe(67);
  });

  it('before auth every other command is refused and the socket stays open', async () => {
    const s = await standin();
    const c = await EslTestClient.open(s.eslPort);
    closeLater(c);
    expect(await reply(c, 'api status')).toBe('-ERR command not found');
    expect(await reply(c, `auth ${s.password}`)).toBe('+OK accepted');
    expect(await api(c, 'hostname')).toBe(s.hostname);
  });

  it('replies as mod_event_socket does', async () => {
    const s = await standin();
    const c = await client(s);
    expect(await reply(c, 'event plain NOT_AN_EVENT')).toBe('-ERR no keywords supplied');
    expect(await reply(c, 'event json CHANNEL_CREATE')).toBe('+OK event listener enabled json');
    expect(await reply(c, 'nixevent CHANNEL_CREATE')).toBe('+OK events nixed');
    expect(await reply(c, 'noevents')).toBe('+OK no longer listening for events');
    expect(await reply(c, 'noevents')).toBe('-ERR not listening for events');
    expect(await reply(c, 'log 6')).toBe('+OK log level 6 [6]');
    expect(await reply(c, 'nolog')).toBe('+OK no longer logging');
    expect(await reply(c, 'nolog')).toBe('-ERR not loging');
    expect(await reply(c, 'frobnicate')).toBe('-ERR command not found');
    expect(await api(c, 'no_such_command')).toBe('-ERR no_such_command Command not found!\n');
    expect(await api(c, 'global_getvar core_uuid')).toBe(s.coreUuid);
    expect(await reply(c, 'exit')).toBe('+OK bye');
    await c.waitClosed();
  });

  it('bgapi: reply with the Job-UUID (the one given in a job-uuid header, as an ESL client sends), then BACKGROUND_JOB', async () => {
    const s = await standin();
    const c = await client(s, 'event plain BACKGROUND_JOB');
    const r = await c.command('bgapi status');
    const job = getHeader(r.headers, 'Job-UUID') ?? '';
    expect(getHeader(r.headers, 'Reply-Text')).toBe(`+OK Job-UUID: ${job}`);
    const ev = await c.waitForEvent((e) => getHeader(e.headers, 'Job-UUID') === job, 'BACKGROUND_JOB');
    expect(getHeader(ev.headers, 'Job-Command')).toBe('status');
    expect(getHeader(ev.headers, 'Job-Command-Arg')).toBeUndefined();
    expect(ev.body).toMatch(/^UP 0 years, 0 days, 0 hours, 0 minutes, \d+ seconds?, /);
    c.send('bgapi global_getvar core_uuid\njob-uuid: 01ARZ3NDEKTSV4RRFFQ69G5FAV');
    const given = await c.waitForEvent((e) => getHeader(e.headers, 'Job-UUID') === '01ARZ3NDEKTSV4RRFFQ69G5FAV', 'given job');
    expect(given.body).toBe(s.coreUuid);
    expect(getHeader(given.headers, 'Job-Command-Arg')).toBe('core_uuid');
  });

  it('an API event follows every api and bgapi command, after its reply', async () => {
    const s = await standin();
    const c = await client(s, 'event plain API');
    await c.command('api sofia status profile internal', 'api/response');
    const ev = await c.waitForEvent((e) => evName(e) === 'API', 'API event');
    expect(ev.headers.slice(13)).toEqual([['API-Command', 'sofia'], ['API-Command-Argument', 'status profile internal']]);
    const types = c.frames.map(contentType);
    expect(types.indexOf('api/response')).toBeLessThan(types.indexOf('text/event-plain'));
    await c.command('bgapi hostname');
    await c.waitForEvent((e) => getHeader(e.headers, 'API-Command') === 'hostname', 'API for bgapi');
  });

  it('subscriptions: named events only; CUSTOM by subclass; ALL includes every subclass', async () => {
    const s = await standin();
    const named = await client(s, 'event plain HEARTBEAT CUSTOM sofia::register');
    const all = await client(s, 'event json ALL');
    s.fireEvent('CUSTOM', [['profile-name', 'internal']], { subclass: 'sofia::register' });
    s.fireEvent('CUSTOM', [['Action', 'add-member']], { subclass: 'conference::maintenance' });
    s.fireEvent('API', [['API-Command', 'x']]);
    await all.waitForEvent((e) => evName(e) === 'API', 'API on ALL');
    await sleep(50);
    expect(named.events().map((e) => getHeader(e.headers, 'Event-Subclass'))).toEqual(['sofia::register']);
    expect(named.events()[0]?.headers.slice(0, 2)).toEqual([['Event-Subclass', 'sofia::register'], ['Event-Name', 'CUSTOM']]);
    expect(all.events().map(evName)).toEqual(['CUSTOM', 'CUSTOM', 'API']);
    // nixevent of one name out of ALL turns ALL into every other name; as in mod_event_socket,
    // subclassed CUSTOM events then need their subclass listed, so they stop too.
    expect(await reply(all, 'nixevent API')).toBe('+OK events nixed');
    s.fireEvent('API', [['API-Command', 'y']]);
    s.fireEvent('CUSTOM', [['profile-name', 'internal']], { subclass: 'sofia::register' });
    s.fireEvent('RELOADXML', []);
    await all.waitForEvent((e) => evName(e) === 'RELOADXML', 'RELOADXML after nixevent');
    expect(all.events().map(evName)).toEqual(['CUSTOM', 'CUSTOM', 'API', 'RELOADXML']);
  });
});

describe('going away and coming back', () => {
  it('shutdown(): live calls get BYE (SYSTEM_SHUTDOWN) between SHUTDOWN and MODULE_UNLOAD; then notice, close; SIP stops', async () => {
    const s = await standin();
    const c = await client(s, 'event plain ALL');
    const u = await answeredCall(s);
    const from = c.events().length;
    await s.shutdown();
    await c.waitClosed();
    expect(header(await u.request('BYE'))).toBeDefined();
    const names = c.events().slice(from).map(evName);
    const shutdownAt = names.indexOf('SHUTDOWN');
    const complete = c.events().slice(from).find((e) => evName(e) === 'CHANNEL_HANGUP_COMPLETE');
    expect(getHeader(complete?.headers ?? [], 'Hangup-Cause')).toBe('SYSTEM_SHUTDOWN');
    expect(names.indexOf('CHANNEL_DESTROY')).toBeGreaterThan(shutdownAt);
    expect(names.slice(-42)).toEqual(Array(42).fill('MODULE_UNLOAD'));
    const captured = captureEvents('plain-events-shutdown').filter((e) => evName(e) === 'MODULE_UNLOAD');
    expect(c.events().slice(-42).map((e) => e.headers.slice(13))).toEqual(captured.map((e) => e.headers.slice(13)));
    expect(c.frames.at(-1)?.body.toString()).toBe('The system is being shut down.\n');
    const late = await SipTestUac.open(s.sipPort);
    closeLater(late);
    late.invite();
    await sleep(300);
    expect(late.received).toEqual([]);
  });

  it('kill(): connections dropped without notice or event, no BYE; restart() on the same ports with a new Core-UUID', async () => {
    const s = await standin();
    const c = await client(s, 'event plain ALL');
    const u = await answeredCall(s);
    const { eslPort, sipPort, coreUuid } = s;
    // The answered call's own events may still be on their way: count from a quiet stream.
    for (let n = -1, i = 0; n !== c.frames.length && i < 30; i++) {
      n = c.frames.length;
      await sleep(100);
    }
    const before = c.frames.length;
    await s.kill();
    await c.waitClosed();
    expect(c.frames.slice(before).map(contentType)).toEqual([]);
    expect(c.pending).toBe(0);
    await sleep(100);
    expect(u.received.some((m) => m.method === 'BYE')).toBe(false);

    await s.restart();
    expect([s.eslPort, s.sipPort]).toEqual([eslPort, sipPort]);
    expect(s.coreUuid).not.toBe(coreUuid);
    const again = await client(s);
    expect(await api(again, 'global_getvar core_uuid')).toBe(s.coreUuid);
    expect(await api(again, 'status')).toContain('\n0 session(s) since startup\n0 session(s) - peak 0, last 5min 0 \n');
    const v = await SipTestUac.open(s.sipPort);
    closeLater(v);
    v.invite();
    await v.response(200);
    expect(s.activeSessions()).toBe(1);
  });

  it('fsctl shutdown over ESL, then restart() at once: back on the same port with a new Core-UUID', async () => {
    const s = await standin();
    const { eslPort, coreUuid } = s;
    const c = await client(s);
    expect(await api(c, 'fsctl shutdown')).toBe('+OK\n');
    await s.restart();
    await c.waitClosed();
    expect(s.eslPort).toBe(eslPort);
    const again = await client(s);
    const uuid = await api(again, 'global_getvar core_uuid');
    expect(uuid).toBe(s.coreUuid);
    expect(uuid).not.toBe(coreUuid);
  });

  it('stop(): no timer, socket or server left behind; both ports free again; safe to call twice', async () => {
    const resources = () => process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').sort();
    await sleep(100); // let earlier tests' sockets finish closing
    const before = resources();
    const timers = trackTimers();
    let eslPort = 0;
    try {
      const s = await standin({ heartbeatMs: 1000, autoHangupMs: 60_000 });
      eslPort = s.eslPort;
      const u = await SipTestUac.open(s.sipPort);
      u.invite();
      await u.response(200); // not ACKed: the 200 OK retransmission timer runs, as do tone and auto hang-up
      const c = await client(s, 'event plain ALL');
      await c.command('bgapi status');
      expect(timers.pending()).toBeGreaterThanOrEqual(4);
      u.close();
      c.close();
      await s.stop();
      await s.stop();
      expect(timers.pending()).toBe(0);
    } finally {
      timers.restore();
    }
    await sleep(50);
    expect(resources()).toEqual(before);
    await new Promise<void>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(eslPort, '127.0.0.1', () => srv.close(() => resolve()));
    });
  });
});

/** Counts setTimeout/setInterval handles created while installed that neither fired nor were cleared. */
function trackTimers() {
  const live = new Set<unknown>();
  const spies = [
    vi.spyOn(globalThis, 'setTimeout').mockImplementation((fn: () => void, ms?: number) => {
      const t = realSetTimeout(() => {
        live.delete(t);
        fn();
      }, ms);
      live.add(t);
      return t;
    }),
    vi.spyOn(globalThis, 'setInterval').mockImplementation((fn: () => void, ms?: number) => {
      const t = realSetInterval(fn, ms);
      live.add(t);
      return t;
    }),
    vi.spyOn(globalThis, 'clearTimeout').mockImplementation((t) => {
      live.delete(t);
      realClearTimeout(t);
    }),
    vi.spyOn(globalThis, 'clearInterval').mockImplementation((t) => {
      live.delete(t);
      realClearInterval(t);
    }),
  ];
  return { pending: () => live.size, restore: () => spies.forEach((sp) => sp.mockRestore()) };
}
const [realSetTimeout, realSetInterval, realClearTimeout, realClearInterval] = [setTimeout, setInterval, clearTimeout, clearInterval];

function header(m: { headers: Array<[string, string]> }): string | undefined {
  return m.headers.find(([k]) => k === 'Call-ID')?.[1];
}
