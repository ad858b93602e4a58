import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { trackLeftover } from './process.js';

/**
 * The private Docker engine of the test run: Debian's dockerd (package docker.io, installed by
 * scripts/install-deps.sh) with its own socket, pid file, exec root and data root, started by
 * the integration projects' global setup (testEngine.ts) and stopped by its pid at the end.
 * The test services (Redis, NATS, Postgres through testcontainers) and the Docker tests all use
 * it; a test file run without the global setup starts its own (startDockerEngine).
 *
 * It never listens on /var/run/docker.sock, so it cannot meet a system engine or its clients.
 * The default bridge (docker0) is not created (--bridge=none), so it cannot clash with another
 * daemon's: service containers use host networking, a Docker test creates its own network.
 *
 * Images: nothing can be pulled, so the base `local/debian:bookworm` is made by debootstrap
 * (minbase, from the mirror apt already uses) when absent; the service images (Debian's
 * packages) and the stand-in image are built on it with the classic builder. The data root
 * survives between runs on one machine, so later runs reuse the images; nothing depends on it.
 */

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DOCKER_TEST_DIR = process.env.SBC_TEST_DOCKER_DIR ?? '/run/sbc-test-docker';
export const DOCKER_TEST_DATA_ROOT = process.env.SBC_TEST_DOCKER_DATA_ROOT ?? '/var/lib/sbc-test-docker';
export const BASE_IMAGE = 'local/debian:bookworm';
export const STANDIN_IMAGE = 'local/sbc-standin:test';
/**
 * Set (to the engine's socket) by the integration projects' global setup when it runs the
 * engine path (test/support/testEngine.ts): test files then use that one engine, and
 * startDockerEngine hands it out instead of starting another.
 */
export const SHARED_ENGINE_ENV = 'SBC_TEST_ENGINE_SOCKET';
const DOCKERD = '/usr/sbin/dockerd';
/** The 20.10 client of docker.io: a newer `docker` may stand first in PATH (it would want buildx). */
const DOCKER_CLI = '/usr/bin/docker';
const DEBOOTSTRAP = '/usr/sbin/debootstrap';

/** Why this machine cannot run a private engine (the test skips with it), or undefined. */
export function dockerEngineUnavailable(): string | undefined {
  for (const [bin, pkg] of [[DOCKERD, 'docker.io'], [DOCKER_CLI, 'docker.io'], [DEBOOTSTRAP, 'debootstrap']] as const) {
    if (!existsSync(bin)) return `${bin} is missing (package ${pkg}; scripts/install-deps.sh installs it)`;
  }
  if (process.getuid?.() !== 0) return 'dockerd and debootstrap need root';
  return undefined;
}

export interface DockerEngine {
  readonly socketPath: string;
  /** unix://<socketPath>: DOCKER_HOST for the docker CLI. */
  readonly dockerHost: string;
  /** Runs the docker CLI (20.10) against this engine; resolves its stdout; bounded. */
  docker(args: readonly string[], timeoutMs?: number): Promise<string>;
  /** The tail of dockerd's log. */
  log(): string;
  /** SIGTERM to dockerd (by pid), SIGKILL after 20 s; resolves once it has exited. */
  stop(): Promise<void>;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly timeoutMs: number;
  /** What the command is for, in errors and in the leftover list. */
  readonly what: string;
}

/** Runs a command to its end, bounded by timeoutMs (then SIGKILL to its process group). */
function run(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout = (stdout + b.toString()).slice(-200_000)));
    child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-50_000)));
    const untrack = trackLeftover(`${opts.what} (${cmd})`, () => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      reject(new Error(`${opts.what}: no end within ${opts.timeoutMs} ms: ${cmd} ${args.join(' ')}\n${stderr.slice(-4000)}`));
    }, opts.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      untrack();
      reject(new Error(`${opts.what}: ${cmd}: ${err.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      untrack();
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** As run(), resolving stdout; a non-zero exit rejects with the end of its output. */
export async function mustRun(cmd: string, args: readonly string[], opts: RunOptions): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${opts.what} failed (exit ${r.code}): ${cmd} ${args.join(' ')}\n${(r.stderr || r.stdout).slice(-4000)}`);
  return r.stdout;
}

