import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE_IMAGE, SERVICE_IMAGES, STANDIN_IMAGE, engineOk, mustRun, type DockerEngine } from './dockerEngine.js';
import { freePort } from './ports.js';
import { trackLeftover } from './process.js';

/**
 * The compose cluster (compose/docker-compose.yml) on the test run's private engine, the way a
 * user starts it, with Debian's docker-compose 1.29 (v1) and the test override
 * test/docker/compose.test.yml. Nothing is pulled:
 * - the project's images are built from docker/ on the local base and tagged with the names the
 *   compose file uses (elastic-sbc/<name>:compose-test, SBC_IMAGE_TAG), so `up --no-build`
 *   starts exactly them. The node image is docker/node.Dockerfile with APP_STAGE=context: an
 *   /app made on this host (`tsc` of src/, `npm ci --omit=dev --offline` from npm's cache), on a
 *   NODE_IMAGE holding this host's Node binary (test/docker/nodejs.Dockerfile), since no image
 *   build can reach the npm registry here. BuildKit (docker 20.10's, `DOCKER_BUILDKIT=1`) skips
 *   the unused npm stage, which the classic builder would run; `--network host`, because the
 *   engine has no bridge for RUN steps.
 * - FREESWITCH_IMAGE is the stand-in image; Redis, NATS and Postgres are the run's Debian images.
 */

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DOCKER_CLI = '/usr/bin/docker';
export const COMPOSE_BIN = '/usr/bin/docker-compose';
export const COMPOSE_IMAGE_TAG = 'compose-test';
const NODEJS_IMAGE = 'local/sbc-nodejs:test';
export const clusterImage = (name: 'node' | 'kamailio' | 'freeswitch-node' | 'prometheus') => `elastic-sbc/${name}:${COMPOSE_IMAGE_TAG}`;

/** Runs a program to its end, bounded, from the repository root unless told; rejects with the end of its output when it fails. */
const runBounded = (cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number }) =>
  mustRun(cmd, args, { ...opts, cwd: opts.cwd ?? REPO_ROOT, what: `${cmd.split('/').pop() ?? cmd} ${args[0] ?? ''}` });

/** The host's /app for APP_STAGE=context: package.json, dist/ (tsc of src/), production node_modules. */
async function appContext(dir: string): Promise<void> {
  const app = join(dir, 'app');
  mkdirSync(app, { recursive: true });
  for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(REPO_ROOT, f), join(app, f));
  // The context stage copies `package.json app*`: package.json must sit at the context's root too.
  copyFileSync(join(REPO_ROOT, 'package.json'), join(dir, 'package.json'));
  await runBounded(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json', '--outDir', join(app, 'dist')], { timeoutMs: 180_000 });
  const npm = ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'];
  // npm's cache holds every package after the checkout's own `npm ci`; online only if it does not.
  await runBounded('npm', [...npm, '--offline'], { cwd: app, timeoutMs: 180_000 }).catch(() => runBounded('npm', [...npm, '--prefer-offline'], { cwd: app, timeoutMs: 300_000 }));
}

/**
 * Builds the cluster's images on the local base; resolves how long each took (ms). Needs
 * BASE_IMAGE, the service images and the stand-in image (testEngine.ts, dockerEngine.ts).
 */
