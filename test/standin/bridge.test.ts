/**
 * The bridge extension (bridgePattern, default `8xxx`) against the captured bridged call: main run
 * step 4 of the fixture README, A leg e64dddbd… (SIPp to 8000, caller's BYE) and B leg 94183bc3…
 * (`bridge sofia/internal/9000@127.0.0.1:5080`, back into the same server).
 *
 * Rules, as in calls.test.ts: the events carrying each leg's Unique-ID have the captured event
 * names and exactly the captured header names in the same order; both legs' events interleave
 * as captured; the values that tie the legs together (Unique-ID, Other-Leg-Unique-ID,
 * Channel-Call-UUID, Call-ID, causes) are checked one by one. What no capture shows (the far end
 * hanging up, a refused B leg) is checked against the README's stated derivation.
 */
import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { captureEvents } from './captures.js';
import { getHeader, type EslEvent } from './esl-frames.js';
import { api, useStandins } from './fixture.js';
import { header } from './sip-message.js';
import type { Standin } from './standin.js';
import { SipTestUac, until, type EslTestClient } from './test-clients.js';
import { decideChannels, INITIAL_CHANNELS, isChannelEvent, readChannelEvent, type ChannelEdge, type ChannelsInput } from '../../src/agent/channels.js';
import { readMessage, splitFrames } from '../../src/agent/esl-frames.js';

const { standin, client, closeLater } = useStandins();

const A_CAPTURED = 'e64dddbd-f757-419c-8e3a-0ed58a9e3b4d';
const B_CAPTURED = '94183bc3-9192-4a70-9864-bafbdd41a17f';
const captured = captureEvents('plain-events-calls');
const h = (e: EslEvent | undefined, n: string) => (e ? getHeader(e.headers, n) : undefined);
const name = (e: EslEvent) => h(e, 'Event-Name') ?? '';
const names = (e: EslEvent) => e.headers.map(([k]) => k);
const ofChannel = (events: readonly EslEvent[], uuid: string) => events.filter((e) => h(e, 'Unique-ID') === uuid);
const find = (events: readonly EslEvent[], uuid: string, event: string) => ofChannel(events, uuid).find((e) => name(e) === event);
const destroyed = (uuid: string) => (e: EslEvent) => h(e, 'Unique-ID') === uuid && h(e, 'Channel-State') === 'CS_DESTROY';
/** Both legs' events in arrival order, as `a:EVENT` / `b:EVENT`. */
const interleaved = (events: readonly EslEvent[], a: string, b: string) =>
  events.filter((e) => [a, b].includes(h(e, 'Unique-ID') ?? '')).map((e) => `${h(e, 'Unique-ID') === a ? 'a' : 'b'}:${name(e)}`);

interface Bridged {
  uac: SipTestUac;
  a: string;
  b: string;
}

/** A SIPp-like call to `dest` on `fs`, answered (through the bridge) and ACKed. */
async function bridgedCall(fs: Standin, dest = '8000', extra: string[] = []): Promise<Bridged> {
  const uac = closeLater(await SipTestUac.open(fs.sipPort, dest));
  uac.invite(extra);
  await uac.response(200);
  uac.ack();
  const rec = fs.calls.find((c) => c.callId === uac.callId);
  return { uac, a: rec?.uuid ?? '', b: rec?.bridgedTo?.uuid ?? '' };
}

