/**
 * Channel events of SIP calls made to the stand-in, compared with the capture.
 *
 * Kind of channel: an inbound SIP channel from a SIPp `uac` INVITE into the tone extension
 * (answer, tone, park until BYE): capture channels b543c7e7… (BYE while parked) and b2b12f6f…
 * (BYE during the tone). Conference channels (3xxx) are compared in conference.test.ts.
 *
 * Rules, for both `event plain ALL` and `event json ALL` subscribers:
 *  1. sequence: the events carrying the call's Unique-ID, in order, have the same Event-Name and
 *     exactly the same header names in the same order (duplicates included) as the capture
 *     channel that ended the same way — no exceptions;
 *  2. sets: per event name, the union of header names over both calls equals the capture's union
 *     over both channels, and every event name emitted exists in the capture;
 *  3. values that identify the call are the call's own (asserted one by one below).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { captureEvents, captureFrames, captureSent } from './captures.js';
import { contentType, getHeader, type EslEvent } from './esl-frames.js';
import { header } from './sip-message.js';
import { startStandin, type Standin } from './standin.js';
import { EslTestClient, SipTestUac } from './test-clients.js';

const PARKED = 'b543c7e7-6a53-45a4-a02d-66d38aaf9b40';
const IN_TONE = 'b2b12f6f-1526-48bb-bc33-86b077148ccc';
const TONE_MS = 600; // long enough that "BYE during the tone" stays inside it on a loaded machine

const captured = captureEvents('plain-events-calls');
const name = (e: EslEvent) => getHeader(e.headers, 'Event-Name') ?? '';
const h = (e: EslEvent | undefined, n: string) => (e ? getHeader(e.headers, n) : undefined);
const ofChannel = (events: EslEvent[], uuid: string) => events.filter((e) => h(e, 'Unique-ID') === uuid);
const names = (e: EslEvent) => e.headers.map(([k]) => k);

function unions(channels: EslEvent[][]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const e of channels.flat()) {
    const set = out.get(name(e)) ?? new Set<string>();
    for (const n of names(e)) set.add(n);
    out.set(name(e), set);
  }
  return out;
}

interface Made {
  uac: SipTestUac;
  uuid: string;
  toTag: string;
}

/** One SIPp-like call: INVITE, ACK, then BYE either while parked or during the tone. */
async function call(s: Standin, byeAfterMs: number, dest = '9000'): Promise<Made> {
  const uac = await SipTestUac.open(s.sipPort, dest);
  uac.invite();
  const ok = await uac.response(200);
  uac.ack();
  await sleep(byeAfterMs);
  uac.bye();
  await uac.response(200, 'BYE');
  uac.close();
  const rec = s.calls.find((c) => c.callId === uac.callId);
  return { uac, uuid: rec?.uuid ?? '', toTag: /tag=([^;]+)/.exec(header(ok, 'To') ?? '')?.[1] ?? '' };
}

describe.each(['plain', 'json'] as const)('channel events, %s subscriber', (format) => {
  let s: Standin;
  let esl: EslTestClient;
  let parked: Made;
  let inTone: Made;

  beforeAll(async () => {
    s = await startStandin({ toneMs: TONE_MS, heartbeatMs: 60_000, eslReadyDelayMs: 0 });
    esl = await EslTestClient.ready(s.eslPort, s.password, `event ${format} ALL`);
    parked = await call(s, TONE_MS + 300);
    inTone = await call(s, 30, '9002');
    await esl.waitForEvent((e) => h(e, 'Unique-ID') === inTone.uuid && h(e, 'Channel-State') === 'CS_DESTROY', 'CS_DESTROY');
  });
  afterAll(async () => {
    esl.close();
    await s.stop();
  });

  it.each([
    ['BYE while parked', () => parked, PARKED],
    ['BYE during the tone', () => inTone, IN_TONE],
  ])('%s: same event names and header names, in order, as the captured channel', (_l, made, capturedUuid) => {
    const mine = ofChannel(esl.events(), made().uuid);
    const theirs = ofChannel(captured, capturedUuid);
    expect(mine.map(name)).toEqual(theirs.map(name));
    mine.forEach((e, i) => expect(names(e), `${i}: ${name(e)}`).toEqual(names(theirs[i]!)));
  });

  it('per event name, the same header-name sets; no event name the capture lacks', () => {
    const mine = unions([ofChannel(esl.events(), parked.uuid), ofChannel(esl.events(), inTone.uuid)]);
    const theirs = unions([ofChannel(captured, PARKED), ofChannel(captured, IN_TONE)]);
    expect([...mine.keys()].sort()).toEqual([...theirs.keys()].sort());
    const capturedNames = new Set(captured.map(name));
    for (const n of mine.keys()) expect(capturedNames.has(n)).toBe(true);
    for (const [n, set] of mine) expect([...set].sort(), n).toEqual([...(theirs.get(n) ?? [])].sort());
  });

  it("carries the call's own identity and outcome", () => {
    const evs = ofChannel(esl.events(), parked.uuid);
    const create = evs.find((e) => name(e) === 'CHANNEL_CREATE');
    expect(parked.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parked.uuid).not.toBe(inTone.uuid);
    expect(h(create, 'Core-UUID')).toBe(s.coreUuid);
    expect(h(create, 'Channel-Call-UUID')).toBe(parked.uuid);
    expect(h(create, 'variable_sip_call_id')).toBe(parked.uac.callId);
    expect(h(create, 'Caller-Destination-Number')).toBe('9000');
    expect(h(create, 'Caller-Caller-ID-Number')).toBe('sipp');
    expect(h(create, 'Channel-Name')).toBe(`sofia/internal/sipp@127.0.0.1:${parked.uac.port}`);
    expect(h(create, 'variable_sofia_profile_url')).toBe(`sip:mod_sofia@127.0.0.1:${s.sipPort}`);
    const complete = evs.find((e) => name(e) === 'CHANNEL_HANGUP_COMPLETE');
    expect(h(complete, 'Hangup-Cause')).toBe('NORMAL_CLEARING');
    expect(h(complete, 'variable_sip_hangup_disposition')).toBe('recv_bye');
    expect(h(complete, 'variable_sip_to_tag')).toBe(parked.toTag);
    expect(h(complete, 'variable_last_app')).toBe('park');
    expect(h(complete, 'variable_playback_ms')).toBe(String(TONE_MS));
    const tone = ofChannel(esl.events(), inTone.uuid);
    expect(h(tone.find((e) => name(e) === 'CHANNEL_CREATE'), 'Caller-Destination-Number')).toBe('9002');
    expect(h(tone.find((e) => name(e) === 'CHANNEL_EXECUTE_COMPLETE' && h(e, 'Application') === 'playback'), 'Application-Response')).toBe('PLAYBACK ERROR');
    // One strftime API event per routed call, as the capture's dialplan does.
    expect(esl.events().filter((e) => h(e, 'API-Command') === 'strftime')).toHaveLength(2);
    const seqs = esl.events().map((e) => Number(h(e, 'Event-Sequence')));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });
});

