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
import { useStandins } from './fixture.js';
import type { Standin } from './standin.js';
import { SipTestUac, type EslTestClient } from './test-clients.js';

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

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

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