describe('bridge: a call to 8000 bridged back into the same stand-in, caller hangs up (the capture)', () => {
  async function run(): Promise<{ fs: Standin; esl: EslTestClient; call: Bridged }> {
    const fs = await standin({ toneMs: 300 });
    const esl = await client(fs, 'event plain ALL');
    const call = await bridgedCall(fs);
    await sleep(100);
    call.uac.bye();
    await call.uac.response(200, 'BYE');
    await esl.waitForEvent(destroyed(call.a), 'A CS_DESTROY');
    await esl.waitForEvent(destroyed(call.b), 'B CS_DESTROY');
    return { fs, esl, call };
  }

  it('each leg: the captured event names and header names, in order', async () => {
    const { esl, call } = await run();
    for (const [mine, theirs] of [[call.a, A_CAPTURED], [call.b, B_CAPTURED]] as const) {
      const m = ofChannel(esl.events(), mine);
      const t = ofChannel(captured, theirs);
      expect(m.map(name)).toEqual(t.map(name));
      m.forEach((e, i) => expect(names(e), `${theirs.slice(0, 8)} #${i} ${name(e)}`).toEqual(names(t[i]!)));
    }
  });

  it('both legs interleave as captured: B is created after A runs bridge, B answers before A, CHANNEL_BRIDGE on A, A hangs up first', async () => {
    const { esl, call } = await run();
    expect(interleaved(esl.events(), call.a, call.b)).toEqual(interleaved(captured, A_CAPTURED, B_CAPTURED));
  });

  it('the legs name each other: Other-Leg-Unique-ID, Channel-Call-UUID, and the B leg Call-ID is its UUID from its answer on', async () => {
    const { fs, esl, call } = await run();
    const ev = esl.events();
    expect(call.b).toMatch(/^[0-9a-f-]{36}$/);
    expect(call.b).not.toBe(call.a);
    const bCreate = find(ev, call.b, 'CHANNEL_CREATE');
    expect(h(bCreate, 'Call-Direction')).toBe('outbound');
    expect(h(bCreate, 'Other-Leg-Unique-ID')).toBe(call.a);
    expect(h(bCreate, 'Other-Type')).toBe('originator');
    expect(h(bCreate, 'Channel-Call-UUID')).toBe(call.a);
    expect(h(bCreate, 'variable_sip_call_id')).toBeUndefined();
    expect(h(find(ev, call.b, 'CHANNEL_OUTGOING'), 'Channel-Call-UUID')).toBe(call.b);
    expect(h(find(ev, call.b, 'CHANNEL_ANSWER'), 'variable_sip_call_id')).toBe(call.b);
    expect(h(find(ev, call.b, 'CHANNEL_HANGUP'), 'Channel-Call-UUID')).toBe(call.a);
    expect(h(find(ev, call.b, 'CHANNEL_HANGUP_COMPLETE'), 'Channel-Call-UUID')).toBe(call.b);
    const aCreate = find(ev, call.a, 'CHANNEL_CREATE');
    expect(h(aCreate, 'Other-Leg-Unique-ID')).toBeUndefined();
    expect(h(aCreate, 'variable_sip_call_id')).toBe(call.uac.callId);
    const bridge = find(ev, call.a, 'CHANNEL_BRIDGE');
    expect(h(bridge, 'Other-Leg-Unique-ID')).toBe(call.b);
    expect(h(bridge, 'Other-Type')).toBe('originatee');
    expect(h(bridge, 'Bridge-A-Unique-ID')).toBe(call.a);
    expect(h(bridge, 'Bridge-B-Unique-ID')).toBe(call.b);
    expect(ofChannel(ev, call.b).filter((e) => name(e) === 'CHANNEL_BRIDGE')).toEqual([]);
    expect(h(find(ev, call.a, 'CHANNEL_EXECUTE'), 'Application')).toBe('set');
    const exec = ofChannel(ev, call.a).find((e) => h(e, 'Application') === 'bridge');
    expect(h(exec, 'Application-Data')).toBe(`sofia/internal/9000@127.0.0.1:${fs.sipPort}`);
    // The dialplan's `^8(\d{3})$` as FreeSWITCH records the match.
    expect(h(find(ev, call.a, 'CHANNEL_HANGUP_COMPLETE'), 'variable_DP_MATCH')).toBe('ARRAY::8000|:000');
    // The B leg's INVITE reached the target (this stand-in) with Call-ID = the B leg's UUID.
    const twin = fs.calls.find((c) => c.callId === call.b);
    expect(twin?.destination).toBe('9000');
    expect(twin?.from).toBe('sipp');
  });

  it('hang-up: the caller sent BYE, so both legs end NORMAL_CLEARING; B sent BYE to the far end', async () => {
    const { fs, esl, call } = await run();
    const ev = esl.events();
    const aDone = find(ev, call.a, 'CHANNEL_HANGUP_COMPLETE');
    const bDone = find(ev, call.b, 'CHANNEL_HANGUP_COMPLETE');
    expect([h(aDone, 'Hangup-Cause'), h(bDone, 'Hangup-Cause')]).toEqual(['NORMAL_CLEARING', 'NORMAL_CLEARING']);
    expect(h(aDone, 'variable_sip_hangup_disposition')).toBe('recv_bye');
    expect(h(bDone, 'variable_sip_hangup_disposition')).toBe('send_bye');
    expect(h(aDone, 'variable_sip_term_status')).toBe('200');
    expect(h(bDone, 'variable_sip_term_status')).toBeUndefined();
    expect(h(aDone, 'variable_bridge_hangup_cause')).toBe('NORMAL_CLEARING');
    expect(h(aDone, 'variable_last_app')).toBe('bridge');
    const twin = await until('twin hung up', () => fs.calls.find((c) => c.callId === call.b && c.endedAt !== undefined));
    expect(twin.hangupCause).toBe('NORMAL_CLEARING');
    const rec = fs.calls.find((c) => c.callId === call.uac.callId);
    expect(rec?.bridgedTo).toMatchObject({ uuid: call.b, callId: call.b, state: 'ended', finalStatus: 200, hangupCause: 'NORMAL_CLEARING' });
    expect(rec?.bridgedTo?.target).toEqual({ host: '127.0.0.1', port: fs.sipPort, user: '9000' });
    expect(fs.activeSessions()).toBe(0);
  });
});

