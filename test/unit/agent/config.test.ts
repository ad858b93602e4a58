import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { agentConfigSpec, loadAgentConfig } from '../../../src/config/agent.js';
import { ConfigError, describeSpec } from '../../../src/config/env.js';
import { PACKAGE_VERSION } from '../../../src/version.js';

describe('agent config', () => {
  it('has working defaults for an agent beside a local FreeSWITCH', () => {
    expect(loadAgentConfig({})).toEqual({
      natsUrl: 'nats://127.0.0.1:4222',
      natsPrefix: 'sbc',
      esl: { host: '127.0.0.1', port: 8021, password: 'ClueCon' },
      sipProfile: 'internal',
      sipUriOverride: undefined,
      heartbeatMs: 2000,
      sessionRecheckMs: 30_000,
      eslTimeoutMs: 2000,
      failedProbesBeforeLost: 1,
      reannounceMinIntervalMs: 1000,
      conferenceMessages: true,
      callEvents: { enabled: true, bufferSize: 10_000, maxInFlight: 64, ackTimeoutMs: 5000 },
      logLevel: 'info',
    });
  });

  it('takes the number of failed probes before FreeSWITCH counts as lost, from 1 to 10', () => {
    expect(loadAgentConfig({ SBC_PROBES_BEFORE_LOST: '3' }).failedProbesBeforeLost).toBe(3);
    expect(() => loadAgentConfig({ SBC_PROBES_BEFORE_LOST: '0' })).toThrow(/SBC_PROBES_BEFORE_LOST.*between 1 and 10/);
  });

  it('takes the reannounce window, from 100 ms to a minute', () => {
    expect(loadAgentConfig({ SBC_REANNOUNCE_MIN_INTERVAL_MS: '250' }).reannounceMinIntervalMs).toBe(250);
    expect(() => loadAgentConfig({ SBC_REANNOUNCE_MIN_INTERVAL_MS: '0' })).toThrow(/SBC_REANNOUNCE_MIN_INTERVAL_MS.*between 100 and 60000/);
  });

  it('takes the machine id, or none (then the control plane derives it from the SIP URI)', () => {
    expect(loadAgentConfig({ SBC_MACHINE_ID: 'rack4-fs2' }).machineId).toBe('rack4-fs2');
    expect(loadAgentConfig({ SBC_MACHINE_ID: '[2001:db8::1]:5080' }).machineId).toBe('[2001:db8::1]:5080');
    expect(loadAgentConfig({}).machineId).toBeUndefined();
    // It is written into the dispatcher attrs: nothing that could end or add an attribute.
    for (const bad of ['rack4;weight=100', 'a b', '-leading', 'm'.repeat(49)]) {
      expect(() => loadAgentConfig({ SBC_MACHINE_ID: bad }), bad).toThrow(/SBC_MACHINE_ID/);
    }
  });

  it('normalises the SIP URI override so it compares equal to the control plane view', () => {
    expect(loadAgentConfig({ SBC_AGENT_SIP_URI: 'sip:FS1.Example.com;transport=tcp' }).sipUriOverride).toBe(
      'sip:fs1.example.com:5060;transport=tcp',
    );
  });

  it('reports every invalid variable at once', () => {
    const env = {
      SBC_AGENT_SIP_URI: 'sip:user@10.0.0.1',
      SBC_FS_SIP_PROFILE: 'internal\nexit',
      SBC_HEARTBEAT_MS: '50',
      SBC_LOG_LEVEL: 'chatty',
    };
    try {
      loadAgentConfig(env);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems.map((p) => p.split('=')[0])).toEqual([
        'SBC_FS_SIP_PROFILE',
        'SBC_AGENT_SIP_URI',
        'SBC_HEARTBEAT_MS',
        'SBC_LOG_LEVEL',
      ]);
    }
  });

  it('refuses an ESL timeout longer than the heartbeat interval (probes would make heartbeats late)', () => {
    expect(() => loadAgentConfig({ SBC_HEARTBEAT_MS: '1000', SBC_ESL_TIMEOUT_MS: '1500' })).toThrow(/SBC_ESL_TIMEOUT_MS/);
  });

  it('documents every variable', () => {
    const table = describeSpec(agentConfigSpec);
    for (const name of Object.keys(agentConfigSpec)) expect(table).toContain(`\`${name}\``);
  });

  it('reports the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(PACKAGE_VERSION).toBe(pkg.version);
  });
});
