import { describe, expect, it } from 'vitest';
import type { ApiReply, FreeSwitchLink } from '../../../src/agent/esl.js';
import { readNodeFacts, type FactsQuery } from '../../../src/agent/node-facts.js';
import { apiOutput, MAIN_CORE_UUID, RESTARTED_CORE_UUID } from './captures.js';

/** A link that answers with the real outputs of one capture and records what was asked. */
function replayLink(outputs: Record<string, string | ApiReply>, connection = 3): FreeSwitchLink & { asked: Array<[string, number]> } {
  const asked: Array<[string, number]> = [];
  return {
    asked,
    api(command, timeoutMs) {
      asked.push([command, timeoutMs]);
      const out = outputs[command];
      if (out === undefined) return Promise.resolve({ ok: false, answered: false, error: `EslTimeoutError: ${command}` });
      return Promise.resolve(typeof out === 'string' ? { ok: true, output: out } : out);
    },
    onEvent: () => undefined,
    onConnection: () => undefined,
    connected: () => true,
    connections: () => connection,
    close: () => undefined,
  };
}

const MAIN_OUTPUTS = {
  'global_getvar core_uuid': apiOutput('api-replies', 'global_getvar core_uuid'),
  hostname: apiOutput('api-replies', 'hostname'),
  'sofia status profile internal': apiOutput('api-replies', 'sofia status profile internal'),
  'fsctl pause_check inbound': apiOutput('api-replies', 'fsctl pause_check inbound', 1),
  status: apiOutput('api-replies', 'status'),
  // No capture ran `fsctl sps`: the answer ctl_function() writes (mod_commands.c), with the limit
  // the main run's idle HEARTBEATs show (`Session-Per-Sec` 30: the whole budget left).
  'fsctl sps': '+OK sessions per second: 30\n',
};

const query: FactsQuery = { sipProfile: 'internal', sipUriOverride: undefined, timeoutMs: 2000 };

describe('readNodeFacts', () => {
  it('reads the node from the real api outputs: six commands, all with the ESL timeout, on the current connection', async () => {
    const link = replayLink(MAIN_OUTPUTS);
    expect(await readNodeFacts(link, query)).toEqual({
      ok: true,
      facts: { nodeId: MAIN_CORE_UUID, sipUri: 'sip:127.0.0.1:5080', hostname: 'vm', capacity: 1000, blockers: [], sessionsPerSecondLimit: 30 },
      sessions: 0,
      connection: 3,
    });
    expect(link.asked).toEqual([
      ['global_getvar core_uuid', 2000],
      ['hostname', 2000],
      ['sofia status profile internal', 2000],
      ['fsctl pause_check inbound', 2000],
      ['status', 2000],
      ['fsctl sps', 2000],
    ]);
  });

  it('announces the node without a sessions-per-second limit when `fsctl sps` fails, and says why', async () => {
    const { 'fsctl sps': _sps, ...withoutSps } = MAIN_OUTPUTS;
    const timedOut = await readNodeFacts(replayLink(withoutSps), query);
    expect(timedOut).toMatchObject({ ok: true, sessionLimitProblem: 'EslTimeoutError: fsctl sps' });
    expect(timedOut.ok && 'sessionsPerSecondLimit' in timedOut.facts).toBe(false);
    const refused = await readNodeFacts(replayLink({ ...withoutSps, 'fsctl sps': '-ERR INVALID COMMAND\n' }), query);
    expect(refused).toMatchObject({ ok: true, sessionLimitProblem: 'unexpected answer "-ERR INVALID COMMAND"' });
    expect(refused.ok && refused.facts.sessionsPerSecondLimit).toBeUndefined();
  });

  it('after a restart reads the new Core-UUID', async () => {
    const link = replayLink({
      ...MAIN_OUTPUTS,
      'global_getvar core_uuid': apiOutput('api-replies-after-restart', 'global_getvar core_uuid'),
      status: apiOutput('api-replies-after-restart', 'status'),
    });
    const read = await readNodeFacts(link, query);
    expect(read.ok && read.facts.nodeId).toBe(RESTARTED_CORE_UUID);
  });

  it('inbound calls paused at start: the facts say so', async () => {
    const link = replayLink({ ...MAIN_OUTPUTS, 'fsctl pause_check inbound': apiOutput('api-replies', 'fsctl pause_check inbound', 0) });
    const read = await readNodeFacts(link, query);
    expect(read.ok && read.facts.blockers).toEqual(['inbound-paused']);
  });

  it('uses the configured SIP URI instead of the profile address, and still reads the profile state', async () => {
    const link = replayLink({ ...MAIN_OUTPUTS, 'sofia status profile internal': 'Invalid Profile!\n' });
    const read = await readNodeFacts(link, { ...query, sipUriOverride: 'sip:10.0.0.5:5080;transport=tcp' });
    expect(read.ok && read.facts).toMatchObject({ sipUri: 'sip:10.0.0.5:5080;transport=tcp', blockers: ['sip-profile-down'] });
  });

  it('without a configured URI, a profile that is not running cannot be announced (no address)', async () => {
    const link = replayLink({ ...MAIN_OUTPUTS, 'sofia status profile internal': 'Invalid Profile!\n' });
    expect(await readNodeFacts(link, query)).toEqual({ ok: false, step: 'sofia profile', detail: 'profile internal is not running' });
  });

  it('reports the first step that failed, in a fixed order', async () => {
    expect(await readNodeFacts(replayLink({}), query)).toEqual({ ok: false, step: 'core_uuid', detail: 'EslTimeoutError: global_getvar core_uuid' });
    const { status: _status, ...noStatus } = MAIN_OUTPUTS;
    expect(await readNodeFacts(replayLink(noStatus), query)).toMatchObject({ ok: false, step: 'status' });
    const { hostname: _hostname, ...noHost } = MAIN_OUTPUTS;
    expect(await readNodeFacts(replayLink({ ...noHost, status: 'garbage' }), query)).toMatchObject({ ok: false, step: 'hostname' });
  });
});
