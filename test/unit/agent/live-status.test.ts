import { describe, expect, it } from 'vitest';
import type { ApiReply } from '../../../src/agent/esl.js';
import { readLiveStatus, type LiveStatusReplies } from '../../../src/agent/live-status.js';
import { apiOutput, capturedLiveStatus, RESTARTED_CORE_UUID } from './captures.js';

const ok = (output: string): ApiReply => ({ ok: true, output });
const MAIN = 'api-replies';

/** The five replies as the real FreeSWITCH gave them (capture api-replies), with `over` replacing some. */
function replies(over: Partial<LiveStatusReplies> = {}, capture = MAIN): LiveStatusReplies {
  return {
    coreUuid: ok(apiOutput(capture, 'global_getvar core_uuid')),
    version: ok(apiOutput(capture, 'version')),
    status: ok(apiOutput(capture, 'status')),
    profile: ok(apiOutput(MAIN, 'sofia status profile internal')),
    inboundPaused: ok(apiOutput(MAIN, 'fsctl pause_check inbound', 1)),
    ...over,
  };
}

describe('live status: one reading from the real api outputs', () => {
  it('reads every fact of the captured FreeSWITCH', () => {
    expect(readLiveStatus(replies(), 'internal', 1234)).toEqual({ ok: true, result: capturedLiveStatus(1234) });
  });

  it('after the restart: the new Core-UUID and its own uptime', () => {
    const read = readLiveStatus(replies({}, 'api-replies-after-restart'), 'internal', 1);
    expect(read.ok && [read.result.coreUuid, read.result.uptimeMs]).toEqual([RESTARTED_CORE_UUID, 6045]);
  });

  it('paused inbound and a stopped profile: both facts and both blockers, no address', () => {
    const read = readLiveStatus(replies({ inboundPaused: ok(apiOutput(MAIN, 'fsctl pause_check inbound', 0)), profile: ok('Invalid Profile!\n') }), 'internal', 1);
    expect(read.ok && read.result).toMatchObject({
      inboundPaused: true,
      sipProfile: { name: 'internal', running: false },
      blockers: ['sip-profile-down', 'inbound-paused'],
    });
    expect(read.ok && 'sipUri' in read.result.sipProfile).toBe(false);
  });

  it('no answer while connected is `timeout`; no connection is `not-ready`; a timeout wins over a closed socket', () => {
    const timedOut: ApiReply = { ok: false, answered: false, error: 'EslTimeoutError: bgapi status: no answer within 50 ms', timedOut: true };
    const notConnected: ApiReply = { ok: false, answered: false, error: 'EslNotConnectedError: not connected' };
    expect(readLiveStatus(replies({ status: timedOut }), 'internal', 1)).toEqual({ ok: false, code: 'timeout', detail: `status: ${timedOut.error}` });
    expect(readLiveStatus(replies({ version: notConnected }), 'internal', 1)).toEqual({ ok: false, code: 'not-ready', detail: `version: ${notConnected.error}` });
    expect(readLiveStatus(replies({ coreUuid: notConnected, status: timedOut }), 'internal', 1)).toMatchObject({ ok: false, code: 'timeout' });
  });

  it('an answer it cannot read is `freeswitch-error`, naming the step', () => {
    const garbage = readLiveStatus(replies({ status: ok(apiOutput(MAIN, 'no_such_command')) }), 'internal', 1);
    expect(garbage).toEqual({ ok: false, code: 'freeswitch-error', detail: 'status: unexpected output "-ERR no_such_command Command not found!"' });
    const refused = readLiveStatus(replies({ version: { ok: false, answered: true, error: '-ERR version Command not found!' } }), 'internal', 1);
    expect(refused).toMatchObject({ ok: false, code: 'freeswitch-error', detail: 'version: unexpected output "-ERR version Command not found!"' });
    expect(readLiveStatus(replies({ inboundPaused: ok('maybe') }), 'internal', 1)).toMatchObject({ ok: false, code: 'freeswitch-error', detail: expect.stringMatching(/^pause_check: /) as unknown });
  });
});
