import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadControlPlaneConfig } from '../../../src/config/controlPlane.js';
import { ConfigError } from '../../../src/config/env.js';
import { configReference } from '../../../scripts/config-reference.js';

describe('control plane configuration', () => {
  it('has working defaults for a single-host set-up', () => {
    const c = loadControlPlaneConfig({});
    expect(c.SBC_KAMAILIO_RPC_URLS).toEqual(['http://127.0.0.1:5071/RPC']);
    expect(c.policy.sets.map((s) => [s.purpose, s.setId, s.algorithm])).toEqual([['general', 1, 4], ['rooms', 2, 2], ['cascade', 3, 7]]);
    expect([...c.managedSets]).toEqual([1, 2, 3]);
    expect(c.SBC_INSTANCE_ID.length).toBeGreaterThan(0);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('lists every invalid variable in one error', () => {
    let err: unknown;
    try {
      loadControlPlaneConfig({ SBC_HTTP_PORT: '70000', SBC_REDIS_URL: 'http://x', SBC_DS_ALG_ROOMS: '7', SBC_KAMAILIO_RPC_URLS: ' , ' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/SBC_HTTP_PORT.*between 0 and 65535/);
    expect(problems.join('\n')).toMatch(/SBC_REDIS_URL.*protocol/);
    expect(problems.join('\n')).toMatch(/SBC_DS_ALG_ROOMS.*one of 2, 3/);
    expect(problems.join('\n')).toMatch(/SBC_KAMAILIO_RPC_URLS.*at least one URL/);
  });

  it('parses several Kamailio URLs and refuses set ids that collide', () => {
    expect(loadControlPlaneConfig({ SBC_KAMAILIO_RPC_URLS: 'http://a:5071/RPC, http://b:5071/RPC' }).SBC_KAMAILIO_RPC_URLS).toEqual([
      'http://a:5071/RPC',
      'http://b:5071/RPC',
    ]);
    expect(() => loadControlPlaneConfig({ SBC_DS_SET_ROOMS: '1' })).toThrow(/must differ/);
  });

  it('README.md embeds the configuration reference generated from the specs', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const section = /<!-- config-reference:start -->\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(readme)?.[1];
    expect(section).toBe(configReference());
  });
});
