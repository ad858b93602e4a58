import { afterEach, describe, expect, it } from 'vitest';
import type { CliEnv } from '../../../src/cli/args.js';
import { loadConfigFile } from '../../../src/cli/configFile.js';
import { run } from '../../../src/cli/run.js';
import { OPENABLE_PATHS } from '../../../src/config/apiAuth.js';
import { formatToken, mintToken, secretDigest, type ApiScope } from '../../../src/core/apiTokens.js';
import { InMemoryTokenStore } from '../../fakes/inMemoryTokenStore.js';
import { node } from '../core/fixtures.js';
import { CALLS_NOW, testApp, type TestApp } from '../http/harness.js';

const BOOTSTRAP = 'bootstrap-secret-for-the-cli-tests-0123456789';

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function sbcctl(argv: readonly string[], env: CliEnv = {}, files: Record<string, string> = {}): Promise<Result> {
  const out: string[] = [];
  const err: string[] = [];
  const readFile = (path: string) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return text;
  };
  const code = await run(argv, { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env, readFile, now: () => CALLS_NOW });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

let t: TestApp | undefined;
const warnings: string[] = [];
afterEach(async () => {
  warnings.length = 0;
  await t?.app.close();
  t = undefined;
});

/** The API over fakes with tokens on, listening; a token of each scope. */
async function api(): Promise<{ url: string; tokens: InMemoryTokenStore; token: Record<ApiScope, string> }> {
  const tokens = new InMemoryTokenStore();
  const token = {} as Record<ApiScope, string>;
  for (const scope of ['read', 'operate', 'admin'] as const) {
    const parts = mintToken();
    await tokens.create({ id: parts.id, name: `${scope}-bot`, scopes: [scope], createdAt: CALLS_NOW, createdBy: 'test', secretSha256: secretDigest(parts.secret) });
    token[scope] = formatToken(parts);
  }
  t = await testApp({ tokens, auth: { tokens, openPaths: OPENABLE_PATHS, bootstrapSha256: secretDigest(BOOTSTRAP), now: () => CALLS_NOW } });
  return { url: await t.app.listen({ port: 0, host: '127.0.0.1' }), tokens, token };
}