interface ShowJson {
  row_count: number;
  rows?: Array<Record<string, string>>;
}

/** First captured row of an api command's JSON output (api-replies.esl). */
function capturedRow(cmd: string): Record<string, string> {
  const sent = captureSent('api-replies').filter((c) => c.startsWith('api '));
  const outs = captureFrames('api-replies').filter((f) => contentType(f) === 'api/response');
  for (const [i, c] of sent.entries()) {
    const out = JSON.parse(c === cmd ? (outs[i]?.body.toString() ?? '{}') : '{}') as ShowJson;
    if (out.rows?.[0]) return out.rows[0];
  }
  throw new Error(`no rows for ${cmd} in the capture`);
}

describe('session counts and HEARTBEAT', () => {
  it('count goes up with a call and down after it; HEARTBEAT has the captured header names', async () => {
    const s = await startStandin({ toneMs: TONE_MS, heartbeatMs: 250, maxSessions: 7, eslReadyDelayMs: 0 });
    try {
      const esl = await EslTestClient.ready(s.eslPort, s.password, 'event plain HEARTBEAT');
      const uac = await SipTestUac.open(s.sipPort);
      uac.invite();
      await uac.response(200);
      uac.ack();
      expect(s.activeSessions()).toBe(1);
      const status = (await esl.command('api status', 'api/response')).body.toString();
      expect(status).toMatch(/\n1 session\(s\) since startup\n1 session\(s\) - peak 1, last 5min 1 \n/);
      expect(status).toContain('\n7 session(s) max\n');
      // `show channels|calls as json` rows have the captured columns, in the captured order.
      for (const what of ['channels', 'calls']) {
        const mine = JSON.parse((await esl.command(`api show ${what} as json`, 'api/response')).body.toString()) as ShowJson;
        expect(mine.row_count).toBe(1);
        expect(mine.rows?.[0]?.['uuid']).toBe(s.calls[0]?.uuid);
        expect(mine.rows?.[0]?.['dest']).toBe('9000');
        expect(Object.keys(mine.rows?.[0] ?? {})).toEqual(Object.keys(capturedRow(`api show ${what} as json`)));
      }
      const from = esl.events().length;
      const beat = await esl.waitForEvent((e) => name(e) === 'HEARTBEAT', 'HEARTBEAT during the call', 2000, from);
      expect(h(beat, 'Session-Count')).toBe('1');
      expect(h(beat, 'Max-Sessions')).toBe('7');
      const capturedBeat = captured.find((e) => name(e) === 'HEARTBEAT');
      expect(names(beat)).toEqual(names(capturedBeat!));
      uac.bye();
      await uac.response(200, 'BYE');
      expect(s.activeSessions()).toBe(0);
      const after = await esl.waitForEvent((e) => name(e) === 'HEARTBEAT' && h(e, 'Session-Count') === '0', 'HEARTBEAT after the call');
      expect(h(after, 'Session-Since-Startup')).toBe('1');
      expect(h(after, 'Session-Peak-Max')).toBe('1');
      expect((await esl.command('api show calls count', 'api/response')).body.toString()).toBe('\n0 total.\n');
      esl.close();
      uac.close();
    } finally {
      await s.stop();
    }
  });
});
