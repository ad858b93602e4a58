import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadControlPlaneConfig } from '../../src/config/controlPlane.js';
import { startControlPlane, type ControlPlane } from '../../src/controlPlane.js';
import { startAgentProcess } from '../support/agentProcess.js';
import { selectableUris, startKamailio, type KamailioInstance } from '../support/kamailio.js';
import { freePort } from '../support/ports.js';
import { waitFor, type RunningProcess } from '../support/process.js';
import { controlPlaneServiceEnv, type Service, startMigratedServices } from '../support/services.js';
import { runSippUac, type UacResult } from '../support/sipp.js';
import { startStandin, type Standin } from '../standin/standin.js';

const REPO = new URL('../..', import.meta.url).pathname;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * sbcctl against a running control plane with API tokens on: real Redis, Postgres, NATS and
 * Kamailio, a FreeSWITCH stand-in with the shipped agent, sipp callers. Every command runs as
 * its own child process (`node --import tsx src/cli/sbcctl.ts`), as an operator's shell or a
 * script would run it; its exit status and its `--json` answer are what is checked.
 */
describe('sbcctl against a running control plane (tokens on)', () => {
  let db: Service;
  let redis: Service;
  let nats: Service;
  let k1: KamailioInstance;
  let cp: ControlPlane;
  let url: string;
  let fs: Standin;
  let agent: RunningProcess;
  const prefix = `cli${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'sbcctl-it-'));
  const bootstrap = randomBytes(24).toString('hex');
  const background: Promise<UacResult>[] = [];
  const tokens: Record<string, { id: string; token: string }> = {};

  /** One sbcctl run; HOME is an empty directory, so no config file of the machine's is read. */
  const sbcctl = (args: readonly string[], env: Record<string, string> = {}): Promise<Run> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'src/cli/sbcctl.ts', ...args],
        { cwd: REPO, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, SBC_API_URL: url, ...env }, timeout: 30_000 },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
      );
    });
  /** Runs with `token`, `--json`; the answer parsed. Fails the test unless the exit status is `code`. */
  const json = async <T>(args: readonly string[], token: string, code = 0): Promise<T> => {
    const r = await sbcctl([...args, '--json'], { SBC_API_TOKEN: token });
    expect([args.join(' '), r.code, r.stderr]).toEqual([args.join(' '), code, '']);
    return JSON.parse(r.stdout) as T;
  };
  /** Runs with `token`; the exit status and the first line of stderr. */
  const refused = async (args: readonly string[], token?: string): Promise<[number | null, string]> => {
    const r = await sbcctl(args, token !== undefined ? { SBC_API_TOKEN: token } : {});
    return [r.code, r.stderr.split('\n')[0] ?? ''];
  };

  beforeAll(async () => {
    ({ db, redis, nats } = await startMigratedServices());
    k1 = await startKamailio({ dbUrl: db.url, frTimerMs: 4000 });
    const bootstrapFile = join(dir, 'bootstrap-token');
    writeFileSync(bootstrapFile, `${bootstrap}\n`, { mode: 0o600 });
    const config = loadControlPlaneConfig({
      ...controlPlaneServiceEnv({ nats, redis, db, prefix, kamailioRpcUrls: [k1.rpcUrl] }),
      SBC_RELOAD_DELTA_MS: '1000',
      SBC_RESYNC_MS: '2000',
      SBC_API_AUTH: 'on',
      SBC_API_BOOTSTRAP_TOKEN_FILE: bootstrapFile,
    });
    cp = await startControlPlane(config, pino({ level: 'silent' }));
    url = await cp.app.listen({ host: '127.0.0.1', port: 0 });
    fs = await startStandin({ toneMs: 0 });
    agent = startAgentProcess(fs, { natsUrl: nats.url, prefix, heartbeatMs: 500, eslTimeoutMs: 400, env: { SBC_PROBES_BEFORE_LOST: '3' } });
    await waitFor('the node selectable', async () => (await selectableUris(k1, 1)).length === 1, 20_000);
    await waitFor('the control plane leads', () => cp.election.isLeader(), 10_000);
  });

  afterAll(async () => {
    await Promise.allSettled(background);
    await agent?.stop('SIGKILL');
    await fs?.stop();
    await cp?.stop();
    await k1?.stop();
    await Promise.allSettled([nats?.stop(), redis?.stop(), db?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the bootstrap secret creates the first tokens; a read token reads every resource; operate drains, scales and sets policy; admin revokes; each refusal has its exit status', async () => {
    // Without a token the API refuses (exit 4); open paths need none; nothing listening is exit 3; a typo is exit 2.
    expect(await refused(['nodes'])).toEqual([4, 'error: unauthorized: this route needs an API token: Authorization: Bearer <token>']);
    const nobody = `http://127.0.0.1:${await freePort()}`;
    expect(await refused(['nodes', '--url', nobody], bootstrap)).toEqual([3, `error: cannot reach the API at ${nobody}: connection refused (ECONNREFUSED)`]);
    expect(await refused(['nodez'], bootstrap)).toEqual([2, 'error: unknown command "nodez"']);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // /readyz is open by default: no token needed.
    expect(await json<{ ready: boolean; checks: Record<string, { ok: boolean }> }>(['ready'], '')).toMatchObject({ ready: true, checks: { redis: { ok: true }, postgres: { ok: true }, nats: { ok: true }, reconciler: { ok: true } } });

    // Tokens: created with the bootstrap secret, shown once.
    for (const [name, scope] of [['ops-admin', 'admin'], ['reader', 'read'], ['operator', 'operate']] as const) {
      const t = await json<{ id: string; name: string; scopes: string[]; token: string }>(['token', 'create', name, '--scope', scope], bootstrap);
      expect([t.name, t.scopes, t.token.startsWith(`sbc_${t.id}_`)]).toEqual([name, [scope], true]);
      tokens[name] = { id: t.id, token: t.token };
    }
    const admin = tokens['ops-admin']!.token;
    const reader = tokens.reader!.token;
    const operator = tokens.operator!.token;
    const listed = await json<{ tokens: { id: string; name: string; createdBy: string; revokedAt: string | null }[] }>(['token', 'list'], admin);
    expect(listed.tokens.map((t) => [t.name, t.createdBy, t.revokedAt])).toEqual([
      ['ops-admin', 'token:bootstrap', null],
      ['reader', 'token:bootstrap', null],
      ['operator', 'token:bootstrap', null],
    ]);
    expect(JSON.stringify(listed)).not.toContain(reader);

    // A call in a room, held, and a short plain call: data for rooms, calls and trace.
    const roomCall = runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: '3901', calls: 1, holdMs: 8000 });
    background.push(roomCall);
    const plain = await runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: '9000', calls: 1, holdMs: 100 });
    expect(plain.successful).toBe(1);

    // Read: every resource, with the read token.
    const { nodes } = await json<{ nodes: { nodeId: string; sipUri: string; state: string }[] }>(['nodes'], reader);
    expect(nodes.map((n) => [n.sipUri, n.state])).toEqual([[fs.sipUri, 'active']]);
    const nodeId = nodes[0]!.nodeId;
    expect((await json<{ nodeId: string; sipUri: string }>(['node', nodeId], reader)).sipUri).toBe(fs.sipUri);
    expect(await json<{ nodeId: string; ready: boolean; sipProfile: { running: boolean } }>(['node-status', nodeId], reader)).toMatchObject({ nodeId, ready: true, sipProfile: { running: true } });
    await waitFor('the room listed with its caller', async () => (await json<{ rooms: { room: string; members: number }[] }>(['rooms'], reader)).rooms.some((r) => r.room === '3901' && r.members === 1), 15_000);
    expect(await json<{ room: string; members: number }>(['room', '3901'], reader)).toMatchObject({ room: '3901', members: 1 });
    const callId = plain.calls[0]!.callId;
    await waitFor('the plain call traced', async () => (await sbcctl(['trace', callId], { SBC_API_TOKEN: reader })).code === 0, 15_000);
    const graph = await json<{ legs: { nodeId: string; callId?: string }[] }>(['trace', callId], reader);
    expect(graph.legs.map((l) => [l.nodeId, l.callId])).toEqual([[nodeId, callId]]);
    const recent = await json<{ legs: { callId?: string }[] }>(['calls', '--node', nodeId], reader);
    expect(recent.legs.map((l) => l.callId)).toContain(callId);
    const cluster = await json<{ role: string; leaderId: string; replicas: unknown[] }>(['cluster'], reader);
    expect([cluster.role, cluster.leaderId === cp.election.status().replicaId, cluster.replicas.length]).toEqual(['leader', true, 1]);
    const disp = await json<{ desired: { setId: number; destinations: { destination: string }[] }[]; kamailios: { status: string }[] }>(['dispatcher'], reader);
    expect(disp.desired.find((s) => s.setId === 1)?.destinations.map((d) => d.destination)).toEqual([fs.sipUri]);
    expect(disp.kamailios.map((k) => k.status)).toEqual(['in-sync']);
    expect((await json<{ provisioner: string; serving: number }>(['scale'], reader))).toMatchObject({ provisioner: 'none', serving: 1 });

    // A read token cannot change anything: exit 4, the API's 403.
    const forbidden = (route: string) => `error: forbidden: token reader (scopes read) may not use ${route}: it needs scope operate`;
    expect(await refused(['drain', nodeId], reader)).toEqual([4, forbidden('POST /v1/nodes/:nodeId/drain')]);
    expect(await refused(['undrain', nodeId], reader)).toEqual([4, forbidden('POST /v1/nodes/:nodeId/undrain')]);
    expect(await refused(['scale', '1'], reader)).toEqual([4, forbidden('POST /v1/scale')]);
    expect(await refused(['policy', 'set', '3950', '--shards', '2'], reader)).toEqual([4, forbidden('PUT /v1/rooms/:room/policy')]);
    expect((await refused(['token', 'list'], operator))[0]).toBe(4);

    // Operate: drain, its progress, undrain; scale; room policy.
    const drained = await json<{ node: { state: string }; applied: boolean }>(['drain', nodeId, '--deadline', '30m'], operator);
    // The node carries no call: the pass that applies the drain may already find it drained.
    expect(drained.applied).toBe(true);
    expect(drained.node.state).toMatch(/^(draining|drained)$/);
    expect((await json<{ node: { state: string } }>(['drain-status', nodeId], reader)).node.state).toMatch(/^(draining|drained)$/);
    expect((await json<{ node: { state: string }; drain: unknown }>(['undrain', nodeId], operator))).toMatchObject({ node: { state: 'active' }, drain: null });
    expect((await json<{ target: { replicas: number; by: string } }>(['scale', '1'], operator)).target).toMatchObject({ replicas: 1, by: 'token:operator' });
    expect(await json<{ room: string; shards: number }>(['policy', 'set', '3950', '--shards', '2'], operator)).toMatchObject({ room: '3950', mode: 'cascade', shards: 2 });
    expect(await json<{ shards: number }>(['policy', 'show', '3950'], reader)).toMatchObject({ shards: 2 });
    expect(await json<null>(['policy', 'delete', '3950'], operator)).toBeNull();
    expect(await refused(['policy', 'show', '3950'], reader)).toEqual([1, 'error: not-found: no policy for room 3950']);

    // The audit log names each token.
    const ops = await json<{ operations: { kind: string; actor: string }[] }>(['operations', '--limit', '20'], reader);
    expect(ops.operations.filter((o) => o.actor.startsWith('token:')).map((o) => [o.kind, o.actor]).reverse()).toEqual([
      ['token-create', 'token:bootstrap'],
      ['token-create', 'token:bootstrap'],
      ['token-create', 'token:bootstrap'],
      ['drain', 'token:operator'],
      ['undrain', 'token:operator'],
      ['scale', 'token:operator'],
    ]);

    // Admin revokes the reader: its next call is refused (exit 4); the revoke is audited.
    const revoked = await json<{ id: string; revokedAt: string | null }>(['token', 'revoke', tokens.reader!.id], admin);
    expect(revoked.revokedAt).not.toBeNull();
    expect(await refused(['nodes'], reader)).toEqual([4, `error: unauthorized: API token ${tokens.reader!.id} (reader) was revoked at ${revoked.revokedAt}`]);
    expect((await json<{ operations: { kind: string; actor: string; target: string }[] }>(['operations', '--kind', 'token-revoke'], admin)).operations.map((o) => [o.actor, o.target])).toEqual([
      ['token:ops-admin', tokens.reader!.id],
    ]);
  });

  it('the config file gives URL and token; the environment wins over it, --token over both', async () => {
    const good = await json<{ id: string; token: string }>(['token', 'create', 'file-reader', '--scope', 'read'], bootstrap);
    const gone = await json<{ id: string; token: string }>(['token', 'create', 'file-gone', '--scope', 'read'], bootstrap);
    await json(['token', 'revoke', gone.id], bootstrap);
    const file = join(dir, 'sbcctl.json');
    writeFileSync(file, JSON.stringify({ url, token: good.token }), { mode: 0o600 });
    const fromFile = await sbcctl(['nodes', '--json'], { SBCCTL_CONFIG: file, SBC_API_URL: '' });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect((JSON.parse(fromFile.stdout) as { nodes: unknown[] }).nodes).toHaveLength(1);
    // A revoked token in the environment wins over the file's good one; the flag over the environment.
    expect((await sbcctl(['nodes'], { SBCCTL_CONFIG: file, SBC_API_URL: '', SBC_API_TOKEN: gone.token })).code).toBe(4);
    expect((await sbcctl(['nodes', '--token', good.token], { SBCCTL_CONFIG: file, SBC_API_URL: '', SBC_API_TOKEN: gone.token })).code).toBe(0);
  });
});
