/**
 * Two stand-ins joined by a cascade link, as in the two-node captures: A runs
 * `conference 3000 bgdial|dial <dial string>` towards B's SIP port; B's dialplan puts the link leg
 * into its own room 3000. A has verbose-events off (node A), B on (node B).
 */
import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSocket } from 'node:dgram';
import { captureEvents } from './captures.js';
import { getHeader, type EslEvent } from './esl-frames.js';
import { action, h, isConf, names, nonVarNames } from './conferenceEvents.js';
import { api, useStandins } from './fixture.js';
import { header, parseSip, type SipMessage } from './sip-message.js';
import type { Standin } from './standin.js';
import { SipTestUac, type EslTestClient } from './test-clients.js';

const { standin, client, closeLater } = useStandins();


const nodeA = captureEvents('cascade-a-plain');
const nodeB = captureEvents('cascade-b-plain');
const capturedA = (what: string, pred: (e: EslEvent) => boolean) => {
  const e = nodeA.find(pred);
  if (!e) throw new Error(`no ${what} in cascade-a-plain`);
  return e;
};
const linkLeg = (e: EslEvent) => h(e, 'Call-Direction') === 'outbound' && h(e, 'Caller-Orig-Caller-ID-Name') === 'cascade';

/** The capture's dial string, pointed at `port`; `more` is added inside the braces. */
const dialString = (port: number, more = '') =>
  `{sip_h_X-SBC-Cascade=1,origination_caller_id_name=cascade,origination_caller_id_number=3000,conference_member_flags=nomoh,conference_enter_sound=silence_stream://20,conference_exit_sound=silence_stream://20${more}}sofia/internal/3000@127.0.0.1:${port}`;

