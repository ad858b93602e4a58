/**
 * `fsctl pause|resume|pause_check [inbound|outbound]`: the pause sequence of cascade-a-api.esl
 * replayed (every fsctl reply and the readiness `status` reports, as captured), with an INVITE
 * where SIPp sent one, compared with pause-a-invite-paused-{inbound,all}.txt. Then the two core
 * bits behind the commands (switch_core.c), which the capture only shows in part.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CAPTURES, captureFrames, captureSent } from './captures.js';
import { contentType } from './esl-frames.js';
import { api, useStandins } from './fixture.js';
import { header, headers, parseSip, type SipMessage } from './sip-message.js';
import type { Standin } from './standin.js';
import { EslTestClient, SipTestUac } from './test-clients.js';

const { standin, closeLater } = useStandins();


/** The first SIP message SIPp logged as received in a message log (`<name>.txt`). */
function sippReceived(name: string): SipMessage {
  const log = readFileSync(`${CAPTURES}/${name}.txt`, 'utf8');
  const at = log.indexOf('\n\n', log.indexOf('UDP message received')) + 2;
  const msg = parseSip(Buffer.from(log.slice(at, log.indexOf('\r\n\r\n', at) + 4)));
  if (!msg) throw new Error(`no received message in ${name}.txt`);
  return msg;
}

/** INVITE from a SIPp-like UAC; the final response, after checking nothing else came first. */
async function refusedInvite(s: Standin): Promise<SipMessage> {
  const u = closeLater(await SipTestUac.open(s.sipPort, '3000'));
  u.invite();
  const final = await u.response(503);
  u.ack();
  expect(u.received.map((m) => m.status)).toEqual([503]); // no 100 Trying
  return final;
}

/** The parts of a 503 that identify the dialog rather than the server's state. */
const masked = (m: SipMessage) =>
  m.headers.map(([k, v]) => [k, v.replace(/(tag|branch)=[^;>\s]+/g, '$1=*').replace(/\d+/g, '#')]);

describe('fsctl pause, as in cascade-a-api.esl', () => {
  it('every fsctl reply and the readiness in `status` as captured; INVITEs refused 503 as SIPp saw it', async () => {
    const s = await standin();
    const c = closeLater(await EslTestClient.ready(s.eslPort, s.password));
    const sent = captureSent('cascade-a-api').filter((x) => x.startsWith('api '));
    const outs = captureFrames('cascade-a-api').filter((f) => contentType(f) === 'api/response').map((f) => f.body.toString());
    const refusals: SipMessage[] = [];
    let compared = 0;
    for (const [i, cmd] of sent.entries()) {
      const real = outs[i] ?? '';
      if (cmd.startsWith('api fsctl ')) {
        expect(await api(c, cmd.slice(4)), cmd).toBe(real);
        compared++;
      } else if (cmd === 'api status') {
        const readiness = (text: string) => / is (not )?ready\n/.exec(text)?.[0];
        expect(readiness(await api(c, 'status')), `status after ${sent[i - 1]}`).toBe(readiness(real));
        compared++;
      } else if (/probe-(inbound|all)-paused/.test(cmd)) {
        // SIPp's INVITE came right before this `conference … dial` in the capture.
        const file = cmd.includes('probe-inbound-paused') ? 'pause-a-invite-paused-inbound' : 'pause-a-invite-paused-all';
        const mine = await refusedInvite(s);
        const theirs = sippReceived(file);
        expect(`${mine.status} ${mine.reason}`).toBe(`${theirs.status} ${theirs.reason}`);
        expect(mine.headers.map(([k]) => k), file).toEqual(theirs.headers.map(([k]) => k));
        expect(header(mine, 'Retry-After')).toBe(header(theirs, 'Retry-After'));
        refusals.push(mine);
      }
    }
    expect(compared).toBe(18); // 15 fsctl commands, 3 status
    expect(refusals).toHaveLength(2);
    // "the two 503 replies differ only in tags, Call-ID, ports and branch" (fixture README)
    expect(masked(refusals[0]!)).toEqual(masked(refusals[1]!));
    // The values are the 1.11.2 build's (the stand-in's), as in sip-invite-while-paused-inbound.txt.
    const v112 = sippReceived('sip-invite-while-paused-inbound');
    for (const h of ['User-Agent', 'Allow', 'Supported', 'Allow-Events']) expect(header(refusals[0]!, h), h).toBe(header(v112, h));
    expect(headers(refusals[0]!, 'Via')).toHaveLength(1);
    expect(s.calls.map((r) => [r.finalStatus, r.uuid])).toEqual([[503, undefined], [503, undefined]]);
  });
});

describe('the two pause bits (SCF_NO_NEW_INBOUND/OUTBOUND_SESSIONS)', () => {
  it('pause inbound and pause outbound together are a full pause: pause_check true, status not ready, INVITE refused', async () => {
    const s = await standin();
    const c = closeLater(await EslTestClient.ready(s.eslPort, s.password));
    await api(c, 'fsctl pause inbound');
    await api(c, 'fsctl pause outbound');
    expect(await api(c, 'fsctl pause_check')).toBe('true');
    expect(await api(c, 'status')).toContain(' is not ready\n');
    await refusedInvite(s);
  });

  it('pause, then resume inbound: inbound calls are taken again while outbound stays paused', async () => {
    const s = await standin();
    const c = closeLater(await EslTestClient.ready(s.eslPort, s.password));
    await api(c, 'fsctl pause');
    expect(await api(c, 'fsctl resume inbound')).toBe('+OK\n');
    expect([await api(c, 'fsctl pause_check inbound'), await api(c, 'fsctl pause_check outbound'), await api(c, 'fsctl pause_check')])
      .toEqual(['false', 'true', 'false']);
    expect(await api(c, 'status')).toContain(' is ready\n');
    const u = closeLater(await SipTestUac.open(s.sipPort));
    u.invite();
    await u.response(200);
  });

  it('pause inbound, then resume (both): nothing stays paused; commands and directions are case-insensitive, others mean both', async () => {
    const s = await standin();
    const c = closeLater(await EslTestClient.ready(s.eslPort, s.password));
    expect(await api(c, 'fsctl PAUSE Inbound')).toBe('+OK\n');
    expect(await api(c, 'fsctl pause_check INBOUND')).toBe('true');
    expect(await api(c, 'fsctl resume')).toBe('+OK\n');
    expect(await api(c, 'fsctl pause_check inbound')).toBe('false');
    expect(await api(c, 'fsctl pause sideways')).toBe('+OK\n');
    expect([await api(c, 'fsctl pause_check inbound'), await api(c, 'fsctl pause_check outbound')]).toEqual(['true', 'true']);
    expect(await api(c, 'fsctl frobnicate')).toMatch(/^-ERR INVALID COMMAND\nUSAGE: fsctl \[recover\|.*pause \[inbound\|outbound\]\|.*\]$/);
  });
});
