/**
 * Replays what the capture clients sent (`<name>.sent`) against the stand-in and compares the reply
 * stream with what FreeSWITCH sent (`<name>.esl`).
 *
 * Comparison rules, per frame in order:
 *  - the same Content-Type sequence (events included where the capture's connection received them
 *    as a consequence of its own commands or of a shutdown/heartbeat; call events are compared in
 *    calls.test.ts);
 *  - the same outer header names in the same order;
 *  - command/reply: the same Reply-Text (Job-UUID values aside);
 *  - events: the same Event-Name and the same event header names in the same order;
 *  - api/response: per command, `exact` (same bytes), `shape` (same text once numbers are masked
 *    and the stand-in's own address/port substituted), or an explicit, listed exception.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { captureBytes, captureFrames, captureSent } from './captures.js';
import { contentType, getHeader, parseEventFrame, type EslFrame } from './esl-frames.js';
import { startStandin, type Standin } from './standin.js';
import { EslTestClient } from './test-clients.js';

const running: Standin[] = [];
const clients: EslTestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of running.splice(0)) await s.stop();
});

async function standin(opts: Parameters<typeof startStandin>[0] = {}): Promise<Standin> {
  const s = await startStandin({ toneMs: 200, eslReadyDelayMs: 0, shutdownDelayMs: 0, ...opts });
  running.push(s);
  return s;
}

async function open(s: Standin): Promise<EslTestClient> {
  const c = await EslTestClient.open(s.eslPort);
  clients.push(c);
  return c;
}

/** Sends each command once the previous one's reply has arrived, as the capture clients did. */
async function replay(c: EslTestClient, commands: string[], opts: { jobEvents?: boolean } = {}): Promise<void> {
  for (const cmd of commands) {
    if (cmd.startsWith('api ')) await c.command(cmd, 'api/response');
    else if (cmd === 'exit') await c.command(cmd, 'text/disconnect-notice');
    else if (cmd.startsWith('bgapi ') && opts.jobEvents) {
      const from = c.frames.length;
      await c.command(cmd);
      await c.next('text/event-plain', from);
    } else await c.command(cmd);
  }
}

interface Shape {
  type: string | undefined;
  names: string[];
  reply?: string;
  event?: string;
  eventNames?: string[];
}

function shape(f: EslFrame): Shape {
  const s: Shape = { type: contentType(f), names: f.headers.map(([k]) => k) };
  const reply = getHeader(f.headers, 'Reply-Text');
  if (reply !== undefined) s.reply = reply.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/, '<uuid>');
  const ev = parseEventFrame(f);
  if (ev) {
    s.event = getHeader(ev.headers, 'Event-Name');
    s.eventNames = ev.headers.map(([k]) => k);
  }
  return s;
}

