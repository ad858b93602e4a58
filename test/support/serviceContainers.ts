import pg from 'pg';
import { SERVICE_IMAGES, SHARED_ENGINE_ENV, engineOk } from './dockerEngine.js';
import { freePort } from './ports.js';
import { waitFor } from './process.js';

/**
 * The engine path of the test services: Redis, NATS and Postgres started by testcontainers
 * from the images the global setup built (test/support/testEngine.ts: Debian's own packages on
 * the local base, nothing pulled), on the run's private engine. Host networking: each server
 * listens on a free loopback port named in its command, so a restart keeps its address and
 * Kamailio, agents and control planes reach it as they reach a local process. Ryuk is off (it
 * would be pulled); every container carries the label below and is removed by its stop(), and
 * by the global setup's teardown if a test process died before.
 */

export const SERVICE_CONTAINER_LABEL = 'sbc.test.service';

/** The run's engine socket when the engine path is on (set by the global setup), else undefined. */
export function sharedEngineSocket(): string | undefined {
  if (process.env.TEST_NO_DOCKER === '1') return undefined;
  return process.env[SHARED_ENGINE_ENV] || undefined;
}

export interface ServiceContainer {
  readonly port: number;
  readonly id: string;
  /** SIGKILL to the server, as a crash; the container and its files stay. */
  kill(): Promise<void>;
  /** Starts the killed container again (same port, same files) and waits until it listens. */
  start(): Promise<void>;
  /** Stops and removes the container. */
  stop(): Promise<void>;
  /** The container's output, for failure messages. */
  logs(): Promise<string>;
}

type Ready = (port: number) => Promise<boolean>;

/** One container of `image` with host networking, `command(port)` on a free port; bounded wait for `ready`. */
export async function startServiceContainer(o: { image: string; what: string; command: (port: number) => string[]; ready: Ready; readyMs?: number }): Promise<ServiceContainer> {
  const socket = sharedEngineSocket();
  if (!socket) throw new Error('startServiceContainer: the engine path is off (no shared engine)');
  const { GenericContainer } = await import('testcontainers');
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const started = await new GenericContainer(o.image)
      .withNetworkMode('host')
      .withCommand(o.command(port))
      .withLabels({ [SERVICE_CONTAINER_LABEL]: o.what })
      .withSharedMemorySize(256 * 1024 * 1024)
      .withStartupTimeout(30_000)
      .start();
    const id = started.getId();
    const logs = async () => {
      const answer = await engineOk(socket, 'GET', `/containers/${id}/logs?stdout=true&stderr=true&tail=60`).catch((err: unknown) => `(logs unreadable: ${(err as Error).message})`);
      // The engine frames each line with an 8-byte header; the text is all a reader needs.
      return [...String(answer)].filter((ch) => ch >= ' ' || ch === '\n').join('');
    };
    const stop = async () => {
      await started.stop({ remove: true, removeVolumes: true, timeout: 5_000 });
    };
    const waitReady = () => waitFor(`${o.what} container listening on ${port}`, () => o.ready(port), o.readyMs ?? 15_000);
    try {
      await waitReady();
    } catch (err) {
      const out = await logs();
      await stop().catch(() => undefined);
      // Another process may have taken the free port before the server bound it: try another.
      if (attempt >= 2) throw new Error(`${o.what} container did not get ready: ${out}`, { cause: err });
      continue;
    }
    return {
      port,
      id,
      logs,
      stop,
      async kill() {
        await engineOk(socket, 'POST', `/containers/${id}/kill?signal=KILL`);
        await waitFor(`${o.what} container stopped after kill`, async () => !((await engineOk(socket, 'GET', `/containers/${id}/json`)) as { State: { Running: boolean } }).State.Running, 10_000);
      },
      async start() {
        await engineOk(socket, 'POST', `/containers/${id}/start`);
        await waitReady();
      },
    };
  }
}

export const redisContainer = (ready: Ready) =>
  startServiceContainer({ image: SERVICE_IMAGES.redis, what: 'redis', ready, command: (port) => ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'] });

export const natsContainer = (ready: Ready) =>
  startServiceContainer({ image: SERVICE_IMAGES.nats, what: 'nats', ready, command: (port) => ['nats-server', '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', '/data'] });

/** Postgres answers TCP before it accepts queries: ready once `SELECT 1` succeeds. */
async function postgresAnswers(port: number): Promise<boolean> {
  const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`, connectionTimeoutMillis: 1000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** The run's one Postgres server (tests each get a fresh database in it: createPostgresDatabase). */
export const postgresContainer = () =>
  startServiceContainer({ image: SERVICE_IMAGES.postgres, what: 'postgres', ready: postgresAnswers, readyMs: 30_000, command: (port) => ['-p', String(port)] });
