/**
 * The SIP side: what a caller (or Kamailio) sees from the stand-in's sofia-like UAS.
 */
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../support/ports.js';
import { CAPTURES } from './captures.js';
import { getHeader } from './esl-frames.js';
import { header, headers, parseSip } from './sip-message.js';
import type { Standin } from './standin.js';
import { EslTestClient, SipTestUac } from './test-clients.js';
import { useStandins } from './fixture.js';

const { standin, closeLater } = useStandins();

async function uac(s: Standin, dest = '9000'): Promise<SipTestUac> {
  const u = await SipTestUac.open(s.sipPort, dest);
  closeLater(u);
  return u;
}
async function esl(s: Standin, sub = 'event plain ALL'): Promise<EslTestClient> {
  const c = await EslTestClient.ready(s.eslPort, s.password, sub);
  closeLater(c);
  return c;
}

/** The 503 sofia sent in sip-invite-while-paused-inbound.txt. */
function captured503() {
  const log = readFileSync(`${CAPTURES}/sip-invite-while-paused-inbound.txt`, 'utf8');
  const start = log.indexOf('SIP/2.0 503');
  const msg = parseSip(Buffer.from(log.slice(start, log.indexOf('\r\n\r\n', start) + 4)));
  if (!msg) throw new Error('no 503 in the capture');
  return msg;
}

