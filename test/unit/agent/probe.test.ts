import { describe, expect, it } from 'vitest';
import type { ApiReply } from '../../../src/agent/esl.js';
import { probeCommands, readProbe, type ProbeReplies } from '../../../src/agent/probe.js';
import { apiOutput, MAIN_CORE_UUID } from './captures.js';

const ok = (output: string): ApiReply => ({ ok: true, output });
const timedOut = (command: string): ApiReply => ({ ok: false, answered: false, error: `EslTimeoutError: bgapi ${command}: no answer within 2000 ms` });

/** The real answers of a healthy node (api-replies.esl). */
const HEALTHY: ProbeReplies = {
  coreUuid: ok(apiOutput('api-replies', 'global_getvar core_uuid')),
  profile: ok(apiOutput('api-replies', 'sofia status profile internal')),
  inboundPaused: ok(apiOutput('api-replies', 'fsctl pause_check inbound', 1)),
};

describe('probe commands', () => {
  it('are the Core-UUID, the configured profile and the inbound pause flag', () => {
    expect(probeCommands('external')).toEqual({
      coreUuid: 'global_getvar core_uuid',
      profile: 'sofia status profile external',
      inboundPaused: 'fsctl pause_check inbound',
    });
  });
});

describe('readProbe', () => {
  it('a healthy node: its Core-UUID, no blockers, the address of the running profile', () => {
    expect(readProbe(HEALTHY, undefined)).toEqual({
      ok: true,
      coreUuid: MAIN_CORE_UUID,
      blockers: [],
      sipUri: 'sip:127.0.0.1:5080',
      addressProblem: undefined,
    });
  });

  it('inbound calls paused (the real `true`): blocker inbound-paused, still a live node', () => {
    const r = readProbe({ ...HEALTHY, inboundPaused: ok(apiOutput('api-replies', 'fsctl pause_check inbound', 0)) }, undefined);
    expect(r).toMatchObject({ ok: true, blockers: ['inbound-paused'], sipUri: 'sip:127.0.0.1:5080' });
  });

  it('profile stopped (`Invalid Profile!`): blocker sip-profile-down and no address read', () => {
    const r = readProbe({ ...HEALTHY, profile: ok('Invalid Profile!\n') }, undefined);
    expect(r).toMatchObject({ ok: true, blockers: ['sip-profile-down'], sipUri: undefined });
  });

  it('mod_sofia not loaded (`-ERR sofia Command not found!`): sip-profile-down too', () => {
    const r = readProbe({ ...HEALTHY, profile: { ok: false, answered: true, error: '-ERR sofia Command not found!' } }, undefined);
    expect(r).toMatchObject({ ok: true, blockers: ['sip-profile-down'] });
  });

  it('both at once, in a fixed order', () => {
    const r = readProbe({ ...HEALTHY, profile: ok('Invalid Profile!\n'), inboundPaused: ok('true') }, undefined);
    expect(r).toMatchObject({ ok: true, blockers: ['sip-profile-down', 'inbound-paused'] });
  });

  it('with a configured SIP URI the profile address is not used, but its state is', () => {
    expect(readProbe(HEALTHY, 'sip:203.0.113.9:5060')).toMatchObject({ ok: true, sipUri: 'sip:203.0.113.9:5060', blockers: [] });
    expect(readProbe({ ...HEALTHY, profile: ok('Invalid Profile!\n') }, 'sip:203.0.113.9:5060')).toMatchObject({
      blockers: ['sip-profile-down'],
    });
  });

  it('a running profile with an address that cannot be used keeps the last one and says why', () => {
    const badIp = apiOutput('api-replies', 'sofia status profile internal').replace('SIP-IP           \t127.0.0.1', 'SIP-IP           \tnot an ip');
    const r = readProbe({ ...HEALTHY, profile: ok(badIp) }, undefined);
    expect(r).toMatchObject({ ok: true, blockers: [], sipUri: undefined });
    expect(r.ok && r.addressProblem).toEqual(expect.any(String));
  });

  it('any unanswered command fails the probe, naming the step', () => {
    expect(readProbe({ ...HEALTHY, coreUuid: timedOut('global_getvar core_uuid') }, undefined)).toMatchObject({ ok: false, step: 'core_uuid' });
    expect(readProbe({ ...HEALTHY, profile: timedOut('sofia status profile internal') }, undefined)).toMatchObject({
      ok: false,
      step: 'sofia profile',
    });
    expect(readProbe({ ...HEALTHY, inboundPaused: timedOut('fsctl pause_check inbound') }, undefined)).toMatchObject({
      ok: false,
      step: 'pause_check',
    });
  });

  it('output of no known shape fails the probe rather than guessing', () => {
    expect(readProbe({ ...HEALTHY, coreUuid: ok(apiOutput('api-replies', 'no_such_command')) }, undefined)).toMatchObject({ ok: false, step: 'core_uuid' });
    expect(readProbe({ ...HEALTHY, profile: ok(apiOutput('api-replies', 'sofia status')) }, undefined)).toMatchObject({ ok: false, step: 'sofia profile' });
    expect(readProbe({ ...HEALTHY, inboundPaused: ok('+OK\n') }, undefined)).toMatchObject({ ok: false, step: 'pause_check' });
  });
});
