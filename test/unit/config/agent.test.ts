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

describe('agent configuration: SBC_CALL_EVENTS', () => {
  it('on by default with a 10 000-message buffer; off turns them off; in flight may not exceed the buffer', () => {
    expect(loadAgentConfig({}).callEvents).toEqual({ enabled: true, bufferSize: 10_000, maxInFlight: 64, ackTimeoutMs: 5000 });
    expect(loadAgentConfig({ SBC_CALL_EVENTS: 'off', SBC_CALL_EVENT_BUFFER: '500' }).callEvents).toMatchObject({ enabled: false, bufferSize: 500 });
    expect(() => loadAgentConfig({ SBC_CALL_EVENTS: 'maybe' })).toThrow(ConfigError);
    expect(() => loadAgentConfig({ SBC_CALL_EVENT_BUFFER: '100', SBC_CALL_EVENT_IN_FLIGHT: '200' })).toThrow(/SBC_CALL_EVENT_IN_FLIGHT \(200\) must not exceed SBC_CALL_EVENT_BUFFER \(100\)/);
  });
});
