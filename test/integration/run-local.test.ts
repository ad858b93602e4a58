import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisNodeRegistry } from '../../src/redis/redisNodeRegistry.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/process.js';

/**
 * scripts/run-local.sh as a user meets it: Ctrl-C (SIGINT to the terminal's foreground
 * group, which is the script's group: its children run in their own sessions) stops the
 * agents first and waits until the control plane has applied their `left`; a start that
 * cannot work says why and keeps its logs. Each run uses the machine's NATS, Redis and
 * Postgres (as the script does) with its own subject prefix, key prefix, database and free
 * loopback ports, and skips install-deps and the build (SBC_LOCAL_SKIP_SETUP=1).
 */

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = 'redis://127.0.0.1:6379';

interface LocalRun {
  readonly child: ChildProcess;
  readonly logDir: string;
  readonly db: string;
  readonly redisPrefix: string;
  readonly httpPort: number;
  readonly natsPort: number;
  output(): string;
  readonly exited: Promise<number | null>;
}

const runs: LocalRun[] = [];
const servers: Server[] = [];

async function startRunLocal(extraEnv: Record<string, string> = {}, ports: { httpPort?: number } = {}): Promise<LocalRun> {
  const tag = randomBytes(4).toString('hex');
  const sipPort = await freePort();
  const eslPort = await freePort();
  const nodeSipPort = await freePort();
  const rpcPort = await freePort();
  const httpPort = ports.httpPort ?? (await freePort());
  const natsPort = await freePort();
  const logDir = mkdtempSync(join(tmpdir(), 'run-local-test-'));
  const db = `sbc_local_test_${tag}`;
  const redisPrefix = `sbc:localtest${tag}:`;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SBC_')) env[k] = v;
  Object.assign(env, {
    SBC_LOCAL_SKIP_SETUP: '1',
    SBC_LOCAL_NODES: '1',
    SBC_LOCAL_DB: db,
    SBC_LOCAL_SIP_PORT: String(sipPort),
    SBC_LOCAL_RPC_PORT: String(rpcPort),
    SBC_LOCAL_HTTP_PORT: String(httpPort),
    SBC_LOCAL_NATS_PORT: String(natsPort),
    SBC_LOCAL_ESL_BASE: String(eslPort - 1),
    SBC_LOCAL_NODE_SIP_BASE: String(nodeSipPort - 10),
    SBC_LOCAL_NATS_PREFIX: `sbc.localtest${tag}`,
    SBC_LOCAL_REDIS_PREFIX: redisPrefix,
    SBC_LOCAL_LOG_DIR: logDir,
    ...extraEnv,
  });
  // Own process group, as a shell gives a foreground job: SIGINT to the group is a Ctrl-C.
  const child = spawn('bash', ['scripts/run-local.sh'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const run = { child, logDir, db, redisPrefix, httpPort, natsPort, output: () => out, exited };
  runs.push(run);
  return run;
}

async function exitWithin(run: LocalRun, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'timeout'>((res) => {
    timer = setTimeout(() => res('timeout'), ms);
  });
  const r = await Promise.race([run.exited, bound]);
  clearTimeout(timer);
  if (r === 'timeout') throw new Error(`run-local.sh did not exit within ${ms} ms:\n${run.output().slice(-4000)}`);
  return r;
}

/** "pid name log" lines the script writes for every process it starts. */
function startedProcesses(run: LocalRun): { pid: number; name: string }[] {
  const file = join(run.logDir, 'pids');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [pid, name] = l.split(' ');
      return { pid: Number(pid), name: name ?? '' };
    });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

const dbUrl = (db: string) => `postgres://postgres@127.0.0.1:5432/${db}`;

async function rowsInSets(db: string): Promise<number> {
  const [r] = await query<{ n: string }>(dbUrl(db), 'SELECT count(*) AS n FROM dispatcher WHERE setid IN (1, 2, 3)');
  return Number(r?.n);
}

afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((res) => s.close(() => res()));
  for (const run of runs.splice(0)) {
    // Only matters when an assertion failed: nothing of this test may outlive it.
    for (const { pid } of [...startedProcesses(run), { pid: run.child.pid ?? 0 }]) {
      if (pid > 0 && alive(pid)) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    await run.exited;
    await query(ADMIN_URL, `DROP DATABASE IF EXISTS ${run.db} WITH (FORCE)`);
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    const keys = await redis.keys(`${run.redisPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    rmSync(run.logDir, { recursive: true, force: true });
  }
});

describe('scripts/run-local.sh', () => {
  it('run-local: Ctrl-C stops the agent first, the control plane applies its left (node gone, no dispatcher rows), then the rest; logs kept; exit 130', async () => {
    const run = await startRunLocal();
    await waitFor('run-local.sh to print Running', () => /^Running: 1 node\(s\) active/m.test(run.output()) || run.child.exitCode !== null, 90_000, 100);
    expect(run.output()).toMatch(/^Running/m);
    const nodeId = (JSON.parse(readFileSync(join(run.logDir, 'fs1.log'), 'utf8').split('\n')[0] ?? '{}') as { coreUuid?: string }).coreUuid ?? '';
    // Preconditions, so that the assertions after the stop can fail.
    // The API asks for a token: the run's bootstrap secret, readable by its user only.
    const tokenFile = join(run.logDir, 'api-token');
    expect(statSync(tokenFile).mode & 0o077).toBe(0);
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(token).toMatch(/^[0-9a-f]{48}$/);
    expect(run.output()).toContain(`SBC_API_TOKEN=$(cat ${tokenFile})`);
    expect((await fetch(`http://127.0.0.1:${run.httpPort}/v1/nodes`)).status).toBe(401);
    const before = (await (await fetch(`http://127.0.0.1:${run.httpPort}/v1/nodes`, { headers: { authorization: `Bearer ${token}` } })).json()) as { nodes: { nodeId: string; state: string }[] };
    expect(before.nodes.find((n) => n.nodeId === nodeId)?.state).toBe('active');
    expect(await rowsInSets(run.db)).toBe(3);
    const processes = startedProcesses(run);
    expect(processes.map((p) => p.name).sort()).toEqual(['agent1', 'control-plane', 'fs1', 'kamailio', 'nats']);
    expect(processes.every((p) => alive(p.pid))).toBe(true);
    // Its NATS runs with authorization: the node got in with its key, a keyless client does not.
    await expect(connect({ servers: `nats://127.0.0.1:${run.natsPort}`, maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/i);

    process.kill(-(run.child.pid ?? 0), 'SIGINT');
    const code = await exitWithin(run, 90_000);

    const out = run.output();
    expect(code, out).toBe(130);
    const order = ['got SIGINT', 'stopping the agents', 'the control plane applied it', 'stopping the control plane', 'stopping Kamailio and the FreeSWITCH stand-ins', 'stopped. Logs kept in'];
    const at = order.map((s) => out.indexOf(s));
    expect(at.every((i) => i >= 0), out).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(processes.filter((p) => alive(p.pid))).toEqual([]);
    expect(await rowsInSets(run.db)).toBe(0);
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      const node = await new RedisNodeRegistry(redis, run.redisPrefix, () => undefined).get(nodeId);
      expect(node).toMatchObject({ state: 'gone', goneReason: 'agent-stopping' });
    } finally {
      await redis.quit();
    }
    for (const log of ['control-plane.log', 'kamailio.log', 'fs1.log', 'agent1.log']) expect(existsSync(join(run.logDir, log)), log).toBe(true);
  });

  it('run-local: a port already in use is named with its owner before anything starts; logs kept; exit 1', async () => {
    const server = createServer();
    servers.push(server);
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
    const port = (server.address() as { port: number }).port;
    const run = await startRunLocal({}, { httpPort: port });
    const code = await exitWithin(run, 60_000);
    const out = run.output();
    expect(code, out).toBe(1);
    expect(out).toContain(`tcp port ${port} (control plane HTTP) is already in use by`);
    expect(out).toContain(`(pid ${process.pid})`);
    expect(startedProcesses(run)).toEqual([]);
    expect(existsSync(run.logDir)).toBe(true);
  });

  it('run-local: a control plane that cannot start stops the run with the tail of its log; exit 1', async () => {
    // Passed through to the control plane, whose configuration check refuses it.
    const run = await startRunLocal({ SBC_RELOAD_DELTA_MS: 'soon' });
    const code = await exitWithin(run, 60_000);
    const out = run.output();
    expect(code, out).toBe(1);
    expect(out).toContain('control-plane exited while waiting for');
    expect(out).toContain(`last 25 lines of ${join(run.logDir, 'control-plane.log')}`);
    expect(out).toContain('SBC_RELOAD_DELTA_MS');
    expect(startedProcesses(run).map((p) => p.name)).toEqual(['nats', 'control-plane']);
    expect(startedProcesses(run).filter((p) => alive(p.pid))).toEqual([]);
    expect(out).not.toMatch(/^Running/m);
  });
});
