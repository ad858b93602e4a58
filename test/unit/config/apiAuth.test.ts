import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OPENABLE_PATHS } from '../../../src/config/apiAuth.js';
import { loadControlPlaneConfig } from '../../../src/config/controlPlane.js';
import { ConfigError } from '../../../src/config/env.js';
import { secretDigest } from '../../../src/core/apiTokens.js';

const dir = mkdtempSync(join(tmpdir(), 'sbc-api-auth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadControlPlaneConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('no ConfigError thrown');
}

const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('API authentication configuration', () => {
  it('is on unless SBC_API_AUTH=off; on, every openable path is open by default', () => {
    expect(loadControlPlaneConfig({ SBC_API_AUTH: 'off' }).apiAuth).toBeUndefined();
    expect(loadControlPlaneConfig({}).apiAuth).toEqual({ bootstrap: undefined, openPaths: OPENABLE_PATHS });
    expect(loadControlPlaneConfig({ SBC_API_AUTH: 'on' }).apiAuth).toEqual({ bootstrap: undefined, openPaths: OPENABLE_PATHS });
    expect(loadControlPlaneConfig({ SBC_API_AUTH: 'on', SBC_API_OPEN_PATHS: 'none' }).apiAuth?.openPaths).toEqual([]);
    expect(loadControlPlaneConfig({ SBC_API_AUTH: 'on', SBC_API_OPEN_PATHS: ' /healthz , /readyz,/healthz' }).apiAuth?.openPaths).toEqual(['/healthz', '/readyz']);
  });

  it('reads the bootstrap secret once, keeping only its digest; a trailing newline is not part of it', () => {
    const secret = 'a'.repeat(40);
    const auth = loadControlPlaneConfig({ SBC_API_AUTH: 'on', SBC_API_BOOTSTRAP_TOKEN_FILE: file('boot', `${secret}\n`) }).apiAuth;
    expect(auth?.bootstrap?.sha256).toEqual(secretDigest(secret));
    expect(JSON.stringify(auth)).not.toContain(secret);
  });

  it('lists every problem: an unknown open path, a short or unreadable secret, a bootstrap file with auth off, a bad switch', () => {
    expect(problemsOf({ SBC_API_AUTH: 'yes', SBC_API_OPEN_PATHS: '/healthz,/v1/nodes' })).toEqual([
      'SBC_API_AUTH="yes" is invalid: must be one of on, off',
      'SBC_API_OPEN_PATHS="/healthz,/v1/nodes" is invalid: /v1/nodes: not one of /healthz, /readyz, /metrics, /openapi.json, /docs (or none)',
    ]);
    const short = file('short', 'abc');
    expect(problemsOf({ SBC_API_AUTH: 'on', SBC_API_BOOTSTRAP_TOKEN_FILE: short })).toEqual([`SBC_API_BOOTSTRAP_TOKEN_FILE=${JSON.stringify(short)} is invalid: ${short}: the secret must be 32 to 1024 characters, not 3`]);
    const spaced = file('spaced', `${'a'.repeat(20)} ${'b'.repeat(20)}`);
    expect(problemsOf({ SBC_API_AUTH: 'on', SBC_API_BOOTSTRAP_TOKEN_FILE: spaced })[0]).toMatch(/printable ASCII without spaces/);
    expect(problemsOf({ SBC_API_AUTH: 'on', SBC_API_BOOTSTRAP_TOKEN_FILE: join(dir, 'missing') })[0]).toMatch(/cannot read .*missing: ENOENT/);
    expect(problemsOf({ SBC_API_AUTH: 'off', SBC_API_BOOTSTRAP_TOKEN_FILE: file('ok', 'x'.repeat(32)) })).toEqual([
      'SBC_API_BOOTSTRAP_TOKEN_FILE is set but SBC_API_AUTH=off: no token would be asked for (set SBC_API_AUTH=on)',
    ]);
  });
});
