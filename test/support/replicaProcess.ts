import { spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';
import { trackLeftover, waitFor } from './process.js';

/**
 * One control plane replica as its own process (`node --import tsx src/main.ts`, as the
 * replicas test and the failover bench run them), with every pino line of its stdout kept
 * and parsed, so a test can read what it logged and when (`time`, ms since the epoch).
 * Tracked as a leftover from before it is spawned: a bench interrupted at any moment kills it.
 */

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface LogLine {
  readonly time: number;
  readonly msg: string;
  readonly level?: number;
  readonly component?: string;
  readonly kamailio?: string;
  readonly [field: string]: unknown;
}

export interface ClusterView {
  replicaId: string;
  role: 'leader' | 'follower';
  epoch: number | null;
  leaderId: string | null;
  replicas: { replicaId: string; role: string; live: boolean; lastSeenMsAgo: number }[];
}

export interface ReplicaProcess {
  readonly id: string;
  readonly httpPort: number;
  readonly pid: number | undefined;
  /** Every JSON line it logged so far, in order. */
  lines(): readonly LogLine[];
  /** Lines whose msg starts with `msg`, optionally at or after `since` (ms since the epoch). */
  logged(msg: string, since?: number): LogLine[];
  /** Tail of what it wrote, for failure messages. */
  tail(chars?: number): string;
  running(): boolean;
  readonly exited: Promise<void>;
  /** Sends a signal to the process itself (SIGKILL, SIGSTOP, SIGCONT...). */
  signal(sig: NodeJS.Signals): void;
  /** GET on its HTTP API (bounded). */
  get(path: string): Promise<Response>;
  cluster(): Promise<ClusterView>;
  /** SIGCONT (in case it is frozen), SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartReplicaOptions {
  readonly id: string;
  /** SBC_* variables shared by the replicas (URLs, prefixes, timings). */
  readonly env: Record<string, string>;
  /** Also append its stdout here. */
  readonly logPath?: string;
  /** Bound for "Server listening". Default 30 s. */
  readonly startTimeoutMs?: number;
}

export async function startReplica(opts: StartReplicaOptions): Promise<ReplicaProcess> {
  const httpPort = await freePort();
  const env: NodeJS.ProcessEnv = {};
  // Never inherit SBC_* from the developer's shell: the caller decides.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SBC_')) env[k] = v;
  Object.assign(env, { SBC_HTTP_HOST: '127.0.0.1', SBC_LOG_LEVEL: 'info', ...opts.env, SBC_INSTANCE_ID: opts.id, SBC_HTTP_PORT: String(httpPort) });

  const spawned: { child?: ReturnType<typeof spawn>; exited?: Promise<void> } = {};
  const gone = () => !spawned.child || spawned.child.exitCode !== null || spawned.child.signalCode !== null;
  const untrack = trackLeftover(`control plane replica ${opts.id}`, async () => {
    if (gone()) return;
    spawned.child?.kill('SIGKILL');
    await spawned.exited;
  });
  let file: WriteStream | undefined;
  try {
    file = opts.logPath ? createWriteStream(opts.logPath, { flags: 'a' }) : undefined;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((res) => {
      child.once('exit', () => res());
      child.once('close', () => res());
    });
    Object.assign(spawned, { child, exited });
    void exited.then(() => {
      untrack();
      file?.end();
    });

    const parsed: LogLine[] = [];
    let raw = '';
    let pending = '';
    child.stdout.on('data', (b: Buffer) => {
      const text = b.toString();
      file?.write(text);
      raw = (raw + text).slice(-20_000);
      pending += text;
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const l of parts) {
        if (!l.startsWith('{')) continue;
        try {
          parsed.push(JSON.parse(l) as LogLine);
        } catch {
          /* not a log line */
        }
      }
    });
    child.stderr.on('data', (b: Buffer) => {
      file?.write(b);
      raw = (raw + b.toString()).slice(-20_000);
    });
    child.once('error', (err) => (raw += `\n[harness] spawn error: ${err.message}\n`));

    const base = `http://127.0.0.1:${httpPort}`;
    const get = (path: string) => fetch(`${base}${path}`, { signal: AbortSignal.timeout(2000) });
    const replica: ReplicaProcess = {
      id: opts.id,
      httpPort,
      pid: child.pid,
      lines: () => parsed,
      logged: (msg, since = 0) => parsed.filter((l) => l.time >= since && typeof l.msg === 'string' && l.msg.startsWith(msg)),
      tail: (chars = 4000) => raw.slice(-chars),
      running: () => !gone(),
      exited,
      signal: (sig) => {
        if (!gone()) child.kill(sig);
      },
      get,
      cluster: async () => (await (await get('/v1/cluster')).json()) as ClusterView,
      async stop(graceMs = 5000) {
        if (gone()) return;
        child.kill('SIGCONT');
        child.kill('SIGTERM');
        const done = await Promise.race([exited.then(() => true), sleep(graceMs, false, { ref: false })]);
        if (!done) {
          child.kill('SIGKILL');
          await exited;
        }
      },
    };
    await waitFor(
      `replica ${opts.id} to listen`,
      () => {
        if (gone()) throw new Error(`replica ${opts.id} exited: ${raw.slice(-4000)}`);
        return parsed.some((l) => l.msg?.startsWith('Server listening'));
      },
      opts.startTimeoutMs ?? 30_000,
      50,
    ).catch(async (err: unknown) => {
      await replica.stop(1000);
      throw new Error(`replica ${opts.id} did not start: ${(err as Error).message}\n${raw.slice(-4000)}`, { cause: err });
    });
    return replica;
  } catch (err) {
    if (gone()) {
      untrack();
      file?.end();
    }
    throw err;
  }
}

/** The replica every running one names as leader, once they all agree and it says so itself. */
export async function agreedLeader(replicas: readonly ReplicaProcess[], timeoutMs: number): Promise<ReplicaProcess> {
  let leader: ReplicaProcess | undefined;
  await waitFor(
    'every running replica to name the same leader',
    async () => {
      const live = replicas.filter((r) => r.running());
      const views = await Promise.all(live.map((r) => r.cluster()));
      const ids = new Set(views.map((v) => v.leaderId));
      const id = views[0]?.leaderId;
      leader = live.find((r) => r.id === id);
      return ids.size === 1 && leader !== undefined && views.find((v) => v.replicaId === id)?.role === 'leader';
    },
    timeoutMs,
    100,
  );
  return leader!;
}
