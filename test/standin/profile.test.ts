/**
 * The sofia profile stopped and started: `sofia profile <name> stop|start|restart` (texts from
 * mod_sofia.c's cmd_profile) and setProfileRunning(). While the profile is stopped, `sofia status`
 * no longer lists it, `sofia status profile <name>` says `Invalid Profile!`, and its SIP port is
 * unbound. With the profile running, both status outputs equal the capture's (api-replies.esl).
 */
import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { captureFrames, captureSent } from './captures.js';
import { contentType, getHeader } from './esl-frames.js';
import { SEP } from './api-sofia.js';
import { api, useStandins } from './fixture.js';
import { header } from './sip-message.js';
import type { Standin } from './standin.js';
import { SipTestUac, udpProbe } from './test-clients.js';

const { standin, closeLater, client, answeredCall } = useStandins();

async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await probe()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The capture's answer to an api command, with the stand-in's SIP port for 5080 (and UDP only). */
function captured(cmd: string, s: Standin): string {
  const sent = captureSent('api-replies').filter((x) => x.startsWith('api '));
  const outs = captureFrames('api-replies').filter((f) => contentType(f) === 'api/response');
  const out = outs[sent.indexOf(`api ${cmd}`)]?.body.toString() ?? '';
  return out
    .replace(/ *sip:mod_sofia@127\.0\.0\.1:5080(?=\t)/, `sip:mod_sofia@127.0.0.1:${s.sipPort}`.padStart(42))
    .replaceAll('sip:mod_sofia@127.0.0.1:5080', `sip:mod_sofia@127.0.0.1:${s.sipPort}`)
    .replace('transport=udp,tcp', 'transport=udp');
}

const EMPTY_LISTING = `${'Name'.padStart(25)}\t   Type\t  ${'Data'.padStart(40)}\tState\n${SEP}\n${SEP}\n0 profiles 0 aliases\n`;