async function join(s: Standin, dest = '3000'): Promise<SipTestUac> {
  const u = closeLater(await SipTestUac.open(s.sipPort, dest));
  u.invite();
  await u.response(200);
  u.ack();
  return u;
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface Pair {
  a: Standin;
  b: Standin;
  aEvents: EslTestClient;
  bEvents: EslTestClient;
  aApi: EslTestClient;
  bApi: EslTestClient;
}

/** Node A and node B, each with one SIPp caller in room 3000 and an event connection. */
async function pair(o: { aVerbose?: boolean } = {}): Promise<Pair> {
  const a = await standin({ verboseEvents: o.aVerbose ?? false });
  const b = await standin({ verboseEvents: true });
  const aEvents = await client(a, 'event plain ALL');
  const bEvents = await client(b, 'event plain ALL');
  const aApi = await client(a, 'event plain BACKGROUND_JOB');
  const bApi = await client(b);
  await join(a);
  await join(b);
  return { a, b, aEvents, bEvents, aApi, bApi };
}

const links = (s: Standin) => s.conferenceList().flatMap((c) => c.members.filter((m) => m.link).map((m) => ({ ...m, room: c.name })));

describe('cascade link between two stand-ins', () => {
  it('api bgdial: +OK Job-UUID, bgdial-result SUCCESS with the leg as Peer-UUID; both rooms hold the link member', async () => {
    const { a, b, aEvents, bEvents, aApi } = await pair();
    const reply = await api(aApi, `conference 3000 bgdial ${dialString(b.sipPort)} 3000 cascade`);
    const job = /^\+OK Job-UUID: ([0-9a-f-]{36})\n$/.exec(reply)?.[1];
    expect(job, reply).toBeDefined();
    const result = await aEvents.waitForEvent(action('bgdial-result'), 'bgdial-result');
    expect(h(result, 'Result')).toBe('SUCCESS');
    expect(h(result, 'Job-UUID')).toBe(job);
    const legUuid = h(result, 'Peer-UUID') ?? '';
    expect(names(result)).toEqual(names(capturedA('bgdial-result', action('bgdial-result'))));
    expect(h(result, 'Conference-Size')).toBe('1'); // before the leg joins, as captured

    const aAdd = await aEvents.waitForEvent((e) => action('add-member')(e) && h(e, 'Unique-ID') === legUuid, "A's link add-member");
    const bAdd = await bEvents.waitForEvent((e) => action('add-member')(e) && h(e, 'Member-ID') === '2', "B's link add-member");
    // A (outbound leg, no verbose-events): the captured outbound link member's header names.
    expect(names(aAdd)).toEqual(names(capturedA('A link add-member', (e) => action('add-member')(e) && linkLeg(e))));
    expect([h(aAdd, 'Call-Direction'), h(aAdd, 'Channel-Name'), h(aAdd, 'Caller-Caller-ID-Name'), h(aAdd, 'Caller-Orig-Caller-ID-Name'), h(aAdd, 'Caller-Callee-ID-Name')])
      .toEqual(['outbound', `sofia/internal/3000@127.0.0.1:${b.sipPort}`, '3000', 'cascade', 'cascade']);
    // B (inbound link leg, verbose-events): identity from A's INVITE, X-SBC-Cascade as a variable.
    const theirB = nodeB.find((e) => action('add-member')(e) && h(e, 'variable_sip_h_X-SBC-Cascade') !== undefined)!;
    expect(nonVarNames(bAdd)).toEqual(nonVarNames(theirB));
    expect([h(bAdd, 'Channel-Name'), h(bAdd, 'Caller-Caller-ID-Name'), h(bAdd, 'Caller-Username'), h(bAdd, 'variable_sip_h_X-SBC-Cascade'), h(bAdd, 'variable_sip_call_id')])
      .toEqual(['sofia/internal/3000@127.0.0.1', 'cascade', '3000', '1', legUuid]);

    // Who dialled whom.
    expect(a.dialedLinks()).toMatchObject([{ uuid: legUuid, conference: '3000', linkId: '1', state: 'up', cause: 'SUCCESS', target: { host: '127.0.0.1', port: b.sipPort, user: '3000' } }]);
    expect(a.dialedLinks()[0]?.headers).toEqual({ 'X-SBC-Cascade': '1' });
    expect(links(a)).toMatchObject([{ room: '3000', uuid: legUuid, memberId: 2, linkId: '1', direction: 'outbound', peer: { address: '127.0.0.1', port: b.sipPort } }]);
    const bCall = b.calls.find((c) => c.callId === legUuid);
    expect(links(b)).toMatchObject([{ room: '3000', uuid: bCall?.uuid, memberId: 2, linkId: '1', direction: 'inbound', peer: { address: '127.0.0.1', port: a.sipPort } }]);
    expect(await api(aApi, `uuid_getvar ${legUuid} sip_call_id`)).toBe(legUuid);
    expect(await api(aApi, `uuid_getvar ${legUuid} sip_h_X-SBC-Cascade`)).toBe('1');
    expect(await api(aApi, `uuid_getvar ${legUuid} media_timeout`)).toBe('_undef_');
    expect(await api(aApi, 'conference 3000 list')).toMatch(new RegExp(`^2;sofia/internal/3000@127\\.0\\.0\\.1:${b.sipPort};${legUuid};3000;3000;hear\\|speak;0;0;100\\n1;`));
    const bApi = await client(b);
    expect(await api(bApi, `uuid_getvar ${bCall?.uuid ?? ''} conference_member_flags`)).toBe('nomoh');
  });

  it('bgapi bgdial: the BACKGROUND_JOB body is the inner +OK Job-UUID, which bgdial-result carries', async () => {
    const { b, aEvents, aApi } = await pair();
    const reply = await aApi.command(`bgapi conference 3000 bgdial ${dialString(b.sipPort)}`);
    const outer = getHeader(reply.headers, 'Job-UUID');
    const job = await aApi.waitForEvent((e) => h(e, 'Event-Name') === 'BACKGROUND_JOB', 'BACKGROUND_JOB');
    expect(h(job, 'Job-UUID')).toBe(outer);
    const inner = /^\+OK Job-UUID: ([0-9a-f-]{36})\n$/.exec(job.body ?? '')?.[1];
    expect(inner).toBeDefined();
    expect(inner).not.toBe(outer);
    const result = await aEvents.waitForEvent(action('bgdial-result'), 'bgdial-result');
    expect(h(result, 'Job-UUID')).toBe(inner);
  });

  it('the INVITE: Call-ID = leg UUID, X- headers from sip_h_ variables, caller id from origination_caller_id_*', async () => {
    const a = await standin();
    const aApi = await client(a);
    await join(a);
    const sock = createSocket('udp4');
    closeLater({ close: () => sock.close() });
    const got: SipMessage[] = [];
    sock.on('message', (d, r) => {
      const m = parseSip(d);
      if (!m) return;
      got.push(m);
      if (m.method === 'INVITE') {
        const lines = ['SIP/2.0 486 Busy Here', ...m.headers.filter(([k]) => ['Via', 'From', 'To', 'Call-ID', 'CSeq'].includes(k)).map(([k, v]) => `${k}: ${v}${k === 'To' ? ';tag=far' : ''}`), 'Content-Length: 0', '', ''];
        sock.send(lines.join('\r\n'), r.port, r.address);
      }
    });
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    const port = sock.address().port;
    const ds = `{sip_h_X-SBC-Cascade=L9,sip_h_X-SBC-Room=3000,sip_h_X-SBC-Target=b,origination_caller_id_name=cascade,origination_caller_id_number=3000}sofia/internal/3000@127.0.0.1:${port}`;
    expect(await api(aApi, `conference 3000 dial ${ds}`)).toBe('+OK Call Requested: result: [USER_BUSY]\n');
    const inv = await until('INVITE', () => got.find((m) => m.method === 'INVITE'));
    const leg = a.dialedLinks()[0];
    expect(header(inv, 'Call-ID')).toBe(leg?.uuid);
    expect(inv.uri).toBe(`sip:3000@127.0.0.1:${port}`);
    expect(header(inv, 'X-SBC-Cascade')).toBe('L9');
    expect(header(inv, 'X-SBC-Room')).toBe('3000');
    expect(header(inv, 'X-SBC-Target')).toBe('b');
    expect(header(inv, 'From')).toMatch(/^"cascade" <sip:3000@127\.0\.0\.1>;tag=/);
    expect(header(inv, 'Contact')).toBe(`<sip:mod_sofia@127.0.0.1:${a.sipPort};transport=udp>`);
    // The refusal is ACKed; no member joined.
    await until('ACK', () => got.find((m) => m.method === 'ACK'));
    expect(leg).toMatchObject({ state: 'failed', cause: 'USER_BUSY', linkId: 'L9' });
    expect(a.conferenceList()[0]?.members).toHaveLength(1);
    expect(a.activeSessions()).toBe(1);
  });

  it('failed dials: busy far end (bgdial-result USER_BUSY, no member), paused outbound, unparsable dial string', async () => {
    const { a, b, aEvents, aApi } = await pair();
    b.setInviteResponse({ status: 486, reason: 'Busy Here' });
    expect(await api(aApi, `conference 3000 bgdial ${dialString(b.sipPort)}`)).toMatch(/^\+OK Job-UUID: /);
    const result = await aEvents.waitForEvent(action('bgdial-result'), 'bgdial-result');
    expect(h(result, 'Result')).toBe('USER_BUSY');
    expect(h(result, 'Peer-UUID')).toBe('');
    expect(await api(aApi, `conference 3000 dial ${dialString(b.sipPort)} 3000 cascade`)).toBe('+OK Call Requested: result: [USER_BUSY]\n');
    expect(links(a)).toEqual([]);
    expect(await api(aApi, 'fsctl pause outbound')).toBe('+OK\n');
    const dialsBefore = a.dialedLinks().length;
    expect(await api(aApi, `conference 3000 dial ${dialString(b.sipPort)} 3000 cascade`)).toBe('+OK Call Requested: result: [DESTINATION_OUT_OF_ORDER]\n');
    expect(a.dialedLinks()).toHaveLength(dialsBefore); // no channel, no INVITE
    expect(await api(aApi, 'fsctl resume')).toBe('+OK\n');
    expect(await api(aApi, 'conference 3000 dial nonsense/3000')).toBe('+OK Call Requested: result: [CHAN_NOT_IMPLEMENTED]\n');
    b.setInviteResponse({ status: 503, reason: 'Service Unavailable' });
    expect(await api(aApi, `conference 3000 dial ${dialString(b.sipPort)}`)).toBe('+OK Call Requested: result: [NORMAL_TEMPORARY_FAILURE]\n');
    expect(a.conferenceList()[0]?.members).toHaveLength(1);
  });

  it('uuid_kill of a leg still ringing: CANCEL, the far end 487 is ACKed, bgdial-result with the cause, no member', async () => {
    const a = await standin();
    const aEvents = await client(a, 'event plain CUSTOM conference::maintenance');
    const aApi = await client(a);
    await join(a);
    const sock = createSocket('udp4');
    closeLater({ close: () => sock.close() });
    const got: SipMessage[] = [];
    const reply = (m: SipMessage, status: string, to: { port: number; address: string }, cseq?: string) => {
      const lines = [`SIP/2.0 ${status}`, ...m.headers.filter(([k]) => ['Via', 'From', 'To', 'Call-ID', 'CSeq'].includes(k)).map(([k, v]) => `${k}: ${k === 'To' ? `${v};tag=far` : k === 'CSeq' && cseq ? cseq : v}`), 'Content-Length: 0', '', ''];
      sock.send(lines.join('\r\n'), to.port, to.address);
    };
    let invite: SipMessage | undefined;
    sock.on('message', (d, r) => {
      const m = parseSip(d);
      if (!m) return;
      got.push(m);
      if (m.method === 'INVITE' && !invite) {
        invite = m;
        reply(m, '180 Ringing', r);
      } else if (m.method === 'CANCEL' && invite) {
        reply(m, '200 OK', r);
        reply(invite, '487 Request Terminated', r);
      }
    });
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    await api(aApi, `conference 3000 bgdial ${dialString(sock.address().port)}`);
    const leg = await until('the leg', () => a.dialedLinks()[0]);
    await until('INVITE', () => invite);
    expect(await api(aApi, `uuid_kill ${leg.uuid}`)).toBe('+OK\n');
    const cancel = await until('CANCEL', () => got.find((m) => m.method === 'CANCEL'));
    expect(header(cancel, 'CSeq')).toBe(`${(header(invite!, 'CSeq') ?? '').split(' ')[0]} CANCEL`);
    await until('ACK of the 487', () => got.find((m) => m.method === 'ACK'));
    const result = await aEvents.waitForEvent(action('bgdial-result'), 'bgdial-result');
    expect(h(result, 'Result')).toBe('NORMAL_CLEARING');
    expect(leg).toMatchObject({ state: 'failed', cause: 'NORMAL_CLEARING' });
    expect(links(a)).toEqual([]);
    expect(a.activeSessions()).toBe(1);
  });

  it('a far end that never answers: the dial fails RECOVERY_ON_TIMER_EXPIRE after dialTimeoutMs', async () => {
    const a = await standin({ dialTimeoutMs: 400 });
    const aApi = await client(a);
    await join(a);
    const deaf = await standin();
    deaf.setInviteResponse('ignore');
    const started = Date.now();
    expect(await api(aApi, `conference 3000 dial ${dialString(deaf.sipPort)}`)).toBe('+OK Call Requested: result: [RECOVERY_ON_TIMER_EXPIRE]\n');
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);
    // The INVITE was retransmitted (Timer A) and reached the deaf node.
    expect(deaf.calls.filter((c) => c.callId === a.dialedLinks()[0]?.uuid)).toHaveLength(1);
    expect(a.dialedLinks()[0]).toMatchObject({ state: 'failed', cause: 'RECOVERY_ON_TIMER_EXPIRE' });
  });

  it('sync dial waits for the answer; hup on B: A gets BYE, del-member with Hangup-Cause NORMAL_CLEARING', async () => {
    const { a, b, aEvents, aApi, bApi } = await pair();
    expect(await api(aApi, `conference 3000 dial ${dialString(b.sipPort)} 3000 cascade`)).toBe('+OK Call Requested: result: [SUCCESS]\n');
    const leg = a.dialedLinks()[0]!;
    expect(leg.state).toBe('up');
    await until("B's link member", () => (links(b).length === 1 ? true : undefined));
    const bLink = links(b)[0]!;
    expect(await api(bApi, `conference 3000 hup ${bLink.memberId}`)).toBe(`+OK hup ${bLink.memberId}\n`);
    const del = await aEvents.waitForEvent((e) => action('del-member')(e) && h(e, 'Unique-ID') === leg.uuid, "A's del-member");
    expect(h(del, 'Hangup-Cause')).toBe('NORMAL_CLEARING');
    expect(names(del)).toEqual(names(capturedA('A link del-member after BYE', (e) => action('del-member')(e) && linkLeg(e) && h(e, 'Hangup-Cause') !== undefined)));
    expect(leg).toMatchObject({ state: 'ended', cause: 'NORMAL_CLEARING' });
    expect(links(a)).toEqual([]);
    expect(a.activeSessions()).toBe(1);
  });

  it('a room holding only its link member is not destroyed; uuid_kill of the link ends both rooms', async () => {
    const a = await standin();
    const b = await standin({ verboseEvents: true });
    const aEvents = await client(a, 'event plain CUSTOM conference::maintenance');
    const bEvents = await client(b, 'event plain CUSTOM conference::maintenance');
    const aApi = await client(a);
    const ua = await join(a);
    const ub = await join(b);
    expect(await api(aApi, `conference 3000 dial ${dialString(b.sipPort)} 3000 cascade`)).toBe('+OK Call Requested: result: [SUCCESS]\n');
    await until("B's link", () => (links(b).length === 1 ? true : undefined));
    for (const u of [ua, ub]) {
      u.bye();
      await u.response(200, 'BYE');
    }
    await sleep(100);
    expect(aEvents.events().some(action('conference-destroy'))).toBe(false);
    expect(bEvents.events().some(action('conference-destroy'))).toBe(false);
    expect(await api(aApi, 'conference list')).toMatch(/^\+OK Conference 3000 \(1 member rate: 8000 flags: /);
    expect(links(a)).toHaveLength(1);
    expect(links(b)).toHaveLength(1);
    const leg = a.dialedLinks()[0]!;
    expect(await api(aApi, `uuid_kill ${leg.uuid}`)).toBe('+OK\n');
    await aEvents.waitForEvent(action('conference-destroy'), "A's conference-destroy");
    const bDel = await bEvents.waitForEvent((e) => action('del-member')(e) && h(e, 'Member-ID') === '2', "B's link del-member");
    expect(h(bDel, 'Hangup-Cause')).toBe('NORMAL_CLEARING');
    await bEvents.waitForEvent(action('conference-destroy'), "B's conference-destroy");
    expect(await api(aApi, 'conference list')).toBe('+OK No active conferences.\n');
    expect(b.calls.find((c) => c.callId === leg.uuid)?.hangupCause).toBe('NORMAL_CLEARING');
  });

  it("the dialled leg's channel events: the captured outbound leg 65f4d1d9…, event by event", async () => {
    const { a, b, aEvents, aApi } = await pair();
    // The capture's originate variables, in its order; the room it joined was 3001.
    const ds = `{origination_caller_id_number=3001,origination_caller_id_name=cascade-3001}sofia/internal/3000@127.0.0.1:${b.sipPort}`;
    expect(await api(aApi, `conference 3001 dial ${ds}`)).toBe('+OK Call Requested: result: [SUCCESS]\n');
    const leg = a.dialedLinks()[0]!;
    expect(await api(aApi, `uuid_kill ${leg.uuid}`)).toBe('+OK\n');
    await aEvents.waitForEvent((e) => h(e, 'Unique-ID') === leg.uuid && h(e, 'Channel-State') === 'CS_DESTROY', 'CS_DESTROY');
    const label = (e: EslEvent) => (isConf(e) ? h(e, 'Action') : h(e, 'Event-Name'));
    const mine = aEvents.events().filter((e) => h(e, 'Unique-ID') === leg.uuid);
    const theirs = captureEvents('plain-events-calls').filter((e) => h(e, 'Unique-ID') === '65f4d1d9-a8e3-42f7-b216-051f12a55f73');
    // The capture's leg also talked (start-talking), which needs RTP.
    expect(mine.map(label)).toEqual(theirs.map(label).filter((l) => l !== 'start-talking'));
    const channel = (list: EslEvent[]) => list.filter((e) => !isConf(e));
    const [m, t] = [channel(mine), channel(theirs)];
    m.forEach((e, i) => expect(names(e), `${i}: ${h(e, 'Event-Name')}`).toEqual(names(t[i]!)));
    const answer = m.find((e) => h(e, 'Event-Name') === 'CHANNEL_ANSWER');
    expect(h(answer, 'variable_sip_call_id')).toBe(leg.uuid);
    expect(h(answer, 'Channel-Name')).toBe(`sofia/internal/3000@127.0.0.1:${b.sipPort}`);
    expect(h(answer, 'variable_sip_destination_url')).toBe(`sip:3000@127.0.0.1:${b.sipPort}`);
    expect(h(answer, 'variable_sofia_profile_url')).toBe(`sip:mod_sofia@127.0.0.1:${a.sipPort}`);
    const bCall = b.calls.find((c) => c.callId === leg.uuid);
    expect(h(answer, 'variable_sip_to_tag')).toMatch(/^[A-Za-z0-9]{13}$/);
    const complete = m.find((e) => h(e, 'Event-Name') === 'CHANNEL_HANGUP_COMPLETE');
    expect([h(complete, 'Hangup-Cause'), h(complete, 'variable_sip_hangup_disposition'), h(complete, 'variable_conference_name'), h(complete, 'variable_last_arg')])
      .toEqual(['NORMAL_CLEARING', 'send_bye', '3001', '3001']);
    expect(bCall?.hangupCause).toBe('NORMAL_CLEARING');
  });

  it("bgdial leg variables: the dial string's, after sip_destination_url, as on node A", async () => {
    const { b, aEvents, aApi } = await pair();
    await api(aApi, `conference 3000 bgdial ${dialString(b.sipPort)}`);
    const result = await aEvents.waitForEvent(action('bgdial-result'), 'bgdial-result');
    const create = aEvents.events().find((e) => h(e, 'Event-Name') === 'CHANNEL_CREATE' && h(e, 'Unique-ID') === h(result, 'Peer-UUID'));
    const theirs = capturedA('link CHANNEL_CREATE', (e) => h(e, 'Event-Name') === 'CHANNEL_CREATE' && h(e, 'Unique-ID') === '8ffbcdcd-7346-4fee-aa63-d364aa74fbf6');
    const span = (e: EslEvent) => {
      const n = names(e);
      return n.slice(n.indexOf('variable_sip_destination_url'), n.indexOf('variable_originate_early_media') + 1);
    };
    expect(span(create!)).toEqual(span(theirs));
    expect(h(create, 'variable_conference_bgdial_jobid')).toBe(h(result, 'Job-UUID'));
    expect(h(create, 'variable_sip_h_X-SBC-Cascade')).toBe('1');
  });

  it('kill -9 of B: A keeps its link member (no media timeout by default)', async () => {
    const { a, b, aEvents, aApi } = await pair();
    expect(await api(aApi, `conference 3000 dial ${dialString(b.sipPort)} 3000 cascade`)).toBe('+OK Call Requested: result: [SUCCESS]\n');
    const from = aEvents.events().length;
    await b.kill();
    await sleep(700);
    expect(aEvents.events().slice(from).filter(isConf)).toEqual([]);
    expect(links(a)).toHaveLength(1);
    expect(a.dialedLinks()[0]?.state).toBe('up');
    expect(await api(aApi, 'conference 3000 list')).toContain(`;sofia/internal/3000@127.0.0.1:${b.sipPort};`);
  });

  it('media_timeout: after B is killed, A hangs the link up MEDIA_TIMEOUT that long later', async () => {
    const { a, b, aEvents, aApi } = await pair();
    expect(await api(aApi, `conference 3000 dial ${dialString(b.sipPort, ',media_timeout=400')} 3000 cascade`)).toBe('+OK Call Requested: result: [SUCCESS]\n');
    expect(await api(aApi, `uuid_getvar ${a.dialedLinks()[0]?.uuid ?? ''} media_timeout`)).toBe('400');
    await sleep(500); // a live peer does not time out
    expect(links(a)).toHaveLength(1);
    const killed = Date.now();
    await b.kill();
    const del = await aEvents.waitForEvent((e) => action('del-member')(e) && h(e, 'Call-Direction') === 'outbound', 'del-member MEDIA_TIMEOUT', 3000);
    const after = Date.now() - killed;
    expect(h(del, 'Hangup-Cause')).toBe('MEDIA_TIMEOUT');
    expect(after).toBeGreaterThanOrEqual(380);
    expect(after).toBeLessThan(2000);
    expect(a.dialedLinks()[0]).toMatchObject({ state: 'ended', cause: 'MEDIA_TIMEOUT' });
    // The other room member is still there.
    expect(a.conferenceList()[0]?.members).toHaveLength(1);
  });
});
