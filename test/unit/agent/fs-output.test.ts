import { describe, expect, it } from 'vitest';
import {
  parseCoreReport,
  parseCoreUuid,
  parseHostname,
  parseInboundPaused,
  parseProfileState,
  parseSofiaProfile,
  parseStatus,
  parseVersion,
  profileSipUri,
} from '../../../src/agent/fs-output.js';
import { apiOutput, MAIN_CORE_UUID, RESTARTED_CORE_UUID } from './captures.js';

const MAIN = 'api-replies';
const RESTART = 'api-replies-after-restart';

describe('parseCoreUuid', () => {
  it('reads the Core-UUID from the real 36-byte output, before and after a restart', () => {
    expect(parseCoreUuid(apiOutput(MAIN, 'global_getvar core_uuid'))).toBe(MAIN_CORE_UUID);
    expect(parseCoreUuid(apiOutput(MAIN, 'global_getvar core_uuid', 1))).toBe(MAIN_CORE_UUID);
    expect(parseCoreUuid(apiOutput(RESTART, 'global_getvar core_uuid'))).toBe(RESTARTED_CORE_UUID);
  });

  it('lower-cases, because node ids are compared as text', () => {
    expect(parseCoreUuid('858BC0BF-FEA0-4AE3-AED6-D8303EC5AD26\n')).toBe(MAIN_CORE_UUID);
  });

  it('refuses anything that is not a UUID', () => {
    expect(parseCoreUuid('')).toBeUndefined();
    expect(parseCoreUuid(apiOutput(MAIN, 'no_such_command'))).toBeUndefined();
    expect(parseCoreUuid(`${MAIN_CORE_UUID} extra`)).toBeUndefined();
  });
});

describe('parseHostname', () => {
  it('reads the real output, which has no newline', () => {
    expect(apiOutput(MAIN, 'hostname')).toBe('vm');
    expect(parseHostname(apiOutput(MAIN, 'hostname'))).toBe('vm');
  });

  it('refuses a name the node message schema would refuse', () => {
    expect(parseHostname('-ERR oops')).toBeUndefined();
    expect(parseHostname('has space')).toBeUndefined();
  });
});

describe('parseStatus', () => {
  it('reads sessions and max-sessions from the real output at start-up', () => {
    expect(parseStatus(apiOutput(MAIN, 'status'))).toEqual({ sessions: 0, maxSessions: 1000 });
    expect(parseStatus(apiOutput(RESTART, 'status'))).toEqual({ sessions: 0, maxSessions: 1000 });
  });

  it('takes the current count, not the peak or the since-startup total', () => {
    // After 16 calls: "16 session(s) since startup", "0 session(s) - peak 4, last 5min 4".
    const late = apiOutput(MAIN, 'status', 1);
    expect(late).toContain('16 session(s) since startup');
    expect(parseStatus(late)).toEqual({ sessions: 0, maxSessions: 1000 });
    const busy = late.replace('0 session(s) - peak 4', '3 session(s) - peak 4').replace('1000 session(s) max', '250 session(s) max');
    expect(parseStatus(busy)).toEqual({ sessions: 3, maxSessions: 250 });
  });

  it('refuses output without both counts', () => {
    expect(parseStatus('-ERR status Command not found!\n')).toBeUndefined();
    expect(parseStatus('0 session(s) - peak 0, last 5min 0 \n')).toBeUndefined();
  });
});

describe('sofia profile address', () => {
  const real = apiOutput(MAIN, 'sofia status profile internal');

  it('reads the fields of the real profile output, keys with inner spaces included', () => {
    const fields = parseSofiaProfile(real);
    expect(fields?.get('SIP-IP')).toBe('127.0.0.1');
    expect(fields?.get('URL')).toBe('sip:mod_sofia@127.0.0.1:5080');
    expect(fields?.get('BIND-URL')).toBe('sip:mod_sofia@127.0.0.1:5080;maddr=127.0.0.1;transport=udp,tcp');
    expect(fields?.get('CODECS IN')).toBe('PCMU,PCMA');
  });

  it('builds sip:SIP-IP:port from the real profile; UDP is offered so no transport parameter', () => {
    const fields = parseSofiaProfile(real);
    expect(fields && profileSipUri(fields)).toEqual({ ok: true, uri: 'sip:127.0.0.1:5080' });
  });

  it('names the transport when the profile does not listen on UDP', () => {
    const tcpOnly = real.replace(';transport=udp,tcp', ';transport=tcp');
    const fields = parseSofiaProfile(tcpOnly);
    expect(fields && profileSipUri(fields)).toEqual({ ok: true, uri: 'sip:127.0.0.1:5080;transport=tcp' });
  });

  it('uses SIP-IP, brackets an IPv6 one, and defaults the port to 5060', () => {
    const v6 = real.replace('SIP-IP           \t127.0.0.1', 'SIP-IP           \tfd00::2').replace('URL              \tsip:mod_sofia@127.0.0.1:5080', 'URL              \tsip:mod_sofia@[fd00::2]');
    const fields = parseSofiaProfile(v6);
    expect(fields && profileSipUri(fields)).toEqual({ ok: true, uri: 'sip:[fd00::2]:5060' });
  });

  it('refuses an unknown profile', () => {
    expect(parseSofiaProfile('Invalid Profile!\n')).toBeUndefined();
  });
});