describe('sofia profile stop|start|restart', () => {
  it('within 10 s of start, stop and restart are refused with the wait message and the profile keeps running', async () => {
    const s = await standin();
    const c = await client(s);
    for (const op of ['stop', 'restart']) {
      const out = await api(c, `sofia profile internal ${op}`);
      expect(out).toMatch(/^Profile internal must be up for at least 10 seconds to stop\/restart\.\nPlease wait (10 seconds|[2-9] seconds|1 second)\n$/);
    }
    expect(await api(c, 'sofia status')).toBe(captured('sofia status', s));
    expect(await udpProbe(s.sipPort)).toBe('answered');
  });

  it('stop: the profile leaves sofia status, its calls are hung up MANAGER_REQUEST, its port is unbound; start brings it back as captured', async () => {
    const s = await standin({ profileMinUptimeSec: 0 });
    const c = await client(s);
    const events = await client(s, 'event plain CHANNEL_HANGUP_COMPLETE');
    expect(await api(c, 'sofia status')).toBe(captured('sofia status', s));
    const up = await answeredCall(s);

    expect(await api(c, 'sofia profile internal stop')).toBe('Reload XML [Success]\nstopping: internal');
    // PFLAG_RUNNING is cleared before the reply: the very next command no longer finds it.
    expect(await api(c, 'sofia status profile internal')).toBe('Invalid Profile!\n');
    expect(await api(c, 'sofia status')).toBe(EMPTY_LISTING);
    const bye = await up.request('BYE');
    expect(header(bye, 'Reason')).toBe('SIP;cause=503;text="MANAGER_REQUEST"');
    const done = await events.waitForEvent(() => true, 'CHANNEL_HANGUP_COMPLETE');
    expect(getHeader(done.headers, 'Hangup-Cause')).toBe('MANAGER_REQUEST');
    expect(getHeader(done.headers, 'variable_sip_hangup_disposition')).toBe('send_bye');
    await until('the SIP port unbound', async () => (await udpProbe(s.sipPort, 200)) === 'refused');
    const lost = closeLater(await SipTestUac.open(s.sipPort));
    lost.invite();
    expect(s.profileRunning).toBe(false);
    expect(await api(c, 'sofia profile internal stop')).toBe('Invalid Profile [internal]');
    expect(await api(c, 'show calls count')).toBe('\n0 total.\n');

    expect(await api(c, 'sofia profile internal start')).toBe('Reload XML [Success]\ninternal started successfully\n');
    await until('the profile listed again', async () => (await api(c, 'sofia status')) !== EMPTY_LISTING);
    expect(await api(c, 'sofia status')).toBe(captured('sofia status', s));
    // A new profile: CALLS-IN counts from zero again, as in the capture's idle profile.
    expect(await api(c, 'sofia status profile internal')).toBe(captured('sofia status profile internal', s));
    expect(lost.received).toEqual([]);
    await answeredCall(s);
  });

  it('restart: "restarting: internal", then the profile is back on the same port', async () => {
    const s = await standin({ profileMinUptimeSec: 0 });
    const c = await client(s);
    const up = await answeredCall(s);
    expect(await api(c, 'sofia profile internal restart')).toBe('Reload XML [Success]\nrestarting: internal');
    expect(header(await up.request('BYE'), 'Reason')).toBe('SIP;cause=503;text="MANAGER_REQUEST"');
    await until('the profile back', async () => (await api(c, 'sofia status profile internal')) !== 'Invalid Profile!\n');
    expect(await api(c, 'sofia status')).toBe(captured('sofia status', s));
    await answeredCall(s);
  });

  it('start on a running profile is a rescan: success, counters zeroed, nothing else changes', async () => {
    const s = await standin();
    const c = await client(s);
    await answeredCall(s);
    expect(await api(c, 'sofia status profile internal')).toContain('\nCALLS-IN         \t1\n');
    expect(await api(c, 'sofia profile internal start')).toBe('Reload XML [Success]\ninternal started successfully\n');
    await until('counters zeroed', async () => (await api(c, 'sofia status profile internal')).includes('\nCALLS-IN         \t0\n'));
    expect(s.activeSessions()).toBe(1);
    expect(await udpProbe(s.sipPort)).toBe('answered');
  });

  it('setProfileRunning(false/true): the same outputs and port state without the 10 s rule', async () => {
    const s = await standin();
    const c = await client(s);
    await s.setProfileRunning(false);
    expect(s.profileRunning).toBe(false);
    expect(await api(c, 'sofia status profile internal')).toBe('Invalid Profile!\n');
    expect(await api(c, 'sofia status')).toBe(EMPTY_LISTING);
    expect(await udpProbe(s.sipPort)).toBe('refused');
    await s.setProfileRunning(true);
    expect(s.profileRunning).toBe(true);
    expect(await api(c, 'sofia status')).toBe(captured('sofia status', s));
    expect(await udpProbe(s.sipPort)).toBe('answered');
  });
});

describe("mod_sofia's other answers", () => {
  it('arguments, unknown names and subcommands, the alias, gateways', async () => {
    const s = await standin();
    const c = await client(s);
    expect(await api(c, 'sofia profile internal')).toBe('Invalid Args!\n');
    expect(await api(c, 'sofia profile nosuch stop')).toBe('Invalid Profile [nosuch]');
    expect(await api(c, 'sofia profile nosuch start')).toBe('Reload XML [Success]\nFailure starting nosuch\n');
    expect(await api(c, 'sofia profile internal frobnicate')).toBe('-ERR Unknown command!\n');
    expect(await api(c, 'sofia frobnicate')).toBe('Unknown Command [frobnicate]\n');
    expect(await api(c, 'sofia status profile nosuch')).toBe('Invalid Profile!\n');
    expect(await api(c, 'sofia status gateway gw1')).toBe('Invalid Gateway!\n');
    expect(await api(c, 'sofia status foo bar')).toBe('Invalid Syntax!\n');
    expect(await api(c, 'sofia')).toMatch(/^USAGE:\n-{80}\nsofia global siptrace <on\|off>\n[\s\S]*sofia help\n-{80}\n$/);
    // The SIP IP is an alias of the profile (the capture's `sofia status`), so it finds it too.
    const byAlias = await api(c, 'sofia status profile 127.0.0.1');
    expect(byAlias).toContain(`${SEP}\nName             \t127.0.0.1\nDomain Name      \tN/A\nAlias Of         \tinternal\nAuto-NAT`);
  });
});