export async function buildClusterImages(engine: DockerEngine): Promise<Record<string, number>> {
  const timings: Record<string, number> = {};
  const dir = mkdtempSync(join(tmpdir(), 'sbc-compose-images-'));
  const untrack = trackLeftover(`image context ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, DOCKER_HOST: engine.dockerHost, DOCKER_BUILDKIT: '1' };
  const build = async (what: string, args: string[], context: string) => {
    const t = Date.now();
    await runBounded(DOCKER_CLI, ['build', '-q', '--network', 'host', '--label', 'sbc.test.image=compose', ...args, context], { env, timeoutMs: 400_000 });
    timings[what] = Date.now() - t;
  };
  try {
    const nodeCtx = join(dir, 'nodejs');
    mkdirSync(nodeCtx);
    copyFileSync(process.execPath, join(nodeCtx, 'node'));
    await build('nodejs', ['-f', join(REPO_ROOT, 'test/docker/nodejs.Dockerfile'), '--build-arg', `BASE_IMAGE=${BASE_IMAGE}`, '-t', NODEJS_IMAGE], nodeCtx);
    const t = Date.now();
    const appCtx = join(dir, 'app-context');
    await appContext(appCtx);
    timings.appBuild = Date.now() - t;
    await build('node', ['-f', join(REPO_ROOT, 'docker/node.Dockerfile'), '--build-arg', `NODE_IMAGE=${NODEJS_IMAGE}`, '--build-arg', 'APP_STAGE=context', '-t', clusterImage('node')], appCtx);
    await build('kamailio', ['-f', 'docker/kamailio.Dockerfile', '--build-arg', `BASE_IMAGE=${BASE_IMAGE}`, '-t', clusterImage('kamailio')], REPO_ROOT);
    await build('prometheus', ['-f', 'docker/prometheus.Dockerfile', '--build-arg', `BASE_IMAGE=${BASE_IMAGE}`, '-t', clusterImage('prometheus')], REPO_ROOT);
    await build('freeswitch', [
      '-f', 'docker/freeswitch.Dockerfile',
      '--build-arg', `FREESWITCH_IMAGE=${STANDIN_IMAGE}`,
      '--build-arg', `APP_IMAGE=${clusterImage('node')}`,
      '-t', clusterImage('freeswitch-node'),
    ], REPO_ROOT);
    return timings;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    untrack();
  }
}

export interface ComposeCluster {
  readonly project: string;
  /** The bootstrap admin token (compose/.env's SBC_API_BOOTSTRAP_TOKEN). */
  readonly token: string;
  /** http://127.0.0.1:<port> of control-plane-1 and -2. */
  readonly apiUrls: readonly [string, string];
  /** 127.0.0.1:<port> of kamailio-1 and -2 (SIP, UDP and TCP). */
  readonly sipTargets: readonly [string, string];
  /** docker-compose -p <project> -f compose/docker-compose.yml -f test/docker/compose.test.yml ...; resolves stdout. */
  compose(args: readonly string[], timeoutMs?: number): Promise<string>;
  /** `down -v --remove-orphans`, then the env file goes; safe to call twice. */
  down(): Promise<void>;
}

/** The env file of the test project: what compose/.env.example asks, for the test's images and free ports. */
async function writeEnvFile(file: string, project: string, engine: DockerEngine, token: string): Promise<{ api: [number, number]; sip: [number, number] }> {
  const [api1, api2, sip1, sip2] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const lines = {
    COMPOSE_PROJECT_NAME: project,
    SBC_API_BOOTSTRAP_TOKEN: token,
    SBC_FS_ESL_PASSWORD: `esl${project}`,
    SBC_PG_PASSWORD: 'unused-by-the-test-image',
    FREESWITCH_IMAGE: STANDIN_IMAGE,
    SBC_IMAGE_TAG: COMPOSE_IMAGE_TAG,
    NODE_IMAGE: NODEJS_IMAGE,
    DEBIAN_IMAGE: BASE_IMAGE,
    NATS_IMAGE: SERVICE_IMAGES.nats,
    REDIS_IMAGE: SERVICE_IMAGES.redis,
    POSTGRES_IMAGE: SERVICE_IMAGES.postgres,
    SBC_SIP_BIND: '127.0.0.1',
    SBC_SIP_PORT: String(sip1),
    SBC_SIP_PORT_2: String(sip2),
    SBC_API_PORT: String(api1),
    SBC_API_PORT_2: String(api2),
    DOCKER_SOCKET: engine.socketPath,
    DOCKER_GID: String(statSync(engine.socketPath).gid),
  };
  writeFileSync(file, `${Object.entries(lines).map(([k, v]) => `${k}=${v}`).join('\n')}\n`, { mode: 0o600 });
  return { api: [api1, api2], sip: [sip1, sip2] };
}

/** Writes the project's env file and resolves a handle; `up` is the caller's (compose(['up', ...])). */
export async function composeCluster(engine: DockerEngine, project: string, token: string): Promise<ComposeCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'sbc-compose-'));
  const envFile = join(dir, 'env');
  const ports = await writeEnvFile(envFile, project, engine, token);
  const env = { ...process.env, DOCKER_HOST: engine.dockerHost, COMPOSE_PROJECT_NAME: project };
  const compose = (args: readonly string[], timeoutMs = 300_000) =>
    runBounded(COMPOSE_BIN, ['-p', project, '--env-file', envFile, '-f', 'compose/docker-compose.yml', '-f', 'test/docker/compose.test.yml', ...args], { env, timeoutMs });
  let downDone = false;
  const down = async () => {
    if (downDone) return;
    await compose(['down', '-v', '--remove-orphans', '-t', '5'], 180_000);
    downDone = true;
    rmSync(dir, { recursive: true, force: true });
    untrack();
  };
  const untrack = trackLeftover(`compose project ${project}`, () => down());
  return {
    project,
    token,
    apiUrls: [`http://127.0.0.1:${ports.api[0]}`, `http://127.0.0.1:${ports.api[1]}`],
    sipTargets: [`127.0.0.1:${ports.sip[0]}`, `127.0.0.1:${ports.sip[1]}`],
    compose,
    down,
  };
}

export interface ProjectObjects {
  containers: string[];
  networks: string[];
  volumes: string[];
}

/** Every container, network and volume the engine holds with the project's compose label. */
export async function projectObjects(engine: DockerEngine, project: string): Promise<ProjectObjects> {
  const f = encodeURIComponent(JSON.stringify({ label: [`com.docker.compose.project=${project}`] }));
  const containers = (await engineOk(engine.socketPath, 'GET', `/containers/json?all=true&filters=${f}`)) as { Names: string[] }[];
  const networks = (await engineOk(engine.socketPath, 'GET', `/networks?filters=${f}`)) as { Name: string }[];
  const volumes = (await engineOk(engine.socketPath, 'GET', `/volumes?filters=${f}`)) as { Volumes: { Name: string }[] | null };
  return {
    containers: containers.map((c) => (c.Names[0] ?? '').replace(/^\//, '')).sort(),
    networks: networks.map((n) => n.Name).sort(),
    volumes: (volumes.Volumes ?? []).map((v) => v.Name).sort(),
  };
}

/** The running containers of one service: name -> address on the project's network. */
export async function serviceAddresses(engine: DockerEngine, project: string, service: string): Promise<Record<string, string>> {
  const f = encodeURIComponent(JSON.stringify({ label: [`com.docker.compose.project=${project}`, `com.docker.compose.service=${service}`], status: ['running'] }));
  const list = (await engineOk(engine.socketPath, 'GET', `/containers/json?filters=${f}`)) as { Names: string[]; NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }[];
  return Object.fromEntries(list.map((c) => [(c.Names[0] ?? '').replace(/^\//, ''), c.NetworkSettings.Networks[`${project}_default`]?.IPAddress ?? '']));
}