describe('sbcctl: URL and token from flags, environment or config file, in that order', () => {
  it('--token wins over SBC_API_TOKEN, which wins over the config file\'s; the same for the URL', async () => {
    const { url, token } = await api();
    const file = { '/cfg.json': JSON.stringify({ url, token: token.read }) };
    // The file alone: its URL and token.
    expect((await sbcctl(['nodes'], { SBCCTL_CONFIG: '/cfg.json' }, file)).code).toBe(0);
    // The environment's token over the file's: a read token cannot revoke; the admin token in the env can list tokens.
    expect((await sbcctl(['token', 'list'], { SBCCTL_CONFIG: '/cfg.json' }, file)).code).toBe(4);
    expect((await sbcctl(['token', 'list'], { SBCCTL_CONFIG: '/cfg.json', SBC_API_TOKEN: token.admin }, file)).code).toBe(0);
    // The flag over both.
    expect((await sbcctl(['token', 'list', '--token', token.read], { SBCCTL_CONFIG: '/cfg.json', SBC_API_TOKEN: token.admin }, file)).code).toBe(4);
    // The URL: the environment's over the file's (nothing listens on port 1).
    expect((await sbcctl(['nodes'], { SBCCTL_CONFIG: '/cfg.json', SBC_API_URL: 'http://127.0.0.1:1' }, file)).code).toBe(3);
    expect((await sbcctl(['nodes', '--url', url], { SBCCTL_CONFIG: '/cfg.json', SBC_API_URL: 'http://127.0.0.1:1' }, file)).code).toBe(0);
  });

  it('the default file is ~/.config/sbcctl/config.json, or under $XDG_CONFIG_HOME; absent, it is no error', () => {
    const files: Record<string, string> = { '/home/op/.config/sbcctl/config.json': '{"url":"http://a:1"}', '/xdg/sbcctl/config.json': '{"token":"t"}' };
    const read = (p: string) => {
      if (files[p] === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return files[p];
    };
    expect(loadConfigFile({ HOME: '/home/op' }, read)).toEqual({ path: '/home/op/.config/sbcctl/config.json', url: 'http://a:1' });
    expect(loadConfigFile({ HOME: '/home/op', XDG_CONFIG_HOME: '/xdg' }, read)).toEqual({ path: '/xdg/sbcctl/config.json', token: 't' });
    expect(loadConfigFile({ HOME: '/nobody' }, read)).toBeUndefined();
    expect(loadConfigFile({}, read)).toBeUndefined();
  });

  it('a token in a config file others may read is warned about on stderr; the command still runs', async () => {
    const { url, token } = await api();
    const files = { '/c.json': JSON.stringify({ url, token: token.read }) };
    const run0644 = await run(['nodes'], { stdout: { write: () => true }, stderr: { write: (s: string) => warnings.push(s) }, env: { SBCCTL_CONFIG: '/c.json' }, readFile: (p) => files[p as '/c.json'], fileMode: () => 0o100644 });
    expect([run0644, warnings]).toEqual([0, ['warning: config file /c.json holds a token and others may read it (mode 0644): chmod 600 /c.json\n']]);
    warnings.length = 0;
    const run0600 = await run(['nodes'], { stdout: { write: () => true }, stderr: { write: (s: string) => warnings.push(s) }, env: { SBCCTL_CONFIG: '/c.json' }, readFile: (p) => files[p as '/c.json'], fileMode: () => 0o100600 });
    expect([run0600, warnings]).toEqual([0, []]);
  });

  it('a config file that cannot be used is a usage error naming it (exit 2), but --help still works', async () => {
    const cases: [Record<string, string>, string][] = [
      [{}, 'error: config file /c.json: cannot read it (ENOENT)'],
      [{ '/c.json': '{"url": ' }, 'error: config file /c.json: not JSON ('],
      [{ '/c.json': '[]' }, 'error: config file /c.json: not a JSON object'],
      [{ '/c.json': '{"tokn": "x"}' }, 'error: config file /c.json: unknown key "tokn"; it takes url, token'],
      [{ '/c.json': '{"token": 5}' }, 'error: config file /c.json: "token" must be a non-empty string'],
    ];
    for (const [files, message] of cases) {
      const r = await sbcctl(['nodes'], { SBCCTL_CONFIG: '/c.json' }, files);
      expect([r.code, r.stderr.startsWith(message)], r.stderr).toEqual([2, true]);
    }
    expect((await sbcctl(['--help'], { SBCCTL_CONFIG: '/c.json' })).code).toBe(0);
    const badUrl = await sbcctl(['nodes'], { SBCCTL_CONFIG: '/c.json' }, { '/c.json': '{"url": "localhost:8080"}' });
    expect([badUrl.code, badUrl.stderr.split('\n')[0]]).toEqual([2, 'error: config file /c.json: "url": not an http or https URL: "localhost:8080"']);
  });
});

describe('sbcctl token create | list | revoke', () => {
  it('the bootstrap secret creates a token, shown once; list shows it without its secret; revoke ends it (exit 4 after)', async () => {
    const { url } = await api();
    const env = { SBC_API_URL: url, SBC_API_TOKEN: BOOTSTRAP };
    const created = await sbcctl(['token', 'create', 'ci', '--scope', 'read,operate', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const body = JSON.parse(created.stdout) as { id: string; token: string; scopes: string[] };
    expect(body.scopes).toEqual(['read', 'operate']);
    const table = await sbcctl(['token', 'list'], env);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +NAME +SCOPES +CREATED +BY +LAST-USED +REVOKED$/);
    expect(lines.find((l) => l.startsWith(body.id))).toMatch(new RegExp(`^${body.id} +ci +read,operate +\\S+ +token:bootstrap +never +-$`));
    expect(table.stdout).not.toContain(body.token);
    expect((await sbcctl(['nodes', '--token', body.token], { SBC_API_URL: url })).code).toBe(0);
    const revoked = await sbcctl(['token', 'revoke', body.id], env);
    expect([revoked.code, revoked.stdout]).toEqual([0, `token ${body.id} (ci) revoked at ${new Date(CALLS_NOW).toISOString()}\n`]);
    const after = await sbcctl(['nodes', '--token', body.token], { SBC_API_URL: url });
    expect([after.code, after.stderr]).toEqual([4, `error: unauthorized: API token ${body.id} (ci) was revoked at ${new Date(CALLS_NOW).toISOString()}\n`]);
  });

  it('printed for people: the token on its own line and the warning that it is shown once', async () => {
    const { url } = await api();
    const r = await sbcctl(['token', 'create', 'people', '--scope', 'read'], { SBC_API_URL: url, SBC_API_TOKEN: BOOTSTRAP });
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[1]).toBe('name:    people');
    expect(lines[3]).toMatch(/^token: {3}sbc_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(lines.at(-1)).toBe('the token is shown this once: store it now (sbcctl reads it from --token, $SBC_API_TOKEN or its config file)');
  });

  it.each([
    [['token', 'create', 'x'], 'token create: --scope is required: read, operate, admin (comma-separated for several)'],
    [['token', 'create', 'x', '--scope', 'write'], 'token create: --scope: "write" is not one of read, operate, admin'],
    [['token'], 'token: missing subcommand; one of create, list, revoke'],
    [['token', 'mint'], 'token: unknown subcommand "mint"; one of create, list, revoke'],
    [['token', 'revoke'], 'token revoke: missing <id>'],
    [['policy', 'set', '3000'], 'policy set: --shards is required: how many nodes the room is cascaded over'],
    [['policy', 'set', '3000', '--shards', 'three'], 'policy set: --shards: a whole number, not "three"'],
  ])('%j: usage error (exit 2): %s', async (argv, message) => {
    const r = await sbcctl(argv);
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([2, `error: ${message}`]);
  });

  it('a token whose scope is too low is exit 4 with the API\'s reason; no token at all is exit 4 too', async () => {
    const { url, token } = await api();
    const r = await sbcctl(['drain', node(1).nodeId, '--token', token.read], { SBC_API_URL: url });
    expect([r.code, r.stderr]).toEqual([4, `error: forbidden: token read-bot (scopes read) may not use POST /v1/nodes/:nodeId/drain: it needs scope operate\n`]);
    expect((await sbcctl(['nodes'], { SBC_API_URL: url })).code).toBe(4);
  });
});

describe('sbcctl: a node named by the prefix `sbcctl nodes` prints', () => {
  it('node, drain-status <prefix>: the one node it starts; a prefix of several is exit 2 naming them; of none, the API\'s refusal', async () => {
    const { url, token } = await api();
    const env = { SBC_API_URL: url, SBC_API_TOKEN: token.read };
    const full = 'abcdef12-3456-4789-8abc-def012345678';
    await t!.registry.put(node(9, { nodeId: full, machineId: 'fs9:5080' }), undefined, 1000);
    const one = await sbcctl(['node', 'abcdef12', '--json'], env);
    expect([one.code, one.stderr]).toEqual([0, '']);
    expect((JSON.parse(one.stdout) as { nodeId: string }).nodeId).toBe(full);
    expect((await sbcctl(['drain-status', 'abcd'], env)).stdout).toMatch(new RegExp(`^node: +${full}$`, 'm'));
    // node(1..3) all start 00000000-0000-4000-8000-: several, none chosen.
    const several = await sbcctl(['drain-status', '00000000'], env);
    expect([several.code, several.stderr.split('\n')[0]]).toEqual([2, `error: drain-status: 00000000 is the start of 3 node ids (${[1, 2, 3].map((n) => node(n).nodeId).join(', ')}): give more of it`]);
    // A machine id is sent as typed (the API resolves it); an unknown prefix reaches the API, which refuses it.
    expect((await sbcctl(['drain-status', 'fs9:5080'], env)).stdout).toMatch(new RegExp(`^node: +${full}$`, 'm'));
    const unknown = await sbcctl(['node', 'ffff0000'], env);
    expect([unknown.code, unknown.stdout, unknown.stderr]).toEqual([1, '', expect.stringMatching(/^error: bad-request: params\/nodeId must match pattern/)]);
    expect(await sbcctl(['drain-status', 'ffff0000'], env)).toEqual({ code: 1, stdout: '', stderr: 'error: not-found: no node ffff0000\n' });
  });
});

describe('sbcctl policy, cluster, dispatcher, node', () => {
  it('policy set, show, delete: PUT, GET and DELETE of the room\'s policy; show after delete is the API\'s 404 (exit 1)', async () => {
    const { url, token } = await api();
    const env = { SBC_API_URL: url, SBC_API_TOKEN: token.operate };
    const set = await sbcctl(['policy', 'set', '3000', '--shards', '3'], env);
    expect([set.code, set.stdout]).toEqual([0, `room:     3000\nmode:     cascade\nshards:   3\nupdated:  ${new Date(1_764_650_000_000).toISOString()}\n`]);
    expect(JSON.parse((await sbcctl(['policy', 'show', '3000', '--json'], env)).stdout)).toEqual({ room: '3000', mode: 'cascade', shards: 3, updatedAt: new Date(1_764_650_000_000).toISOString() });
    expect(await sbcctl(['policy', 'delete', '3000'], env)).toEqual({ code: 0, stdout: 'policy of room 3000 removed\n', stderr: '' });
    expect(await sbcctl(['policy', 'delete', '3000', '--json'], env)).toEqual({ code: 1, stdout: '', stderr: 'error: not-found: no policy for room 3000\n' });
    expect((await sbcctl(['policy', 'show', '3000'], env)).code).toBe(1);
    expect((await sbcctl(['policy', 'set', '3000', '--shards', '3'], { ...env, SBC_API_TOKEN: token.read })).code).toBe(4);
  });

  it('cluster: this replica, the leader and epoch, then every replica', async () => {
    const { url, token } = await api();
    const r = await sbcctl(['cluster'], { SBC_API_URL: url, SBC_API_TOKEN: token.read });
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      'replica:  cp-a (leader)',
      'leader:   cp-a',
      'epoch:    7',
      '',
      'REPLICA  ORDER  ROLE      LAST-SEEN   LIVE',
      'cp-a     1      leader    0 ms ago    yes',
      'cp-b     2      follower  413 ms ago  yes',
    ]);
  });

  it('dispatcher: the pass, the desired rows, each Kamailio against them', async () => {
    const { url, token } = await api();
    await t!.reconciler.runOnce();
    const r = await sbcctl(['dispatcher'], { SBC_API_URL: url, SBC_API_TOKEN: token.read });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^pass: +1 at /);
    expect(lines).toContain('SET  PURPOSE  ALG  DESTINATION        FLAGS  PRIORITY  ATTRS');
    expect(lines.some((l) => /^KAMAILIO +STATUS/.test(l))).toBe(true);
    expect(lines.some((l) => /^http:\/\/k2\/RPC +unreachable/.test(l))).toBe(true);
  });

  it('node and node-status: one node from the registry, and its live facts through the agent', async () => {
    const { url, token } = await api();
    const env = { SBC_API_URL: url, SBC_API_TOKEN: token.read };
    const id = node(1).nodeId;
    const one = await sbcctl(['node', id], env);
    expect(one.stdout.split('\n').slice(0, 3)).toEqual([`node:       ${id}`, `machine:    ${node(1).machineId}`, expect.stringMatching(/^state: +active, since /) as unknown]);
    const live = await sbcctl(['node-status', id], env);
    expect(live.stdout.split('\n')).toEqual(expect.arrayContaining(['sessions:        2/1000 (peak 4, 16 since start)', 'sip profile:     internal running at sip:10.0.0.1:5080']));
    expect(t!.agents.asked).toEqual([id]);
    expect((await sbcctl(['node', 'not-a-node'], env)).code).toBe(1);
  });

  it('ready: 200 is exit 0 with each check; 503 is the answer too (which check failed), exit 1', async () => {
    let redisDown = false;
    t = await testApp({ readiness: { postgres: () => Promise.resolve(), redis: () => (redisDown ? Promise.reject(new Error('ECONNREFUSED')) : Promise.resolve()) } });
    const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
    expect(await sbcctl(['ready'], { SBC_API_URL: url })).toEqual({ code: 0, stderr: '', stdout: ['ready', '', 'CHECK     OK   DETAIL', 'postgres  yes  -', 'redis     yes  -', ''].join('\n') });
    redisDown = true;
    expect(await sbcctl(['ready'], { SBC_API_URL: url })).toEqual({ code: 1, stderr: '', stdout: ['not ready', '', 'CHECK     OK   DETAIL', 'postgres  yes  -', 'redis     no   ECONNREFUSED', ''].join('\n') });
    const json = await sbcctl(['ready', '--json'], { SBC_API_URL: url });
    expect([json.code, JSON.parse(json.stdout)]).toEqual([1, { ready: false, checks: { postgres: { ok: true }, redis: { ok: false, detail: 'ECONNREFUSED' } } }]);
  });
});
