import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { isSelectable } from '../../src/core/kamailioView.js';
import { parseDispatcherList } from '../../src/kamailio/answers.js';
import { freePort } from './ports.js';
import { ShuttingDownError, refusingNewLeftovers, signalChild, trackLeftover, waitFor } from './process.js';

/**
 * A private Kamailio for integration tests: the real binary (Debian 5.6.3) with this
 * repo's kamailio/kamailio.cfg and lua/routing.lua, in the foreground, on free loopback
 * ports, with its own runtime dir and pid file, so several can run in parallel.
 */

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const KAMAILIO_BIN = process.env.TEST_KAMAILIO_BIN ?? '/usr/sbin/kamailio';
export const KAMAILIO_CFG = join(REPO_ROOT, 'kamailio', 'kamailio.cfg');
export const ROUTING_LUA = join(REPO_ROOT, 'lua', 'routing.lua');

export interface StartKamailioOptions {
  /** Postgres URL of the database holding Kamailio's `version` + `dispatcher` tables. */
  dbUrl: string;
  /** Extra SBC_* variables (they win over the harness defaults below). */
  env?: Record<string, string>;
  /** tm fr_timer: how long a silent destination is waited for before failover. Default 1000. */
  frTimerMs?: number;
  /** tm fr_inv_timer (after a provisional reply). Default 5000. */
  frInvTimerMs?: number;
  /** Bound for start-up (RPC answering). Default 15 s. */
  startTimeoutMs?: number;
}

/** A JSON-RPC error answered by Kamailio: `{"jsonrpc":"2.0","error":{"code":500,"message":"..."},"id":1}`. */
export class KamailioRpcError extends Error {
  override readonly name = 'KamailioRpcError';
  constructor(
    readonly method: string,
    readonly code: number,
    readonly rpcMessage: string,
    readonly httpStatus: number,
  ) {
    super(`kamailio rpc ${method} failed: ${code} ${rpcMessage} (HTTP ${httpStatus})`);
  }
}

/** The whole JSON-RPC answer plus the HTTP status, as Kamailio sent it. */
export interface RawRpcAnswer {
  httpStatus: number;
  body: unknown;
}

export interface KamailioInstance {
  readonly sipPort: number;
  readonly rpcPort: number;
  /** http://127.0.0.1:<port>/RPC */
  readonly rpcUrl: string;
  /** sip:127.0.0.1:<sipPort> */
  readonly sipUri: string;
  readonly pid: number | undefined;
  /** Private temp dir: -Y runtime dir and -P pid file; removed by stop(). */
  readonly runtimeDir: string;
  /** Calls a JSON-RPC method; resolves `result`, rejects with KamailioRpcError on `error`. */
  rpc(method: string, params?: unknown[]): Promise<unknown>;
  /** Same call, but returns the HTTP status and full JSON body whatever they are. */
  rpcRaw(method: string, params?: unknown[]): Promise<RawRpcAnswer>;
  /** Tail of Kamailio's stdout + stderr (its log, since it runs with -E). */
  output(): string;
  /** Waits until the log matches `re` (bounded). */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<void>;
  /** Kills it (SIGTERM, then SIGKILL on the whole process group) and removes its temp dir. */
  stop(): Promise<void>;
  /** Kills Kamailio and starts it again on the same ports (in-memory state is lost). */
  restart(): Promise<void>;
  /** `dispatcher.reload`, retried while Kamailio answers "Ongoing reload" (bounded). */
  reloadDispatcher(timeoutMs?: number): Promise<void>;
}

const OUTPUT_LIMIT = 400_000;

/** Kamailio's db_postgres wants postgres://user[:pass]@host[:port]/db with no query string. */
export function toKamailioDbUrl(url: string): string {
  const u = new URL(url);
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new Error(`not a postgres URL: ${url}`);
  const auth = u.username ? `${u.username}${u.password ? `:${u.password}` : ''}@` : '';
  return `postgres://${auth}${u.host}${u.pathname}`;
}

interface Spawned {
  child: ChildProcess;
  exited: Promise<void>;
}

