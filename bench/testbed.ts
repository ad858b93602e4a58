import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import pino from 'pino';
import { loadControlPlaneConfig, type ControlPlaneConfig } from '../src/config/controlPlane.js';
import { startControlPlane, type ControlPlane } from '../src/controlPlane.js';
import { subjects, type Subjects } from '../src/events/subjects.js';
import { migrate } from '../src/postgres/migrations.js';
import { startKamailio, type KamailioInstance } from '../test/support/kamailio.js';
import { createPostgresDatabase, startNats, startRedis } from '../test/support/services.js';
import { parsePromText, type PromSample } from './promText.js';
import { within, type Cleanup } from './run.js';
import { RoutingObserver } from './routing.js';

/** Private services on loopback, started with the test harnesses; all stopped by cleanup. */
export interface Services {
  readonly natsUrl: string;
  readonly redisUrl: string;
  readonly pgUrl: string;
  readonly kamailio: KamailioInstance;
  readonly reloadDeltaMs: number;
  /** The bench's own NATS connection: the simulated agents publish on it. */
  readonly agentBus: NatsConnection;
  readonly subjects: Subjects;
  readonly setIds: readonly number[];
  readonly observer: RoutingObserver;
}

/** SBC_RELOAD_DELTA_MS may be given to the bench; Kamailio's window (whole seconds) is kept at or below it. */
export function benchReloadDeltaMs(): number {
  const v = Number(process.env.SBC_RELOAD_DELTA_MS ?? 1000);
  if (!Number.isInteger(v) || v < 0) throw new Error(`SBC_RELOAD_DELTA_MS must be a non-negative integer, got ${process.env.SBC_RELOAD_DELTA_MS}`);
  return v;
}

/** The control plane's defaults (set ids, subject prefix): the benches never change them. */
const defaultConfig = () => loadControlPlaneConfig({});

/** One stderr line per private service, so an operator (or a test) sees what to look for. */
function started(what: string, detail: string): void {
  process.stderr.write(`[bench] started ${what}: ${detail}\n`);
}

export async function startServices(cleanup: Cleanup): Promise<Services> {
  // Local processes only: a container's port mapping would add its own latency to the figures.
  process.env.TEST_NO_DOCKER ??= '1';
  const reloadDeltaMs = benchReloadDeltaMs();
  const defaults = defaultConfig();
  const setIds = defaults.policy.sets.map((p) => p.setId);

  // Own process groups: a Ctrl-C in the terminal reaches only the bench, which stops them in order.
  const nats = await startNats({ ownProcessGroup: true });
  cleanup.push('nats-server', () => nats.stop());
  started('nats-server', nats.url);
  const redis = await startRedis({ ownProcessGroup: true });
  cleanup.push('redis-server', () => redis.stop());
  started('redis-server', redis.url);
  const db = await createPostgresDatabase();
  cleanup.push('postgres database', () => db.stop());
  started('postgres database', new URL(db.url).pathname.slice(1));

  // Kamailio reads the dispatcher table at start-up: the schema has to exist first.
  const pool = new pg.Pool({ connectionString: db.url, max: 1, connectionTimeoutMillis: 5000 });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }

  const kamailio = await startKamailio({
    dbUrl: db.url,
    // Kamailio counts reload_delta in whole wall-clock seconds; keep it within the pacing.
    env: { SBC_DS_RELOAD_DELTA: String(Math.floor(reloadDeltaMs / 1000)) },
  });
  cleanup.push('kamailio', () => kamailio.stop());
  started('kamailio', `pid ${kamailio.pid ?? '?'}, rpc ${kamailio.rpcUrl}, runtime dir ${kamailio.runtimeDir}`);

  const agentBus = await connect({ servers: nats.url, name: 'bench-simulated-agents', timeout: 5000 });
  cleanup.push('bench NATS connection', () => agentBus.drain());

  return {
    natsUrl: nats.url,
    redisUrl: redis.url,
    pgUrl: db.url,
    kamailio,
    reloadDeltaMs,
    agentBus,
    subjects: subjects(defaults.SBC_NATS_PREFIX),
    setIds,
    observer: new RoutingObserver(kamailio.rpcUrl, setIds),
  };
}

/** The env a control plane gets in the benches, in-process or as its own process. */
export function controlPlaneEnv(s: Services, name: string): Record<string, string> {
  return {
    SBC_NATS_URL: s.natsUrl,
    SBC_REDIS_URL: s.redisUrl,
    SBC_PG_URL: s.pgUrl,
    SBC_KAMAILIO_RPC_URLS: s.kamailio.rpcUrl,
    SBC_RELOAD_DELTA_MS: String(s.reloadDeltaMs),
    SBC_INSTANCE_ID: `bench-${name}`,
    SBC_HTTP_HOST: '127.0.0.1',
    SBC_HTTP_PORT: '0',
    // Benches drive the API without tokens; bench/api-auth.ts measures the token check.
    SBC_API_AUTH: 'off',
  };
}

export function benchLogPath(name: string): string {
  const dir = join(tmpdir(), 'sbc-bench-logs');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
}

export interface InProcessControlPlane {
  readonly cp: ControlPlane;
  readonly config: ControlPlaneConfig;
  readonly logPath: string;
  /** The control plane's metrics, parsed from its registry's text exposition. */
  readonly metrics: () => Promise<PromSample[]>;
}

/** startControlPlane() in this process, logging at info (its default) to a file. */
export async function startInProcessControlPlane(cleanup: Cleanup, s: Services, name: string): Promise<InProcessControlPlane> {
  const config = loadControlPlaneConfig(controlPlaneEnv(s, name));
  const logPath = benchLogPath(name);
  const dest = pino.destination({ dest: logPath, sync: false });
  cleanup.push('control plane log', () => new Promise<void>((resolve) => dest.flush(() => resolve())));
  const logger = pino({ level: config.SBC_LOG_LEVEL, base: { service: 'sbc-control-plane', instance: config.SBC_INSTANCE_ID } }, dest);
  const cp = await startControlPlane(config, logger);
  cleanup.push('control plane', () => cp.stop());
  await within('the first successful reconcile pass', 15_000, cp.reconciler.nextPass());
  return {
    cp,
    config,
    logPath,
    metrics: async () => parsePromText(await cp.metrics.registry.metrics()),
  };
}

/** Row counts per set id in Kamailio's dispatcher table. */
export async function dispatcherRowCounts(pgUrl: string): Promise<Map<number, number>> {
  const c = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 5000, statement_timeout: 10_000 });
  await c.connect();
  try {
    const res = await c.query<{ setid: number; n: string }>('SELECT setid, count(*) AS n FROM dispatcher GROUP BY setid');
    return new Map(res.rows.map((r) => [r.setid, Number(r.n)]));
  } finally {
    await c.end();
  }
}
