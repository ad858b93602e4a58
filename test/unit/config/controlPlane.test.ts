import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { describe, expect, it } from 'vitest';
import { loadControlPlaneConfig } from '../../../src/config/controlPlane.js';
import { ConfigError } from '../../../src/config/env.js';
import { configReference } from '../../../scripts/config-reference.js';

/** The problems of the ConfigError `f` throws; fails the test when it throws anything else. */
function problemsOf(f: () => unknown): readonly string[] {
  try {
    f();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('no ConfigError thrown');
}

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

  it('lists a set-id clash together with every other problem, as one ConfigError', () => {
    const problems = problemsOf(() => loadControlPlaneConfig({ SBC_HTTP_PORT: '70000', SBC_DS_SET_ROOMS: '1', SBC_LOG_LEVEL: 'loud' }));
    expect(problems).toHaveLength(3);
    expect(problems).toEqual([
      expect.stringMatching(/^SBC_HTTP_PORT=.*between 0 and 65535/),
      expect.stringMatching(/^SBC_LOG_LEVEL=.*one of/),
      'SBC_DS_SET_GENERAL, SBC_DS_SET_ROOMS and SBC_DS_SET_CASCADE must differ (got 1, 1, 3)',
    ]);
  });

  it('reports a set id that does not parse once, not also as a clash', () => {
    expect(problemsOf(() => loadControlPlaneConfig({ SBC_DS_SET_ROOMS: '1', SBC_DS_SET_CASCADE: 'x' }))).toEqual([
      expect.stringMatching(/^SBC_DS_SET_CASCADE=.*whole number/),
    ]);
  });

  it('lists the NATS credential clash with the other problems', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sbc-cfg-'));
    try {
      const nk = join(dir, 'cp.nk');
      writeFileSync(nk, new TextDecoder().decode(createUser().getSeed()));
      const creds = join(dir, 'cp.creds');
      writeFileSync(creds, '-----BEGIN NATS USER JWT-----\nx\n------END NATS USER JWT------\n-----BEGIN USER NKEY SEED-----\ny\n');
      const problems = problemsOf(() => loadControlPlaneConfig({ SBC_NATS_NKEY_FILE: nk, SBC_NATS_CREDS_FILE: creds, SBC_RESYNC_MS: '1' }));
      expect(problems).toEqual([expect.stringMatching(/^SBC_RESYNC_MS=/), 'set at most one of SBC_NATS_NKEY_FILE and SBC_NATS_CREDS_FILE']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parses several Kamailio URLs and refuses set ids that collide', () => {
    expect(loadControlPlaneConfig({ SBC_KAMAILIO_RPC_URLS: 'http://a:5071/RPC, http://b:5071/RPC' }).SBC_KAMAILIO_RPC_URLS).toEqual([
      'http://a:5071/RPC',
      'http://b:5071/RPC',
    ]);
    expect(() => loadControlPlaneConfig({ SBC_DS_SET_ROOMS: '1' })).toThrow(/must differ/);
  });

  it('reads an nkey seed file at start-up, and lists every problem with NATS credential files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sbc-cfg-'));
    try {
      const good = join(dir, 'cp.nk');
      writeFileSync(good, `${new TextDecoder().decode(createUser().getSeed())}\n`);
      const bad = join(dir, 'bad.nk');
      writeFileSync(bad, 'SUNOTAREALSEED\n');
      const creds = join(dir, 'x.creds');
      writeFileSync(creds, 'not a creds file');
      expect(loadControlPlaneConfig({ SBC_NATS_NKEY_FILE: good }).natsCredentials).toMatchObject({ kind: 'nkey', file: good });
      expect(loadControlPlaneConfig({}).natsCredentials).toBeUndefined();
      const problems = (f: () => unknown) => {
        try {
          f();
        } catch (err) {
          return (err as ConfigError).problems.join('\n');
        }
        return '';
      };
      expect(problems(() => loadControlPlaneConfig({ SBC_NATS_NKEY_FILE: join(dir, 'missing.nk') }))).toMatch(/SBC_NATS_NKEY_FILE=.*cannot read .*ENOENT/);
      expect(problems(() => loadControlPlaneConfig({ SBC_NATS_NKEY_FILE: bad, SBC_NATS_CREDS_FILE: creds }))).toMatch(
        /SBC_NATS_NKEY_FILE=.*invalid[\s\S]*SBC_NATS_CREDS_FILE=.*not a NATS creds file/,
      );
      expect(problems(() => loadControlPlaneConfig({ SBC_NATS_NKEY_FILE: good, SBC_NATS_CREDS_FILE: good }))).toMatch(/SBC_NATS_CREDS_FILE=.*not a NATS creds file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses both credential kinds at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sbc-cfg-'));
    try {
      const nk = join(dir, 'cp.nk');
      writeFileSync(nk, new TextDecoder().decode(createUser().getSeed()));
      const creds = join(dir, 'cp.creds');
      writeFileSync(creds, '-----BEGIN NATS USER JWT-----\nx\n------END NATS USER JWT------\n-----BEGIN USER NKEY SEED-----\ny\n');
      expect(() => loadControlPlaneConfig({ SBC_NATS_NKEY_FILE: nk, SBC_NATS_CREDS_FILE: creds })).toThrow(/at most one of SBC_NATS_NKEY_FILE and SBC_NATS_CREDS_FILE/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leader election: a lease and renew by default, no replica order unless set', () => {
    const c = loadControlPlaneConfig({});
    expect([c.SBC_LEADER_LEASE_MS, c.SBC_LEADER_RENEW_MS, c.SBC_REPLICA_ORDER]).toEqual([5000, 1000, null]);
    expect(loadControlPlaneConfig({ SBC_REPLICA_ORDER: '2' }).SBC_REPLICA_ORDER).toBe(2);
  });

  it('leader election: refuses a lease shorter than two renews, and a bad order, with every other problem', () => {
    expect(problemsOf(() => loadControlPlaneConfig({ SBC_LEADER_LEASE_MS: '3000', SBC_LEADER_RENEW_MS: '2000', SBC_REPLICA_ORDER: 'first' }))).toEqual([
      expect.stringMatching(/^SBC_REPLICA_ORDER=.*whole number/),
      'SBC_LEADER_RENEW_MS (2000) must be at most half of SBC_LEADER_LEASE_MS (3000): a lease spans at least two renews',
    ]);
  });

  it('README.md embeds the configuration reference generated from the specs', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const section = /<!-- config-reference:start -->\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(readme)?.[1];
    expect(section).toBe(configReference());
  });
});