/** This stand-in bridging to a second one (the far end), with an event connection on the first. */
async function pair(o: { dialTimeoutMs?: number } = {}): Promise<{ fs: Standin; far: Standin; esl: EslTestClient }> {
  const far = await standin({ toneMs: 200 });
  const fs = await standin({ toneMs: 200, bridgeTarget: far.sipUri, ...o });
  return { fs, far, esl: await client(fs, 'event plain ALL') };
}

describe('bridge: hang-up from the far end, and uuid_kill of the B leg (not captured)', () => {
  it('the far end sends BYE on B: B ends recv_bye, A follows with a BYE to the caller, both NORMAL_CLEARING; B hangs up first', async () => {
    const { fs, far, esl } = await pair();
    const call = await bridgedCall(fs);
    const twin = await until('the B leg at the far end', () => far.calls.find((c) => c.callId === call.b && c.answeredAt !== undefined));
    const farApi = await client(far);
    expect(await api(farApi, `uuid_kill ${twin.uuid ?? ''}`)).toBe('+OK\n');
    const bye = await call.uac.request('BYE');
    expect(header(bye, 'Reason')).toBe('Q.850;cause=16;text="NORMAL_CLEARING"');
    call.uac.answerBye(bye);
    await esl.waitForEvent(destroyed(call.a), 'A CS_DESTROY');
    const ev = esl.events();
    const aDone = find(ev, call.a, 'CHANNEL_HANGUP_COMPLETE');
    const bDone = find(ev, call.b, 'CHANNEL_HANGUP_COMPLETE');
    expect([h(aDone, 'Hangup-Cause'), h(bDone, 'Hangup-Cause')]).toEqual(['NORMAL_CLEARING', 'NORMAL_CLEARING']);
    expect([h(aDone, 'variable_sip_hangup_disposition'), h(bDone, 'variable_sip_hangup_disposition')]).toEqual(['send_bye', 'recv_bye']);
    // Each leg's own events are the captured ones; only B's first three hang-up events come first.
    const order = interleaved(ev, call.a, call.b);
    const hangupAt = order.findIndex((x) => x.endsWith('CHANNEL_HANGUP'));
    expect(order.slice(hangupAt, hangupAt + 5)).toEqual(['b:CHANNEL_HANGUP', 'b:CHANNEL_STATE', 'b:CHANNEL_CALLSTATE', 'a:CHANNEL_HANGUP', 'a:CHANNEL_UNBRIDGE']);
    for (const [mine, theirs] of [[call.a, A_CAPTURED], [call.b, B_CAPTURED]] as const) {
      ofChannel(ev, mine).forEach((e, i) => expect(names(e), `${name(e)} #${i}`).toEqual(names(ofChannel(captured, theirs)[i]!)));
    }
    expect(fs.calls.find((c) => c.callId === call.uac.callId)?.bridgedTo).toMatchObject({ state: 'ended', hangupCause: 'NORMAL_CLEARING' });
  });

  it('the caller hangs up: the far end receives BYE for the B leg (Call-ID = B leg UUID)', async () => {
    const { fs, far } = await pair();
    const call = await bridgedCall(fs);
    await until('far end answered', () => far.calls.find((c) => c.callId === call.b && c.answeredAt !== undefined));
    call.uac.bye();
    await call.uac.response(200, 'BYE');
    const twin = await until('far end hung up', () => far.calls.find((c) => c.callId === call.b && c.endedAt !== undefined));
    expect(twin.hangupCause).toBe('NORMAL_CLEARING');
    expect(fs.activeSessions()).toBe(0);
    expect(far.activeSessions()).toBe(0);
  });

  it('uuid_kill <B leg> MANAGER_REQUEST: BYE to both ends, both legs hang up with that cause', async () => {
    const { fs, far, esl } = await pair();
    const call = await bridgedCall(fs);
    await until('far end answered', () => far.calls.find((c) => c.callId === call.b && c.answeredAt !== undefined));
    const fsApi = await client(fs);
    expect(await api(fsApi, `uuid_getvar ${call.b} sip_call_id`)).toBe(call.b);
    expect(await api(fsApi, `uuid_kill ${call.b} MANAGER_REQUEST`)).toBe('+OK\n');
    const bye = await call.uac.request('BYE');
    expect(header(bye, 'Reason')).toBe('SIP;cause=503;text="MANAGER_REQUEST"');
    await esl.waitForEvent(destroyed(call.a), 'A CS_DESTROY');
    const ev = esl.events();
    expect(h(find(ev, call.b, 'CHANNEL_HANGUP_COMPLETE'), 'Hangup-Cause')).toBe('MANAGER_REQUEST');
    expect(h(find(ev, call.a, 'CHANNEL_HANGUP_COMPLETE'), 'Hangup-Cause')).toBe('MANAGER_REQUEST');
    const twin = await until('far end hung up', () => far.calls.find((c) => c.callId === call.b && c.endedAt !== undefined));
    expect(twin.hangupCause).toBe('NORMAL_CLEARING');
  });
});