describe('INVITE handling', () => {
  it('answers with 100 Trying then 200 OK: Via and Record-Route copied, To-tag, Contact, SDP', async () => {
    const s = await standin();
    const u = await uac(s);
    u.invite(['Record-Route: <sip:127.0.0.1:5999;lr>']);
    const ok = await u.response(200);
    expect(u.received.map((m) => m.status)).toEqual([100, 200]);
    expect(headers(ok, 'Via')).toEqual([`SIP/2.0/UDP 127.0.0.1:${u.port};branch=z9hG4bK-${u.callId.slice(2, -10)}-1-0`]);
    expect(headers(ok, 'Record-Route')).toEqual(['<sip:127.0.0.1:5999;lr>']);
    expect(header(ok, 'To')).toMatch(/^9000 <sip:9000@127\.0\.0\.1:\d+>;tag=[A-Za-z0-9]{13}$/);
    expect(header(ok, 'Contact')).toBe(`<sip:9000@127.0.0.1:${s.sipPort};transport=udp>`);
    expect(header(ok, 'Content-Type')).toBe('application/sdp');
    expect(ok.body).toMatch(/^v=0\r\no=FreeSWITCH \d+ \d+ IN IP4 127\.0\.0\.1\r\n[\s\S]*m=audio \d+ RTP\/AVP 0 101\r\n/);
    u.ack();
    expect(s.calls).toHaveLength(1);
    expect(s.calls[0]).toMatchObject({ callId: u.callId, destination: '9000', from: 'sipp', finalStatus: 200 });
  });

  it('absorbs a retransmitted INVITE: one call, the last response repeated', async () => {
    const s = await standin();
    const c = await esl(s);
    const u = await uac(s);
    u.invite();
    await u.response(200);
    u.invite();
    await sleep(200);
    expect(u.received.filter((m) => m.status === 200)).toHaveLength(2);
    expect(s.calls).toHaveLength(1);
    expect(s.activeSessions()).toBe(1);
    expect(c.events().filter((e) => getHeader(e.headers, 'Event-Name') === 'CHANNEL_CREATE')).toHaveLength(1);
  });

  it('CANCEL while ringing: 200 OK to the CANCEL, 487 to the INVITE, channel hung up ORIGINATOR_CANCEL', async () => {
    const s = await standin({ answerDelayMs: 5000 });
    const c = await esl(s);
    const u = await uac(s);
    u.invite();
    await u.response(100);
    u.cancel();
    await u.response(200, 'CANCEL');
    await u.response(487, 'INVITE');
    u.ack();
    const done = await c.waitForEvent((e) => getHeader(e.headers, 'Event-Name') === 'CHANNEL_HANGUP_COMPLETE', 'HANGUP_COMPLETE');
    expect(getHeader(done.headers, 'Hangup-Cause')).toBe('ORIGINATOR_CANCEL');
    expect(getHeader(done.headers, 'variable_sip_hangup_disposition')).toBe('recv_cancel');
    // Never answered: no answer stamp, zero answer epoch, no codec and no RTP statistics.
    expect(getHeader(done.headers, 'variable_answer_stamp')).toBeUndefined();
    expect(getHeader(done.headers, 'variable_answer_epoch')).toBe('0');
    expect(getHeader(done.headers, 'Caller-Channel-Answered-Time')).toBe('0');
    expect(done.headers.filter(([k]) => /^(variable_rtp_audio_|variable_read_codec|Channel-Read-Codec)/.test(k))).toEqual([]);
    await c.waitForEvent((e) => getHeader(e.headers, 'Event-Name') === 'CHANNEL_DESTROY', 'DESTROY');
    expect(s.calls[0]).toMatchObject({ finalStatus: 487, hangupCause: 'ORIGINATOR_CANCEL', answeredAt: undefined });
    expect(s.activeSessions()).toBe(0);
  });

  it('over max sessions: 503 Maximum Calls In Progress, Retry-After 300, no 100 Trying, as sofia sent it', async () => {
    const s = await standin({ maxSessions: 1 });
    const first = await uac(s);
    first.invite();
    await first.response(200);
    first.ack();
    const second = await uac(s, '3000');
    second.invite();
    const busy = await second.response(503);
    expect(busy.reason).toBe('Maximum Calls In Progress');
    expect(header(busy, 'Retry-After')).toBe('300');
    expect(second.received.some((m) => m.status === 100)).toBe(false);
    expect(busy.headers.map(([k]) => k)).toEqual(captured503().headers.map(([k]) => k));
    expect(header(busy, 'User-Agent')).toBe(header(captured503(), 'User-Agent'));
    expect(s.calls.map((c) => c.finalStatus)).toEqual([200, 503]);
    expect(s.calls[1]?.uuid).toBeUndefined();
    expect(s.activeSessions()).toBe(1);
  });

  it('fsctl pause inbound refuses with 503 and creates no channel; resume accepts again', async () => {
    const s = await standin();
    const c = await esl(s);
    expect((await c.command('api fsctl pause inbound', 'api/response')).body.toString()).toBe('+OK\n');
    const u = await uac(s);
    u.invite();
    await u.response(503);
    u.ack();
    expect((await c.command('api fsctl pause_check inbound', 'api/response')).body.toString()).toBe('true');
    expect(c.events().map((e) => getHeader(e.headers, 'Event-Name')).filter((n) => n !== 'API')).toEqual([]);
    await c.command('api fsctl resume inbound', 'api/response');
    const v = await uac(s);
    v.invite();
    await v.response(200);
    // `fsctl pause` (no direction) stops every new session and makes `status` say so.
    await c.command('api fsctl pause', 'api/response');
    expect((await c.command('api status', 'api/response')).body.toString()).toContain(' is not ready\n');
    const w = await uac(s);
    w.invite();
    await w.response(503);
  });

  it('configured failure: the given status, no channel; the ACK stops retransmission', async () => {
    const s = await standin();
    s.setInviteResponse({ status: 486, reason: 'Busy Here' });
    const u = await uac(s);
    u.invite();
    const busy = await u.response(486);
    expect(busy.reason).toBe('Busy Here');
    u.ack();
    await sleep(700);
    expect(u.received.filter((m) => m.status === 486)).toHaveLength(1);
    expect(s.calls[0]).toMatchObject({ finalStatus: 486, uuid: undefined });
  });

  it("'ignore': no response at all, not even to OPTIONS; the INVITE is still recorded", async () => {
    const s = await standin();
    s.setInviteResponse('ignore');
    const u = await uac(s);
    u.invite();
    u.options();
    await sleep(600);
    expect(u.received).toEqual([]);
    expect(s.calls).toHaveLength(1);
    expect(s.calls[0]?.finalStatus).toBeUndefined();
    s.setInviteResponse('answer');
    const v = await uac(s);
    v.invite();
    await v.response(200);
  });

  it('OPTIONS: 200 OK; 503 while paused only with optionsRespond503OnBusy', async () => {
    const plain = await standin();
    const u = await uac(plain);
    u.options();
    expect(header(await u.response(200, 'OPTIONS'), 'Allow')).toContain('INVITE');
    const strict = await standin({ optionsRespond503OnBusy: true });
    const c = await esl(strict);
    await c.command('api fsctl pause inbound', 'api/response');
    const v = await uac(strict);
    v.options();
    expect(header(await v.response(503, 'OPTIONS'), 'Retry-After')).toBe('300');
  });
});

