import { SERVICE_CONTAINER_LABEL, postgresContainer, type ServiceContainer } from './serviceContainers.js';
import { SHARED_ENGINE_ENV, buildServiceImages, dockerEngineUnavailable, engineOk, engineRequest, ensureBaseImage, startDockerEngine, type DockerEngine } from './dockerEngine.js';

/**
 * Global setup of the integration projects (vitest.config.ts): chooses the run's service path
 * once. Where a private Docker engine can run (root, docker.io, debootstrap: what
 * scripts/install-deps.sh gives a fresh machine, so CI takes this path) it starts one
 * (test/support/dockerEngine.ts), builds the service images on the debootstrap base, starts the
 * run's Postgres container, and tells the test processes through their environment:
 * SBC_TEST_ENGINE_SOCKET, DOCKER_HOST (testcontainers finds the engine there),
 * TESTCONTAINERS_RYUK_DISABLED (ryuk would be pulled), TESTCONTAINERS_HOST_OVERRIDE and
 * TEST_PG_URL. Otherwise, or with TEST_NO_DOCKER=1, the tests run local binaries
 * (test/support/services.ts). An engine that should run and does not fails the run: CI must
 * not pass on the other path by accident.
 *
 * Both integration projects name this file; vitest runs each project's global setup, so the
 * engine is started once (a process-wide promise) and stopped by the last teardown.
 */

interface Started {
  stop(): Promise<void>;
}

const KEY = Symbol.for('sbc.test.engine');
interface Shared {
  users: number;
  ready: Promise<Started | undefined>;
}
const holder = globalThis as { [KEY]?: Shared };

const say = (line: string) => process.stderr.write(`[test services] ${line}\n`);

async function removeLeftoverServices(engine: DockerEngine): Promise<number> {
  const filters = encodeURIComponent(JSON.stringify({ label: [SERVICE_CONTAINER_LABEL] }));
  const left = (await engineOk(engine.socketPath, 'GET', `/containers/json?all=true&filters=${filters}`)) as { Id: string }[];
  for (const c of left) await engineRequest(engine.socketPath, 'DELETE', `/containers/${c.Id}?force=true&v=true`);
  return left.length;
}

async function start(): Promise<Started | undefined> {
  if (process.env.TEST_NO_DOCKER === '1') {
    say('local binaries (TEST_NO_DOCKER=1)');
    return undefined;
  }
  const reason = dockerEngineUnavailable();
  if (reason) {
    say(`local binaries: no private engine here (${reason})`);
    return undefined;
  }
  const t0 = Date.now();
  const engine = await startDockerEngine();
  let postgres: ServiceContainer | undefined;
  try {
    const t1 = Date.now();
    const leftovers = await removeLeftoverServices(engine);
    const base = await ensureBaseImage(engine);
    const t2 = Date.now();
    await buildServiceImages(engine);
    const t3 = Date.now();
    process.env[SHARED_ENGINE_ENV] = engine.socketPath;
    process.env.DOCKER_HOST = engine.dockerHost;
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
    process.env.TESTCONTAINERS_HOST_OVERRIDE = '127.0.0.1';
    const ownPostgres = process.env.TEST_PG_URL === undefined;
    if (ownPostgres) {
      postgres = await postgresContainer();
      process.env.TEST_PG_URL = `postgres://postgres@127.0.0.1:${postgres.port}/postgres`;
    }
    say(
      `engine path: dockerd ${t1 - t0} ms; ${base} (${t2 - t1} ms${leftovers ? `, ${leftovers} leftover containers removed` : ''}); ` +
        `redis, nats, postgres images ${t3 - t2} ms; ${ownPostgres ? `postgres container on ${process.env.TEST_PG_URL} in ${Date.now() - t3} ms` : `TEST_PG_URL kept (${process.env.TEST_PG_URL})`}`,
    );
  } catch (err) {
    await postgres?.stop().catch(() => undefined);
    await engine.stop();
    throw err;
  }
  return {
    async stop() {
      await postgres?.stop().catch((err: unknown) => say(`postgres container not removed: ${(err as Error).message}`));
      const left = await removeLeftoverServices(engine).catch(() => 0);
      if (left > 0) say(`${left} service containers were still there at the end and are removed`);
      await engine.stop();
    },
  };
}

export default async function setup(): Promise<() => Promise<void>> {
  const shared = (holder[KEY] ??= { users: 0, ready: start() });
  shared.users++;
  try {
    await shared.ready;
  } catch (err) {
    shared.users--;
    throw err;
  }
  return async () => {
    if (--shared.users > 0) return;
    delete holder[KEY];
    await (await shared.ready)?.stop();
  };
}