/** The steps every refused bridge shows for the B leg (derived, see the README). */
const FAILED_B = ['CHANNEL_OUTGOING', 'CHANNEL_STATE', 'CHANNEL_CREATE', 'CHANNEL_ORIGINATE', 'CHANNEL_STATE', 'CHANNEL_STATE', 'CHANNEL_HANGUP', 'CHANNEL_STATE', 'CHANNEL_CALLSTATE', 'CHANNEL_STATE', 'CHANNEL_HANGUP_COMPLETE', 'CHANNEL_DESTROY', 'CHANNEL_STATE'];
/** The variables sofia sets on a leg whose INVITE got a final response >= 300, and on its partner. */
const SOFIA_TERMINATION = ['variable_sip_term_status', 'variable_proto_specific_hangup_cause', 'variable_sip_term_cause'];

describe('bridge: the B leg is refused (not captured; sofia.c and mod_dptools as the README says)', () => {
  async function refused(status: number, reason: string) {
    const { fs, far, esl } = await pair();
    far.setInviteResponse({ status, reason });
    const uac = closeLater(await SipTestUac.open(fs.sipPort, '8000'));
    uac.invite();
    const final = await uac.response(status);
    uac.ack();
    const rec = fs.calls.find((c) => c.callId === uac.callId);
    const a = rec?.uuid ?? '';
    const b = rec?.bridgedTo?.uuid ?? '';
    await esl.waitForEvent(destroyed(a), 'A CS_DESTROY');
    return { fs, esl, final, rec, a, b, ev: esl.events() };
  }

  it('486 Busy Here: the caller gets 486; A and B hang up USER_BUSY; the status is on B (sip_term_status), not on A', async () => {
    const { final, rec, a, b, ev } = await refused(486, 'Busy Here');
    expect(final.reason).toBe('Busy Here');
    expect(header(final, 'Reason')).toBe('Q.850;cause=17;text="USER_BUSY"');
    const aDone = find(ev, a, 'CHANNEL_HANGUP_COMPLETE');
    const bDone = find(ev, b, 'CHANNEL_HANGUP_COMPLETE');
    expect([h(aDone, 'Hangup-Cause'), h(bDone, 'Hangup-Cause')]).toEqual(['USER_BUSY', 'USER_BUSY']);
    expect(h(bDone, 'variable_sip_term_status')).toBe('486');
    expect(h(bDone, 'variable_proto_specific_hangup_cause')).toBe('sip:486');
    expect(h(bDone, 'variable_sip_term_cause')).toBe('17');
    expect(h(bDone, 'variable_sip_hangup_disposition')).toBe('recv_refuse');
    expect(h(aDone, 'variable_sip_term_status')).toBeUndefined();
    expect(h(aDone, 'variable_sip_hangup_disposition')).toBe('send_refuse');
    expect(h(aDone, 'variable_sip_hangup_phrase')).toBe('Busy Here');
    expect(h(aDone, 'variable_hangup_cause_q850')).toBe('17');
    // Never answered, never bridged: no answer, no CHANNEL_BRIDGE, no Call-ID on B, no Other-Leg on A.
    expect(ev.filter((e) => [a, b].includes(h(e, 'Unique-ID') ?? '') && ['CHANNEL_ANSWER', 'CHANNEL_BRIDGE'].includes(name(e)))).toEqual([]);
    expect(ofChannel(ev, b).some((e) => h(e, 'variable_sip_call_id') !== undefined)).toBe(false);
    expect(ofChannel(ev, a).some((e) => h(e, 'Other-Leg-Unique-ID') !== undefined)).toBe(false);
    expect(h(bDone, 'Other-Leg-Unique-ID')).toBe(a);
    expect(rec).toMatchObject({ finalStatus: 486, hangupCause: 'USER_BUSY', answeredAt: undefined });
    expect(rec?.bridgedTo).toMatchObject({ uuid: b, state: 'failed', finalStatus: 486, hangupCause: 'USER_BUSY' });
  });

  it('the refused legs use only header names the captured legs have for the same event, plus sofia\'s termination variables', async () => {
    const { a, b, ev } = await refused(486, 'Busy Here');
    expect(ofChannel(ev, b).map(name)).toEqual(FAILED_B);
    const legs: Array<[string, string, readonly string[]]> = [[a, A_CAPTURED, ['variable_sip_hangup_phrase']], [b, B_CAPTURED, SOFIA_TERMINATION]];
    for (const [mine, theirs, extra] of legs) {
      for (const e of ofChannel(ev, mine)) {
        const known = new Set(ofChannel(captured, theirs).filter((c) => name(c) === name(e)).flatMap(names));
        expect(names(e).filter((n) => !known.has(n) && !extra.includes(n)), name(e)).toEqual([]);
      }
    }
  });

  it('480: NO_USER_RESPONSE on both legs (sofia_glue_sip_cause_to_freeswitch), the caller gets 480', async () => {
    const { final, a, b, ev } = await refused(480, 'Temporarily Unavailable');
    expect(final.status).toBe(480);
    expect(h(find(ev, a, 'CHANNEL_HANGUP_COMPLETE'), 'Hangup-Cause')).toBe('NO_USER_RESPONSE');
    expect(h(find(ev, b, 'CHANNEL_HANGUP_COMPLETE'), 'Hangup-Cause')).toBe('NO_USER_RESPONSE');
    expect(h(find(ev, b, 'CHANNEL_HANGUP_COMPLETE'), 'variable_sip_term_status')).toBe('480');
  });

  it('the caller cancels while B rings: A ORIGINATOR_CANCEL (487), B gets CANCEL and ends send_cancel', async () => {
    const { fs, far, esl } = await pair();
    far.setAnswerDelay(5000);
    const uac = closeLater(await SipTestUac.open(fs.sipPort, '8000'));
    uac.invite();
    const rec = await until('B leg dialling', () => fs.calls.find((c) => c.callId === uac.callId && c.bridgedTo !== undefined));
    await until('far end ringing', () => far.calls.find((c) => c.callId === rec.bridgedTo?.uuid && c.uuid !== undefined));
    uac.cancel();
    await uac.response(487);
    await esl.waitForEvent(destroyed(rec.uuid ?? ''), 'A CS_DESTROY');
    const ev = esl.events();
    expect(h(find(ev, rec.uuid ?? '', 'CHANNEL_HANGUP_COMPLETE'), 'Hangup-Cause')).toBe('ORIGINATOR_CANCEL');
    const bDone = find(ev, rec.bridgedTo?.uuid ?? '', 'CHANNEL_HANGUP_COMPLETE');
    expect(h(bDone, 'Hangup-Cause')).toBe('ORIGINATOR_CANCEL');
    expect(h(bDone, 'variable_sip_hangup_disposition')).toBe('send_cancel');
    expect(h(bDone, 'variable_sip_term_status')).toBeUndefined();
    const twin = await until('far end cancelled', () => far.calls.find((c) => c.callId === rec.bridgedTo?.uuid && c.endedAt !== undefined));
    expect(twin).toMatchObject({ finalStatus: 487, hangupCause: 'ORIGINATOR_CANCEL' });
  });

  it('paused outbound: the originate fails with no B channel; the caller gets 480, A hangs up DESTINATION_OUT_OF_ORDER', async () => {
    const { fs, esl } = await pair();
    const fsApi = await client(fs);
    await api(fsApi, 'fsctl pause outbound');
    const uac = closeLater(await SipTestUac.open(fs.sipPort, '8000'));
    uac.invite();
    await uac.response(480);
    const rec = fs.calls.find((c) => c.callId === uac.callId);
    expect(rec).toMatchObject({ finalStatus: 480, hangupCause: 'DESTINATION_OUT_OF_ORDER' });
    expect(rec?.bridgedTo).toBeUndefined();
    await esl.waitForEvent(destroyed(rec?.uuid ?? ''), 'A CS_DESTROY');
    expect(esl.events().filter((e) => h(e, 'Call-Direction') === 'outbound')).toEqual([]);
  });
});

