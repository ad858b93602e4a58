import { describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../../../src/config/agent.js';
import { ConfigError } from '../../../src/config/env.js';

describe('agent configuration: checks across variables', () => {
  it('lists an ESL timeout above the heartbeat interval together with every other problem', () => {
    let err: unknown;
    try {
      loadAgentConfig({ SBC_ESL_TIMEOUT_MS: '3000', SBC_HEARTBEAT_MS: '1000', SBC_FS_ESL_PORT: '0' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      expect.stringMatching(/^SBC_FS_ESL_PORT=.*between 1 and 65535/),
      'SBC_ESL_TIMEOUT_MS (3000) must not exceed SBC_HEARTBEAT_MS (1000)',
    ]);
  });
});

describe('agent configuration: SBC_CONFERENCE_MESSAGES', () => {
  it('on by default; off turns the conference messages off; anything else is refused', () => {
    expect(loadAgentConfig({}).conferenceMessages).toBe(true);
    expect(loadAgentConfig({ SBC_CONFERENCE_MESSAGES: 'off' }).conferenceMessages).toBe(false);
    expect(() => loadAgentConfig({ SBC_CONFERENCE_MESSAGES: 'yes' })).toThrow(ConfigError);
  });
});
