import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import pg from 'pg';
import { migrate } from '../../src/postgres/migrations.js';
import { freePort } from './ports.js';
import { startProcess, trackLeftover, waitFor, type RunningProcess } from './process.js';
import { natsContainer, redisContainer, sharedEngineSocket } from './serviceContainers.js';

/**
 * Real services for integration tests, on one of two paths, chosen once per run by the
 * integration projects' global setup (test/support/testEngine.ts):
 * - the engine path, where a private Docker engine can run (root, docker.io, debootstrap; CI
 *   runs this one): Redis and NATS per test through testcontainers (serviceContainers.ts),
 *   one Postgres container for the run with a fresh database per test;
 * - local binaries otherwise, or with TEST_NO_DOCKER=1: private redis-server and nats-server
 *   processes on free loopback ports and a fresh database per test on the server named by
 *   TEST_PG_URL (default: the local server).
 * Nothing is shared between tests but the Postgres server.
 */
export interface Service {
  readonly url: string;
  stop(): Promise<void>;
}

async function tcpReady(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface LocalServiceOptions {
  /** Run the local server in its own process group (see StartProcessOptions.ownProcessGroup). */
  ownProcessGroup?: boolean;
}

export interface NatsOptions extends LocalServiceOptions {
  /**
   * The address the local nats-server listens on (default 127.0.0.1). Given, it is always the
   * local binary on that address (never TEST_NATS_URL or a container): a test whose containers
   * must reach it sets their network's gateway here.
   */
  host?: string;
}

export async function startRedis(opts: LocalServiceOptions = {}): Promise<Service> {
  if (process.env.TEST_REDIS_URL) return { url: process.env.TEST_REDIS_URL, stop: async () => {} };
  if (sharedEngineSocket()) {
    const c = await redisContainer((port) => tcpReady(port));
    return { url: `redis://127.0.0.1:${c.port}`, stop: () => c.stop() };
  }
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = startProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], opts);
    try {
      await waitFor(`redis on ${port}`, () => tcpReady(port), 5000);
      return { url: `redis://127.0.0.1:${port}`, stop: () => proc.stop() };
    } catch (err) {
      await proc.stop();
      if (attempt >= 2) throw new Error(`redis-server did not start: ${proc.output()}`, { cause: err });
    }
  }
}

export interface NatsService extends Service {
  /** Kills the server abruptly and starts it again on the same port and store (fault tests), after `downMs` (default 0). */
  restart?(downMs?: number): Promise<void>;
}

export async function startNats(opts: NatsOptions = {}): Promise<NatsService> {
  const host = opts.host ?? '127.0.0.1';
  if (opts.host === undefined) {
    if (process.env.TEST_NATS_URL) return { url: process.env.TEST_NATS_URL, stop: async () => {} };
    if (sharedEngineSocket()) {
      const c = await natsContainer((port) => tcpReady(port));
      return {
        url: `nats://127.0.0.1:${c.port}`,
        async restart(downMs = 0) {
          await c.kill();
          if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
          await c.start();
        },
        stop: () => c.stop(),
      };
    }
  }
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    let dir = '';
    const untrackDir = trackLeftover('nats-server data dir', () => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });
    dir = mkdtempSync(join(tmpdir(), 'nats-test-'));
    const removeDir = () => {
      rmSync(dir, { recursive: true, force: true });
      untrackDir();
    };
    const args = ['-a', host, '-p', String(port), '-js', '-sd', dir];
    let proc: RunningProcess;
    try {
      proc = startProcess('nats-server', args, opts);
    } catch (err) {
      removeDir();
      throw err;
    }
    try {
      await waitFor(`nats on ${port}`, () => tcpReady(port, host), 5000);
      return {
        url: `nats://${host}:${port}`,
        async restart(downMs = 0) {
          await proc.stop('SIGKILL');
          if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
          proc = startProcess('nats-server', args, opts);
          await waitFor(`nats on ${port}`, () => tcpReady(port, host), 5000);
        },
        async stop() {
          await proc.stop();
          removeDir();
        },
      };
    } catch (err) {
      await proc.stop();
      removeDir();
      if (attempt >= 2) throw new Error(`nats-server did not start: ${proc.output()}`, { cause: err });
    }
  }
}

/** A new, empty database for one test; dropped by stop(). */
export async function createPostgresDatabase(): Promise<Service> {
  const adminUrl = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `sbc_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const drop = async () => {
    const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
    await c.connect();
    try {
      // A pg.Pool's end() resolves once it has asked its clients to end, before their sessions
      // are gone; FORCE on such a session sends its client an error it has no listener for.
      // So wait (bounded) for the test's own sessions to close, then force what is left.
      for (let i = 0; i < 40; i++) {
        const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
        if ((rows[0]?.n ?? 0) === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await c.end();
    }
  };
  // Tracked before CREATE: a sweep during the CREATE waits for it, then drops the database.
  let created: Promise<void> = Promise.resolve();
  const untrack = trackLeftover(`postgres database ${name}`, async () => {
    await created.catch(() => undefined);
    await drop();
  });
  created = (async () => {
    const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
  })();
  try {
    await created;
  } catch (err) {
    untrack();
    throw err;
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async stop() {
      await drop();
      untrack();
    },
  };
}

/** The SBC_* variables that point a control plane at a test's private services. */
export function controlPlaneServiceEnv(s: { nats: Service; redis: Service; db: Service; prefix: string; kamailioRpcUrls: readonly string[] }): Record<string, string> {
  return {
    SBC_NATS_URL: s.nats.url,
    SBC_NATS_PREFIX: s.prefix,
    SBC_REDIS_URL: s.redis.url,
    SBC_REDIS_PREFIX: `${s.prefix}:`,
    SBC_PG_URL: s.db.url,
    SBC_KAMAILIO_RPC_URLS: s.kamailioRpcUrls.join(','),
    // The API's token check is tested on its own (cli, api-auth); here the API is driven without tokens.
    SBC_API_AUTH: 'off',
  };
}

/** A test file's Postgres database (migrated: the tables Kamailio and the control plane read), Redis and NATS. */
export async function startMigratedServices(): Promise<{ db: Service; redis: Service; nats: Service }> {
  const [db, redis, nats] = await Promise.all([createPostgresDatabase(), startRedis(), startNats()]);
  const pool = new pg.Pool({ connectionString: db.url });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  return { db, redis, nats };
}
