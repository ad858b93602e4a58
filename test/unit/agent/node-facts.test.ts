import { describe, expect, it } from 'vitest';
import type { ApiReply, FreeSwitchLink } from '../../../src/agent/esl.js';
import { readNodeFacts, type FactsQuery } from '../../../src/agent/node-facts.js';
import { apiOutput, MAIN_CORE_UUID, RESTARTED_CORE_UUID } from './captures.js';

/** A link that answers with the real outputs of one capture and records what was asked. */
function replayLink(outputs: Record<string, string | ApiReply>): FreeSwitchLink & { asked: Array<[string, number]> } {
  const asked: Array<[string, number]> = [];
  return {
    asked,
    api(command, timeoutMs) {
      asked.push([command, timeoutMs]);
      const out = outputs[command];
      if (out === undefined) return Promise.resolve({ ok: false, error: `FreeSwitchTimeoutError: ${command}` });
      return Promise.resolve(typeof out === 'string' ? { ok: true, output: out } : out);
    },
    onEvent: () => undefined,
    connections: () => 1,
    close: () => undefined,
  };
}

const MAIN_OUTPUTS = {
  'global_getvar core_uuid': apiOutput('api-replies', 'global_getvar core_uuid'),
  hostname: apiOutput('api-replies', 'hostname'),
  'sofia status profile internal': apiOutput('api-replies', 'sofia status profile internal'),
  status: apiOutput('api-replies', 'status'),
};

const query: FactsQuery = { sipProfile: 'internal', sipUriOverride: undefined, timeoutMs: 2000, firstTimeoutMs: 30_000 };

describe('readNodeFacts', () => {
  it('reads the node from the real api outputs, the first command with the long timeout', async () => {
    const link = replayLink(MAIN_OUTPUTS);
    expect(await readNodeFacts(link, query)).toEqual({
      ok: true,
      facts: { nodeId: MAIN_CORE_UUID, sipUri: 'sip:127.0.0.1:5080', hostname: 'vm', capacity: 1000 },
      sessions: 0,
      connection: 1,
    });
    expect(link.asked).toEqual([
      ['global_getvar core_uuid', 30_000],
      ['hostname', 2000],
      ['sofia status profile internal', 2000],
      ['status', 2000],
    ]);
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

  it('uses the configured SIP URI instead of reading the profile', async () => {
    const link = replayLink(MAIN_OUTPUTS);
    const read = await readNodeFacts(link, { ...query, sipUriOverride: 'sip:10.0.0.5:5080;transport=tcp' });
    expect(read.ok && read.facts.sipUri).toBe('sip:10.0.0.5:5080;transport=tcp');
    expect(link.asked.map(([c]) => c)).toEqual(['global_getvar core_uuid', 'hostname', 'status']);
  });

  it('stops at the first command that fails and says which', async () => {
    const unreachable = replayLink({});
    expect(await readNodeFacts(unreachable, query)).toEqual({
      ok: false,
      step: 'core_uuid',
      detail: 'FreeSwitchTimeoutError: global_getvar core_uuid',
    });
    expect(unreachable.asked).toHaveLength(1);

    const noProfile = replayLink({ ...MAIN_OUTPUTS, 'sofia status profile internal': 'Invalid Profile!\n' });
    expect(await readNodeFacts(noProfile, query)).toMatchObject({ ok: false, step: 'sofia profile' });
    expect(noProfile.asked).toHaveLength(3);
  });
});