const mask = (text: string) => text.replace(/\d+(\.\d+)?/g, '#').replace(/(# [a-z]+)s\b/g, '$1');

/** The capture's `sofia status` table with the stand-in's URL in the right-aligned Data column. */
function withUrl(text: string, s: Standin): string {
  return text
    .replace(/ *sip:mod_sofia@127\.0\.0\.1:5080(?=\t)/, `sip:mod_sofia@127.0.0.1:${s.sipPort}`.padStart(42))
    .replaceAll('sip:mod_sofia@127.0.0.1:5080', `sip:mod_sofia@127.0.0.1:${s.sipPort}`);
}

describe('replaying the captured client sessions', () => {
  it('auth-failure: byte-identical reply, then the server closes the socket', async () => {
    const s = await standin();
    const c = await open(s);
    await replay(c, captureSent('auth-failure'));
    await c.waitClosed();
    expect(Buffer.concat(c.raw).equals(captureBytes('auth-failure'))).toBe(true);
  });

  it.each(['plain-events-calls', 'json-events-calls'])('%s: same replies around the event stream', async (name) => {
    const s = await standin();
    const c = await open(s);
    await replay(c, captureSent(name));
    await c.waitClosed();
    const nonEvents = (frames: EslFrame[]) => frames.filter((f) => !contentType(f)?.startsWith('text/event-')).map(shape);
    expect(nonEvents(c.frames)).toEqual(nonEvents(captureFrames(name)));
    expect(c.frames.at(-1)?.body.toString()).toBe('Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n');
  });

  it('api-replies: same frame sequence; api outputs exact, same shape, or listed exceptions', async () => {
    const s = await standin({ hostname: 'vm' });
    const c = await open(s);
    await replay(c, captureSent('api-replies'), { jobEvents: true });
    await c.waitClosed();
    const real = captureFrames('api-replies');
    expect(c.frames.map(shape)).toEqual(real.map(shape));

    const commands = captureSent('api-replies').filter((x) => x.startsWith('api '));
    const mine = c.frames.filter((f) => contentType(f) === 'api/response').map((f) => f.body.toString());
    const theirs = real.filter((f) => contentType(f) === 'api/response').map((f) => f.body.toString());
    expect(mine).toHaveLength(commands.length);
    commands.forEach((cmd, i) => {
      const [m, t] = [mine[i] ?? '', theirs[i] ?? ''];
      const rule = apiRule(cmd);
      if (rule === 'exact') expect(m, cmd).toBe(t);
      else if (rule === 'shape') expect(mask(m), cmd).toBe(mask(t));
      else if (rule === 'core-uuid') expect(m, cmd).toBe(s.coreUuid);
      else if (rule === 'sofia') expect(m, cmd).toBe(withUrl(t, s));
      else if (rule === 'profile') expect(m, cmd).toBe(withUrl(t, s).replace('transport=udp,tcp', 'transport=udp'));
      else if (rule === 'rows need calls') expect(m, cmd).toBe(cmd.endsWith(' as json') ? '{"row_count": 0}\n' : '\n0 total.\n');
      else if (rule === 'rooms need calls') {
        // No call is made here, so no room exists: the capture's own texts for that state.
        const room = cmd.split(' ')[2] ?? '';
        expect(m, cmd).toBe(room === 'list' ? '+OK No active conferences.\n' : `-ERR Conference ${room} not found\n`);
      }
      else expect(m, `${cmd} (${rule})`).toMatch(/^-ERR /);
    });

    // bgapi: command/reply carries the Job-UUID twice; the BACKGROUND_JOB body is the api output.
    const jobs = c.events().filter((e) => getHeader(e.headers, 'Event-Name') === 'BACKGROUND_JOB');
    expect(jobs).toHaveLength(3);
    expect(jobs.map((e) => getHeader(e.headers, 'Job-Command'))).toEqual(['originate', 'originate', 'originate']);
    expect(jobs[0]?.body).toBe('-ERR originate Command not found!\n');
  });

  it('api-shutdown and plain-events-shutdown: same frames, events and notice as the capture', async () => {
    // The real delay between `fsctl shutdown` and SHUTDOWN (drawn from the measured range).
    const s = await standin({ hostname: 'vm', shutdownDelayMs: undefined });
    const events = await open(s);
    await replay(events, captureSent('plain-events-shutdown'));
    const api = await open(s);
    await replay(api, captureSent('api-shutdown'));
    await Promise.all([events.waitClosed(), api.waitClosed()]);
    expect(api.frames.map(shape)).toEqual(captureFrames('api-shutdown').map(shape));
    expect(api.frames.map((f) => f.body.toString()).slice(2)).toEqual([s.coreUuid, '+OK\n', 'The system is being shut down.\n']);
    // The event connection sees both API events, SHUTDOWN, the 42 MODULE_UNLOADs, then the notice.
    expect(events.frames.map(shape)).toEqual(captureFrames('plain-events-shutdown').map(shape));
    expect(s.running).toBe(false);
  });

  it('after a restart: new Core-UUID, same port, counters reset; streams as in the *-after-restart captures', async () => {
    const s = await standin({ hostname: 'vm', heartbeatMs: 1000 });
    const before = s.coreUuid;
    const port = s.eslPort;
    await s.shutdown();
    await s.restart();
    expect(s.eslPort).toBe(port);
    expect(s.coreUuid).not.toBe(before);

    const events = await open(s);
    await replay(events, captureSent('plain-events-after-restart').slice(0, 2));
    const api = await open(s);
    await replay(api, captureSent('api-replies-after-restart'));
    await api.waitClosed();
    await events.waitForEvent((e) => getHeader(e.headers, 'Event-Name') === 'RE_SCHEDULE', 'RE_SCHEDULE', 3000);
    await replay(events, ['exit']);

    expect(events.frames.map(shape)).toEqual(captureFrames('plain-events-after-restart').map(shape));
    expect(api.frames.map(shape)).toEqual(captureFrames('api-replies-after-restart').map(shape));
    const [uuid, version, status, sofia] = api.frames.filter((f) => contentType(f) === 'api/response').map((f) => f.body.toString());
    const real = captureFrames('api-replies-after-restart').filter((f) => contentType(f) === 'api/response').map((f) => f.body.toString());
    expect(uuid).toBe(s.coreUuid);
    expect(version).toBe(real[1]);
    expect(mask(status ?? '')).toBe(mask(real[2] ?? ''));
    expect(status).toContain('\n0 session(s) since startup\n');
    expect(sofia).toBe(withUrl(real[3] ?? '', s));
    const hb = events.events().find((e) => getHeader(e.headers, 'Event-Name') === 'HEARTBEAT');
    expect(getHeader(hb?.headers ?? [], 'Session-Since-Startup')).toBe('0');
    expect(getHeader(hb?.headers ?? [], 'Core-UUID')).toBe(s.coreUuid);
  });
});

type Rule = 'exact' | 'shape' | 'core-uuid' | 'sofia' | 'profile' | 'rooms need calls' | 'no such channel here' | 'rows need calls';

/** How each captured api command's output is compared (exceptions are the non-`exact` rules). */
function apiRule(cmd: string): Rule {
  const c = cmd.slice(4);
  if (c === 'version' || c === 'no_such_command' || c.startsWith('fsctl ')) return 'exact';
  if (c === 'hostname') return 'exact'; // the stand-in runs with hostname 'vm' here
  if (c === 'status' || c.endsWith(' count')) return 'shape';
  if (c === 'global_getvar core_uuid') return 'core-uuid';
  if (c === 'sofia status') return 'sofia';
  if (c === 'sofia status profile internal') return 'profile';
  // `conference 9999 list` is byte-exact; the rest ask about rooms only the capture's calls created
  // (the first `conference list`, before any call, is the capture's `+OK No active conferences.`).
  if (c === 'conference 9999 list') return 'exact';
  if (c.startsWith('conference')) return 'rooms need calls';
  if (c.startsWith('uuid_')) return 'no such channel here'; // the capture's UUIDs do not exist here
  if (c.startsWith('show ')) return 'rows need calls';
  throw new Error(`no rule for ${cmd}`);
}