describe('bridge: the X- headers of the INVITE are on the A leg only', () => {
  it('X-SBC-Decision becomes variable_sip_h_X-SBC-Decision on A (after max_forwards); B has no sip_h_ variables', async () => {
    const { fs, esl } = await pair();
    const call = await bridgedCall(fs, '8000', ['X-SBC-Decision: dec-42']);
    const ev = esl.events();
    const aCreate = find(ev, call.a, 'CHANNEL_CREATE');
    expect(h(aCreate, 'variable_sip_h_X-SBC-Decision')).toBe('dec-42');
    const vars = (aCreate?.headers ?? []).map(([k]) => k).filter((k) => k.startsWith('variable_'));
    expect(vars[vars.indexOf('variable_max_forwards') + 1]).toBe('variable_sip_h_X-SBC-Decision');
    expect(h(find(ev, call.a, 'CHANNEL_BRIDGE'), 'variable_sip_h_X-SBC-Decision')).toBe('dec-42');
    expect(ofChannel(ev, call.b).some((e) => e.headers.some(([k]) => k.startsWith('variable_sip_h_')))).toBe(false);
  });
});

describe('bridge: the agent\'s channel machine on the stand-in\'s output', () => {
  it('the NodeChannel messages of a bridged call link A and B: otherLeg, callUuid, and B\'s callId from its answer on', async () => {
    const { fs, esl } = await pair();
    const call = await bridgedCall(fs, '8000', ['X-SBC-Decision: dec-7']);
    call.uac.bye();
    await call.uac.response(200, 'BYE');
    await esl.waitForEvent(destroyed(call.a), 'A CS_DESTROY');
    await esl.waitForEvent(destroyed(call.b), 'B CS_DESTROY');
    // The agent's own ESL parser on the bytes the stand-in sent.
    const split = splitFrames(Buffer.concat(esl.raw));
    const inputs: ChannelsInput[] = [{ kind: 'node-announced', nodeId: fs.coreUuid }];
    for (const frame of split.frames) {
      const m = readMessage(frame);
      if (m.kind !== 'event' || !isChannelEvent(m.event.headers)) continue;
      const event = readChannelEvent(m.event.headers);
      if (!event) throw new Error(`unreadable channel event ${String(m.event.headers['Event-Sequence'])}`);
      inputs.push({ kind: 'channel-event', event });
    }
    let state = INITIAL_CHANNELS;
    const bodies: ChannelEdge[] = [];
    for (const input of inputs) {
      const d = decideChannels(state, input);
      state = d.state;
      bodies.push(...d.actions.map((x) => x.body));
    }
    expect(state.counts.malformedFields).toBe(0);
    const legs = bodies.filter((x) => x.uuid === call.a || x.uuid === call.b);
    const tag = (u: string | undefined) => (u === call.a ? 'A' : u === call.b ? 'B' : u === undefined ? '-' : '?');
    expect(legs.map((x) => `${x.event} ${tag(x.uuid)} ${x.direction} callId=${x.callId === call.b ? 'B' : x.callId === call.uac.callId ? 'caller' : tag(x.callId)} other=${tag(x.otherLeg)} callUuid=${tag(x.callUuid)}`)).toEqual([
      'create A inbound callId=caller other=- callUuid=A',
      'create B outbound callId=- other=A callUuid=A',
      'answer B outbound callId=B other=A callUuid=A',
      'answer A inbound callId=caller other=- callUuid=A',
      'bridge A inbound callId=caller other=B callUuid=A',
      'hangup B outbound callId=B other=A callUuid=B',
      'hangup A inbound callId=caller other=B callUuid=A',
    ]);
    const aHangup = legs.find((x) => x.event === 'hangup' && x.uuid === call.a);
    expect(aHangup).toMatchObject({ nodeId: fs.coreUuid, caller: 'sipp', callee: '8000', decision: 'dec-7', cause: 'NORMAL_CLEARING', sipStatus: 200 });
    const bHangup = legs.find((x) => x.event === 'hangup' && x.uuid === call.b);
    expect(bHangup).toMatchObject({ callee: '9000', cause: 'NORMAL_CLEARING' });
    expect(bHangup).not.toHaveProperty('decision');
    expect(bHangup).not.toHaveProperty('sipStatus');
  });
});