describe('hang-up from the stand-in', () => {
  it('uuid_kill sends BYE to the caller along the recorded route; events say send_bye', async () => {
    const s = await standin();
    const c = await esl(s);
    const u = await uac(s);
    u.invite([`Record-Route: <sip:127.0.0.1:${u.port};lr>`]);
    await u.response(200);
    u.ack();
    const uuid = s.calls[0]?.uuid ?? '';
    expect((await c.command(`api uuid_getvar ${uuid} sip_call_id`, 'api/response')).body.toString()).toBe(u.callId);
    expect((await c.command(`api uuid_kill ${uuid}`, 'api/response')).body.toString()).toBe('+OK\n');
    const bye = await u.request('BYE');
    expect(header(bye, 'Call-ID')).toBe(u.callId);
    expect(header(bye, 'Reason')).toBe('Q.850;cause=16;text="NORMAL_CLEARING"');
    expect(bye.uri).toBe(`sip:sipp@127.0.0.1:${u.port}`);
    expect(headers(bye, 'Route')).toEqual([`<sip:127.0.0.1:${u.port};lr>`]);
    expect(header(bye, 'From')).toMatch(/;tag=[A-Za-z0-9]{13}$/);
    u.answerBye(bye);
    const done = await c.waitForEvent((e) => getHeader(e.headers, 'Event-Name') === 'CHANNEL_HANGUP_COMPLETE', 'HANGUP_COMPLETE');
    expect(getHeader(done.headers, 'variable_sip_hangup_disposition')).toBe('send_bye');
    expect(s.activeSessions()).toBe(0);
  });

  it('autoHangupMs: BYE after that long', async () => {
    const s = await standin({ autoHangupMs: 300 });
    const u = await uac(s);
    u.invite();
    await u.response(200);
    u.ack();
    const bye = await u.request('BYE', 2000);
    u.answerBye(bye);
    expect(s.calls[0]?.endedAt).toBeDefined();
  });
});

describe('with the real SIPp', () => {
  it('a `sipp -sn uac` call produces CHANNEL_CREATE … CHANNEL_DESTROY with its Call-ID', async () => {
    const s = await standin();
    const c = await esl(s, 'event json CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE CHANNEL_DESTROY');
    const port = await freePort();
    const sipp = spawn('sipp', ['-sn', 'uac', '-m', '1', '-s', '9100', `127.0.0.1:${s.sipPort}`, '-i', '127.0.0.1', '-p', String(port), '-d', '300', '-timeout', '10s', '-nostdin'], { stdio: 'ignore' });
    const code = await new Promise<number | null>((resolve) => sipp.once('exit', resolve));
    expect(code).toBe(0);
    await c.waitForEvent((e) => getHeader(e.headers, 'Event-Name') === 'CHANNEL_DESTROY', 'CHANNEL_DESTROY');
    const callId = s.calls[0]?.callId ?? '';
    expect(callId).toMatch(/^1-\d+@127\.0\.0\.1$/);
    const evs = c.events();
    expect(evs.map((e) => getHeader(e.headers, 'Event-Name'))).toEqual(['CHANNEL_CREATE', 'CHANNEL_ANSWER', 'CHANNEL_HANGUP_COMPLETE', 'CHANNEL_DESTROY']);
    for (const e of evs) {
      expect(getHeader(e.headers, 'variable_sip_call_id')).toBe(callId);
      expect(getHeader(e.headers, 'Caller-Destination-Number')).toBe('9100');
    }
  });
});
