import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/process.js';

/**
 * A benchmark stopped by a signal at any moment leaves nothing behind: no Kamailio (which
 * runs in its own process group and would outlive its parent), no nats-server or
 * redis-server, no `sbc_test_*` database, no temp dir. Each run gets a private TMPDIR, so
 * everything it creates is recognisable by path even while other tests run.
 */

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface BenchRun {
  readonly child: ChildProcess;
  readonly tmp: string;
  output(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const runs: BenchRun[] = [];

function startBench(args: string[]): BenchRun {
  const tmp = mkdtempSync(join(tmpdir(), 'bench-interrupt-'));
  const env: NodeJS.ProcessEnv = { TMPDIR: tmp, TEST_NO_DOCKER: '1' };
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SBC_') && k !== 'TMPDIR') env[k] = v;
  // Own process group, as a shell gives a foreground job: a signal to the group is a Ctrl-C.
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const run = { child, tmp, output: () => out, exited };
  runs.push(run);
  return run;
}

/** What the bench printed about a service it started (`[bench] started <what>: <detail>`). */
function started(run: BenchRun, what: string): string | undefined {
  const m = new RegExp(`^\\[bench\\] started ${what}: (.*)$`, 'm').exec(run.output());
  return m?.[1];
}

/** Pids of processes whose command line mentions `text` (the run's private TMPDIR). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}

async function databaseExists(name: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    const res = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return res.rowCount === 1;
  } finally {
    await c.end();
  }
}

/** The bench's redis-server (its data-less command line names only the port), if it still runs. */
function redisProcesses(url: string | undefined): number[] {
  if (!url) return [];
  const port = new URL(url).port;
  return processesMentioning(`127.0.0.1:${port}`).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('redis-server');
    } catch {
      return false;
    }
  });
}

/** What the bench left in its TMPDIR, apart from its logs and tsx's compile cache. */
function leftInTmp(run: BenchRun): string[] {
  return readdirSync(run.tmp).filter((f) => f !== 'sbc-bench-logs' && !f.startsWith('tsx-'));
}

async function exitWithin(run: BenchRun, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'timeout'>((res) => {
    timer = setTimeout(() => res('timeout'), ms);
  });
  const r = await Promise.race([run.exited, bound]);
  clearTimeout(timer);
  if (r === 'timeout') throw new Error(`the bench did not exit within ${ms} ms after the signal:\n${run.output().slice(-4000)}`);
  return r;
}

afterEach(async () => {
  // Only when an assertion failed: never leave this test's own leftovers to the next run.
  for (const run of runs.splice(0)) {
    if (run.child.exitCode === null && run.child.signalCode === null && run.child.pid !== undefined) {
      try {
        process.kill(-run.child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const pid of processesMentioning(run.tmp)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    const db = started(run, 'postgres database');
    if (db && /^sbc_test_\w+$/.test(db) && (await databaseExists(db))) {
      const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).finally(() => c.end());
    }
    rmSync(run.tmp, { recursive: true, force: true });
  }
});

describe('bench interruption', () => {
  it('bench: Ctrl-C on run-all while a bench runs stops everything it started; the summary says interrupted; exit 130', async () => {
    const run = startBench(['bench/run-all.ts', 'storm']);
    await waitFor('the storm bench to start Kamailio', () => started(run, 'kamailio') !== undefined || run.child.exitCode !== null, 90_000, 100);
    const db = started(run, 'postgres database');
    const natsUrl = started(run, 'nats-server');
    const redisUrl = started(run, 'redis-server');
    expect(db, run.output()).toMatch(/^sbc_test_\w+$/);
    const kamailioPid = Number(/pid (\d+)/.exec(started(run, 'kamailio') ?? '')?.[1]);
    // Everything to be removed exists now, so the assertions below can fail.
    expect(await databaseExists(db ?? '')).toBe(true);
    expect(processesMentioning(run.tmp)).toContain(kamailioPid);
    expect(redisProcesses(redisUrl)).toHaveLength(1);
    expect(leftInTmp(run).some((f) => f.startsWith('kamailio-test-'))).toBe(true);

    process.kill(-(run.child.pid ?? 0), 'SIGINT');
    const { code } = await exitWithin(run, 90_000);

    const out = run.output();
    expect(code, out).toBe(130);
    expect(out).toMatch(/^storm .*VERDICT storm: INTERRUPTED \(got SIGINT\) \[interrupted, exit 130\]$/m);
    expect(out).not.toContain('killed after its limit');
    expect(processesMentioning(run.tmp)).toEqual([]);
    expect(await databaseExists(db ?? '')).toBe(false);
    // nats-server's data dir is in the TMPDIR, so processesMentioning covered it.
    expect(natsUrl).toBeDefined();
    expect(redisProcesses(redisUrl)).toEqual([]);
    expect(leftInTmp(run)).toEqual([]);
  });

  it('bench: SIGTERM to a bench run directly while its Kamailio is still starting leaves nothing behind; exit 143', async () => {
    const run = startBench(['bench/storm.ts']);
    // The Kamailio harness makes its runtime dir first, then spawns and waits for JSON-RPC.
    await waitFor(
      'the storm bench to begin starting Kamailio',
      () => leftInTmp(run).some((f) => f.startsWith('kamailio-test-')) || run.child.exitCode !== null,
      90_000,
      10,
    );
    const db = started(run, 'postgres database');
    expect(db, run.output()).toMatch(/^sbc_test_\w+$/);
    expect(await databaseExists(db ?? '')).toBe(true);

    process.kill(run.child.pid ?? 0, 'SIGTERM');
    const { code } = await exitWithin(run, 90_000);

    const out = run.output();
    expect(code, out).toBe(143);
    expect(out).toContain('VERDICT storm: INTERRUPTED (got SIGTERM)');
    expect(processesMentioning(run.tmp)).toEqual([]);
    expect(await databaseExists(db ?? '')).toBe(false);
    expect(redisProcesses(started(run, 'redis-server'))).toEqual([]);
    expect(leftInTmp(run)).toEqual([]);
  });
});