export async function startKamailio(opts: StartKamailioOptions): Promise<KamailioInstance> {
  let current: Spawned | undefined;
  let dir = '';
  // Tracked before anything exists: a bench interrupted while this starts still removes it.
  const untrack = trackLeftover('kamailio', async () => {
    if (current) {
      signalChild(current.child, 'SIGKILL', true);
      await current.exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  dir = mkdtempSync(join(tmpdir(), 'kamailio-test-'));
  let out = '';
  let attemptLog = '';
  const append = (b: Buffer | string) => {
    out = (out + b.toString()).slice(-OUTPUT_LIMIT);
    attemptLog = (attemptLog + b.toString()).slice(-50_000);
  };

  const baseEnv: NodeJS.ProcessEnv = {};
  // Never inherit SBC_* from the developer's shell: the test decides.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SBC_')) baseEnv[k] = v;

  let sipPort = 0;
  let rpcPort = 0;

  const envFor = (): NodeJS.ProcessEnv => ({
    ...baseEnv,
    SBC_SIP_ADDR: '127.0.0.1',
    SBC_SIP_PORT: String(sipPort),
    SBC_RPC_ADDR: '127.0.0.1',
    SBC_RPC_PORT: String(rpcPort),
    SBC_DB_URL: toKamailioDbUrl(opts.dbUrl),
    SBC_LUA_SCRIPT: ROUTING_LUA,
    SBC_CHILDREN: '2',
    SBC_KAMAILIO_DEBUG: '2',
    SBC_TM_FR_TIMER_MS: String(opts.frTimerMs ?? 1000),
    SBC_TM_FR_INV_TIMER_MS: String(opts.frInvTimerMs ?? 5000),
    ...opts.env,
  });

  const spawnOnce = (): Spawned => {
    // A restart or a retry after a port clash must not outlive a shutdown's sweep.
    const refused = refusingNewLeftovers();
    if (refused !== undefined) throw new ShuttingDownError(`not starting kamailio: ${refused}`);
    const args = ['-f', KAMAILIO_CFG, '-DD', '-E', '-Y', dir, '-P', join(dir, 'kamailio.pid'), '-m', '64', '-M', '8'];
    // detached: own process group, so stop() can reach the worker processes too.
    const child = spawn(KAMAILIO_BIN, args, { env: envFor(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    child.on('error', (err) => append(`\n[harness] spawn error: ${err.message}\n`));
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    return { child, exited };
  };

  const rpcRaw = async (method: string, params: unknown[] = []): Promise<RawRpcAnswer> => {
    const res = await fetch(`http://127.0.0.1:${rpcPort}/RPC`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }),
      // Kamailio never answers some malformed requests: always bound the wait.
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { httpStatus: res.status, body };
  };

  const rpc = async (method: string, params: unknown[] = []): Promise<unknown> => {
    const { httpStatus, body } = await rpcRaw(method, params);
    if (typeof body !== 'object' || body === null) throw new Error(`kamailio rpc ${method}: HTTP ${httpStatus}, not JSON: ${String(body)}`);
    const b = body as { result?: unknown; error?: { code?: unknown; message?: unknown } };
    if (b.error) throw new KamailioRpcError(method, Number(b.error.code), String(b.error.message), httpStatus);
    return b.result;
  };

  const killGroup = async (proc: Spawned) => {
    const { child } = proc;
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const pgid = child.pid;
    try {
      process.kill(-pgid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    const done = await Promise.race([proc.exited.then(() => true), sleep(5000).then(() => false)]);
    // Workers normally exit with the main process; make sure none is left behind.
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* group is empty */
    }
    if (!done) await proc.exited;
  };

  const launch = async (retries: number): Promise<void> => {
    const bound = opts.startTimeoutMs ?? 15_000;
    for (let attempt = 0; ; attempt++) {
      if (sipPort === 0 || attempt > 0) {
        sipPort = await freePort();
        rpcPort = await freePort();
        while (rpcPort === sipPort) rpcPort = await freePort();
      }
      attemptLog = '';
      const proc = spawnOnce();
      current = proc;
      try {
        await waitFor(
          `kamailio RPC on 127.0.0.1:${rpcPort}`,
          async () => {
            // waitFor keeps polling through exceptions: report an exit as "done", check below
            if (proc.child.exitCode !== null || proc.child.signalCode !== null) return true;
            const result = await rpc('core.version');
            return typeof result === 'string' && result.startsWith('kamailio');
          },
          bound,
          100,
        );
        if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw new Error(`kamailio exited (${proc.child.exitCode ?? proc.child.signalCode})`);
        return;
      } catch (err) {
        await killGroup(proc);
        const clash = /Address already in use/i.test(attemptLog);
        if (clash && attempt < retries) continue;
        throw new Error(`kamailio did not start (ports sip=${sipPort} rpc=${rpcPort}):\n${out.slice(-8000)}`, { cause: err });
      }
    }
  };

  const exitHook = () => {
    // Last resort if the test process dies without calling stop().
    const pid = current?.child.pid;
    if (pid !== undefined && current?.child.exitCode === null) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  };
  process.once('exit', exitHook);

  try {
    await launch(3);
  } catch (err) {
    process.removeListener('exit', exitHook);
    rmSync(dir, { recursive: true, force: true });
    untrack();
    throw err;
  }

  let stopped = false;
  return {
    get sipPort() {
      return sipPort;
    },
    get rpcPort() {
      return rpcPort;
    },
    get rpcUrl() {
      return `http://127.0.0.1:${rpcPort}/RPC`;
    },
    get sipUri() {
      return `sip:127.0.0.1:${sipPort}`;
    },
    get pid() {
      return current?.child.pid;
    },
    runtimeDir: dir,
    rpc,
    rpcRaw,
    output: () => out,
    async waitForLog(re: RegExp, timeoutMs = 5000) {
      await waitFor(`kamailio log ${String(re)}`, () => re.test(out), timeoutMs, 50);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (current) await killGroup(current);
      process.removeListener('exit', exitHook);
      rmSync(dir, { recursive: true, force: true });
      untrack();
    },
    async reloadDispatcher(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          await rpc('dispatcher.reload');
          return;
        } catch (err) {
          if (!(err instanceof KamailioRpcError) || err.rpcMessage !== 'Ongoing reload' || Date.now() > deadline) throw err;
          await sleep(100);
        }
      }
    },
    async restart() {
      if (stopped) throw new Error('kamailio was stopped');
      if (current) await killGroup(current);
      // Same ports; if one was taken meanwhile, launch() moves to new ones.
      await launch(3);
    },
  };
}

/** The destinations of `setId` this Kamailio would select now (dispatcher.list); none while it does not answer. */
export async function selectableUris(k: Pick<KamailioInstance, 'rpc'>, setId: number): Promise<string[]> {
  try {
    return parseDispatcherList(await k.rpc('dispatcher.list')).destinations.filter((d) => d.setId === setId && isSelectable(d)).map((d) => d.uri);
  } catch {
    return [];
  }
}