describe('parseProfileState', () => {
  it('a profile whose fields are printed is RUNNING (the real output has no state line)', () => {
    const real = apiOutput(MAIN, 'sofia status profile internal');
    expect(real).not.toContain('RUNNING');
    const state = parseProfileState(real);
    expect(state?.running).toBe(true);
    expect(state?.running && state.fields.get('URL')).toBe('sip:mod_sofia@127.0.0.1:5080');
  });

  it('`Invalid Profile!` (stopped, never started, or unknown) is a profile that is not running', () => {
    expect(parseProfileState('Invalid Profile!\n')).toEqual({ running: false });
  });

  it('refuses output of neither shape', () => {
    expect(parseProfileState('')).toBeUndefined();
    expect(parseProfileState(apiOutput(MAIN, 'sofia status'))).toBeUndefined();
  });
});

describe('parseInboundPaused', () => {
  it('reads the real `fsctl pause_check inbound` answers, paused then resumed', () => {
    expect(apiOutput(MAIN, 'fsctl pause_check inbound', 0)).toBe('true');
    expect(parseInboundPaused(apiOutput(MAIN, 'fsctl pause_check inbound', 0))).toBe(true);
    expect(parseInboundPaused(apiOutput(MAIN, 'fsctl pause_check inbound', 1))).toBe(false);
  });

  it('reads the two-node run: `fsctl pause` (both directions) makes pause_check inbound true', () => {
    const runs = [0, 1, 2, 3].map((n) => parseInboundPaused(apiOutput('cascade-a-api', 'fsctl pause_check inbound', n)));
    // Paused inbound, resumed, paused all, resumed all (fixture README, pause tests on A).
    expect(runs).toEqual([true, false, true, false]);
  });

  it('refuses anything but true or false', () => {
    expect(parseInboundPaused('+OK\n')).toBeUndefined();
    expect(parseInboundPaused('-ERR INVALID COMMAND\n')).toBeUndefined();
  });
});

describe('parseCoreReport', () => {
  it('reads uptime, readiness, sessions since start-up and the peak from the real `status` outputs (a singular "1 minute" among them)', () => {
    expect(parseCoreReport(apiOutput(MAIN, 'status'))).toEqual({
      sessions: 0, maxSessions: 1000, uptimeMs: 5164, ready: true, sessionsSinceStartup: 0, sessionsPeak: 0,
    });
    expect(parseCoreReport(apiOutput(MAIN, 'status', 1))).toEqual({
      sessions: 0, maxSessions: 1000, uptimeMs: 60_400, ready: true, sessionsSinceStartup: 16, sessionsPeak: 4,
    });
    expect(parseCoreReport(apiOutput(RESTART, 'status'))).toMatchObject({ uptimeMs: 6045, sessionsSinceStartup: 0 });
  });

  it('counts a year as 365 days, as FreeSWITCH does, and reads `is not ready`', () => {
    const long = apiOutput(MAIN, 'status')
      .replace(/^UP .*$/m, 'UP 1 year, 2 days, 3 hours, 4 minutes, 5 seconds, 6 milliseconds, 7 microseconds')
      .replace('is ready', 'is not ready');
    expect(parseCoreReport(long)).toMatchObject({ uptimeMs: ((((367 * 24 + 3) * 60 + 4) * 60) + 5) * 1000 + 6, ready: false });
  });

  it('refuses output without every line it reads', () => {
    expect(parseCoreReport(apiOutput(MAIN, 'no_such_command'))).toBeUndefined();
    expect(parseCoreReport(apiOutput(MAIN, 'status').replace(/^UP .*\n/m, ''))).toBeUndefined();
    expect(parseCoreReport(apiOutput(MAIN, 'status').replace(/ is ready$/m, ''))).toBeUndefined();
  });
});

describe('parseVersion', () => {
  it('reads the version token from the real `version` output', () => {
    expect(parseVersion(apiOutput(MAIN, 'version'))).toBe('1.11.2-release+git~20260809T162310Z~3f13ad1b1d~64bit');
    expect(parseVersion(apiOutput(RESTART, 'version'))).toBe('1.11.2-release+git~20260809T162310Z~3f13ad1b1d~64bit');
  });

  it('refuses anything else', () => {
    expect(parseVersion(apiOutput(MAIN, 'no_such_command'))).toBeUndefined();
    expect(parseVersion('')).toBeUndefined();
  });
});