export interface EngineAnswer {
  status: number;
  /** The body parsed as JSON; the text where it is not JSON (`_ping`); undefined when empty. */
  json: unknown;
}

/** One Engine API request (API v1.41, docker.io 20.10) over the unix socket, bounded by `timeoutMs`. */
export function engineRequest(socketPath: string, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<EngineAnswer> {
  return new Promise((resolvePromise, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { socketPath, method, path: `/v1.41${path}`, headers: payload === undefined ? {} : { 'content-type': 'application/json' }, signal: AbortSignal.timeout(timeoutMs) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = text === '' ? undefined : text;
          try {
            if (text !== '') json = JSON.parse(text);
          } catch {
            // not JSON: kept as text
          }
          resolvePromise({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** engineRequest that rejects unless the engine answered 2xx; resolves the parsed body. */
export async function engineOk(socketPath: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const answer = await engineRequest(socketPath, method, path, body);
  if (answer.status < 200 || answer.status > 299) throw new Error(`${method} ${path}: HTTP ${answer.status}: ${JSON.stringify(answer.json)}`);
  return answer.json;
}

async function ping(socketPath: string): Promise<boolean> {
  try {
    return (await engineRequest(socketPath, 'GET', '/_ping', undefined, 1000)).status === 200;
  } catch {
    return false;
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await sleep(100);
  }
  return !alive(pid);
}

/** A dockerd left by an earlier run of this harness (same pid file): stopped, so this run starts its own. */
async function stopLeftover(pidFile: string): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1 || !alive(pid)) return;
  let comm: string;
  try {
    comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return;
  }
  if (comm !== 'dockerd') return;
  process.stderr.write(`[docker] stopping dockerd ${pid} left by an earlier run (${pidFile})\n`);
  process.kill(pid, 'SIGTERM');
  if (!(await waitGone(pid, 20_000))) {
    process.kill(pid, 'SIGKILL');
    await waitGone(pid, 5000);
  }
}

/** Starts a private dockerd and waits (bounded) until it answers _ping. */
export async function startDockerEngine(opts: { startTimeoutMs?: number } = {}): Promise<DockerEngine> {
  const shared = process.env[SHARED_ENGINE_ENV];
  if (shared) {
    if (!(await ping(shared))) throw new Error(`the test run's engine (${SHARED_ENGINE_ENV}=${shared}) does not answer _ping`);
    // The run's global setup stops it; this handle's stop() leaves it running.
    return engineHandle(shared, () => readLog(join(dirname(shared), 'dockerd.log')), async () => {});
  }
  const dir = DOCKER_TEST_DIR;
  const socketPath = join(dir, 'docker.sock');
  const pidFile = join(dir, 'dockerd.pid');
  const logFile = join(dir, 'dockerd.log');
  mkdirSync(dir, { recursive: true });
  mkdirSync(DOCKER_TEST_DATA_ROOT, { recursive: true });
  await stopLeftover(pidFile);
  for (const f of [socketPath, pidFile]) if (existsSync(f)) unlinkSync(f);

  const logFd = openSync(logFile, 'w');
  const args = [
    '-H', `unix://${socketPath}`,
    '--pidfile', pidFile,
    '--exec-root', join(dir, 'exec'),
    '--data-root', DOCKER_TEST_DATA_ROOT,
    '--storage-driver=overlay2',
    '--bridge=none',
  ];
  // detached: its own session (setsid), so a terminal's Ctrl-C reaches the test, which stops it in order.
  const child = spawn(DOCKERD, args, { stdio: ['ignore', logFd, logFd], detached: true });
  closeSync(logFd);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.once('error', () => undefined);
  const untrack = trackLeftover('private dockerd', async () => {
    if (child.exitCode === null && child.pid !== undefined) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const log = () => readLog(logFile);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      // The grace timer is cancelled once dockerd exits: a pending timer would hold the process.
      const grace = new AbortController();
      const done = await Promise.race([exited.then(() => true), sleep(20_000, undefined, { signal: grace.signal }).then(() => false, () => true)]);
      grace.abort();
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    untrack();
  };

  const bound = opts.startTimeoutMs ?? 30_000;
  const deadline = Date.now() + bound;
  while (!(await ping(socketPath))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      untrack();
      throw new Error(`dockerd exited (${child.exitCode ?? child.signalCode}) before it answered on ${socketPath}:\n${log()}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`dockerd did not answer _ping on ${socketPath} within ${bound} ms:\n${log()}`);
    }
    await sleep(100);
  }

  return engineHandle(socketPath, log, stop);
}

function readLog(logFile: string): string {
  try {
    return readFileSync(logFile, 'utf8').slice(-6000);
  } catch {
    return '';
  }
}

function engineHandle(socketPath: string, log: () => string, stop: () => Promise<void>): DockerEngine {
  const dockerHost = `unix://${socketPath}`;
  const env = { ...process.env, DOCKER_HOST: dockerHost, DOCKER_BUILDKIT: '0' };
  return {
    socketPath,
    dockerHost,
    docker: (a, timeoutMs = 60_000) => mustRun(DOCKER_CLI, a, { env, timeoutMs, what: `docker ${a[0] ?? ''}` }),
    log,
    stop,
  };
}

async function imageExists(engine: DockerEngine, image: string): Promise<boolean> {
  try {
    await engine.docker(['image', 'inspect', '--format', '{{.Id}}', image], 15_000);
    return true;
  } catch {
    return false;
  }
}

/** The Debian mirror apt already uses (deb822 .sources or one-line .list), else deb.debian.org. */
export function debianMirror(): string {
  const d = '/etc/apt/sources.list.d';
  const files: string[] = [];
  try {
    for (const f of readdirSync(d).sort()) if (f.endsWith('.sources') || f.endsWith('.list')) files.push(join(d, f));
  } catch {
    /* none */
  }
  files.push('/etc/apt/sources.list');
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    // deb822 stanzas: the URIs of one whose Suites include bookworm (not bookworm-security).
    for (const stanza of text.split(/\n\s*\n/)) {
      const uris = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      const types = /^Types:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? ['deb'];
      if (uris && suites.includes('bookworm') && types.includes('deb')) return uris;
    }
    const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(text);
    if (line?.[1]) return line[1];
  }
  return 'http://deb.debian.org/debian';
}

/**
 * `local/debian:bookworm` when absent: debootstrap minbase from the mirror apt uses, apt's
 * caches removed, imported as one layer. Resolves what it did and how long it took.
 */
export async function ensureBaseImage(engine: DockerEngine, timeoutMs = 400_000): Promise<string> {
  if (await imageExists(engine, BASE_IMAGE)) return `${BASE_IMAGE} present`;
  const started = Date.now();
  const mirror = debianMirror();
  // On disk, not tmpfs: the root file system is ~120 MB.
  const rootfs = mkdtempSync(join('/var/tmp', 'sbc-debootstrap-'));
  const untrack = trackLeftover(`debootstrap root ${rootfs}`, () => rmSync(rootfs, { recursive: true, force: true }));
  try {
    await mustRun(DEBOOTSTRAP, ['--variant=minbase', 'bookworm', rootfs, mirror], { timeoutMs, what: `debootstrap bookworm from ${mirror}` });
    rmSync(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
    mkdirSync(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
    rmSync(join(rootfs, 'var/lib/apt/lists'), { recursive: true, force: true });
    mkdirSync(join(rootfs, 'var/lib/apt/lists/partial'), { recursive: true });
    const bootstrapped = Date.now();
    await mustRun('bash', ['-c', 'set -o pipefail; tar -C "$1" -c . | "$2" import --change \'CMD ["bash"]\' - "$3"', 'import', rootfs, DOCKER_CLI, BASE_IMAGE], {
      env: { ...process.env, DOCKER_HOST: engine.dockerHost },
      timeoutMs: 120_000,
      what: `docker import ${BASE_IMAGE}`,
    });
    return `${BASE_IMAGE} made: debootstrap ${bootstrapped - started} ms, import ${Date.now() - bootstrapped} ms`;
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
    untrack();
  }
}

/**
 * Builds the stand-in image (test/docker/standin.Dockerfile) on `baseImage`: a context
 * assembled in a temp dir from the host's Node binary, esbuild bundles of the agent and the
 * stand-in CLI (so no node_modules in the image), the stand-in's templates, the entrypoint and
 * the media node's supervisor it runs (docker/freeswitch-node.sh).
 * The classic builder caches the layers: an unchanged context rebuilds in about a second.
 */
export async function buildStandinImage(engine: DockerEngine, opts: { tag?: string; baseImage?: string; timeoutMs?: number } = {}): Promise<string> {
  const tag = opts.tag ?? STANDIN_IMAGE;
  const ctx = mkdtempSync(join(tmpdir(), 'sbc-standin-image-'));
  const untrack = trackLeftover(`image context ${ctx}`, () => rmSync(ctx, { recursive: true, force: true }));
  try {
    const app = join(ctx, 'app');
    mkdirSync(app);
    copyFileSync(process.execPath, join(ctx, 'node'));
    chmodSync(join(ctx, 'node'), 0o755);
    const { build } = await import('esbuild');
    await build({
      absWorkingDir: REPO_ROOT,
      entryPoints: { agent: 'src/agent/main.ts', standin: 'test/standin/cli.ts' },
      outdir: app,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      // CommonJS dependencies bundled into ESM still call require().
      banner: { js: "import { createRequire as __sbcCreateRequire } from 'node:module'; const require = __sbcCreateRequire(import.meta.url);" },
      logLevel: 'error',
    });
    // templates.ts reads ./templates/<name> next to itself: next to the bundle.
    cpSync(join(REPO_ROOT, 'test/standin/templates'), join(app, 'templates'), { recursive: true });
    copyFileSync(join(REPO_ROOT, 'test/docker/standin-entrypoint.sh'), join(app, 'entrypoint.sh'));
    chmodSync(join(app, 'entrypoint.sh'), 0o755);
    // The entrypoint runs both under the media node's own supervisor.
    copyFileSync(join(REPO_ROOT, 'docker/freeswitch-node.sh'), join(app, 'freeswitch-node.sh'));
    chmodSync(join(app, 'freeswitch-node.sh'), 0o755);
    copyFileSync(join(REPO_ROOT, 'test/docker/standin.Dockerfile'), join(ctx, 'Dockerfile'));
    await engine.docker(['build', '-q', '--build-arg', `BASE_IMAGE=${opts.baseImage ?? BASE_IMAGE}`, '--label', 'sbc.test.image=standin', '-t', tag, ctx], opts.timeoutMs ?? 180_000);
    return tag;
  } finally {
    rmSync(ctx, { recursive: true, force: true });
    untrack();
  }
}

/** The test services' images: Debian's own packages on the local base (test/docker/). */
export const SERVICE_IMAGES = {
  redis: 'local/sbc-redis:test',
  nats: 'local/sbc-nats:test',
  postgres: 'local/sbc-postgres:test',
} as const;

/**
 * Builds the Redis, NATS and Postgres images of SERVICE_IMAGES on the local base, from
 * test/docker/ (Debian's redis-server, nats-server and postgresql-15: what the local-binary
 * path runs). `--network host`: the engine has no bridge, and apt reaches the mirror the host
 * uses. The classic builder's cache makes an unchanged rebuild take about a second.
 */
export async function buildServiceImages(engine: DockerEngine, opts: { baseImage?: string; timeoutMs?: number } = {}): Promise<void> {
  const dir = join(REPO_ROOT, 'test/docker');
  const base = `BASE_IMAGE=${opts.baseImage ?? BASE_IMAGE}`;
  const build = (file: string, tag: string, args: string[] = []) =>
    engine.docker(['build', '-q', '--network', 'host', '-f', join(dir, file), '--build-arg', base, ...args, '--label', 'sbc.test.image=service', '-t', tag, dir], opts.timeoutMs ?? 300_000);
  await build('debian-service.Dockerfile', SERVICE_IMAGES.redis, ['--build-arg', 'PACKAGES=redis-server']);
  await build('debian-service.Dockerfile', SERVICE_IMAGES.nats, ['--build-arg', 'PACKAGES=nats-server']);
  await build('postgres.Dockerfile', SERVICE_IMAGES.postgres);
}
