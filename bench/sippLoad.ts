import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../test/support/ports.js';
import { startProcess, trackLeftover, waitFor, type RunningProcess } from '../test/support/process.js';
import { SCENARIOS, SIPP_BIN, udpPortBound } from '../test/support/sipp.js';

/**
 * sipp for load, without the per-message trace (-trace_msg) that test/support/sipp.ts
 * writes and parses: at hundreds of calls per second the trace costs sipp more CPU than
 * the calls do, and on a 2-core machine that CPU is taken from Kamailio. The scenarios are
 * the same files (test/fixtures/kamailio/uas-answer.xml, uac-call.xml); the UAC's outcome
 * comes from sipp's own statistics file (-trace_stat), not from a message log.
 */

const running = (p: RunningProcess) => p.child.exitCode === null && p.child.signalCode === null;

/** A temp dir removed by the sweep too (bench/run.ts) if the bench is stopped while it exists. */
function trackedTempDir(prefix: string): { dir: string; remove: () => void } {
  let dir = '';
  const untrack = trackLeftover(`temp dir ${prefix}`, () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
      untrack();
    },
  };
}

export interface LoadUas {
  readonly uri: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** An answering UAS (uas-answer.xml) without a message trace. */
export async function startLoadUas(lifetimeMs = 600_000): Promise<LoadUas> {
  const tmp = trackedTempDir('sipp-load-uas-');
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const ctrl = await freePort();
    const p = startProcess(
      SIPP_BIN,
      ['-sf', SCENARIOS.uasAnswer, '-i', '127.0.0.1', '-bind_local', '-p', String(port), '-cp', String(ctrl), '-nostdin', '-timeout', `${Math.ceil(lifetimeMs / 1000)}s`, '-max_socket', '4096'],
      { cwd: tmp.dir },
    );
    try {
      await waitFor(`sipp load UAS on udp ${port}`, () => !running(p) || udpPortBound(port), 5000, 25);
      await sleep(50);
      if (!running(p)) throw new Error(`sipp exited: ${p.output().slice(-1500)}`);
      return {
        uri: `sip:127.0.0.1:${port}`,
        pid: p.child.pid,
        async stop() {
          await p.stop('SIGTERM');
          tmp.remove();
        },
      };
    } catch (err) {
      await p.stop('SIGKILL');
      if (attempt < 2 && /bind|Address already in use/i.test(p.output())) continue;
      tmp.remove();
      throw err;
    }
  }
}

export interface LoadRun {
  readonly calls: number;
  readonly successful: number;
  readonly failed: number;
  /** sipp's own start to its last statistics line (written at its end), seconds. */
  readonly seconds: number;
  /** successful / seconds */
  readonly cps: number;
  /**
   * The rate at which INVITEs were answered over the middle 90% of the run (5th to 95th
   * percentile of the answer instants): free of sipp's start and of a straggler's 500 ms
   * retransmission at the end, which otherwise decides a 1-2 s run's figure.
   */
  readonly middleCps: number;
  readonly exitCode: number | null;
  /** CPU seconds used by the UAC sipp itself over the run. */
  readonly uacCpuSeconds: number;
  readonly output: string;
  /** The head of sipp's error log (-trace_err). */
  readonly errors: string;
}

export interface LoadUacOptions {
  target: string;
  /** Dialed users; call i dials services[i % n]. */
  services: readonly string[];
  calls: number;
  /** Calls per second asked of sipp (-r). */
  rate: number;
  /** Max simultaneous calls (-l). */
  concurrency: number;
  holdMs: number;
  /** Called with the UAC's pid once it runs (CPU sampling). */
  onStart?: (pid: number | undefined) => void;
}

/** Reads utime + stime of one process, in seconds (0 when it is gone). */
export function cpuSecondsOf(pid: number | undefined, ticksPerSecond = 100): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // after "pid (comm) ": state=f[0], ... utime = field 14 -> f[11], stime = field 15 -> f[12]
    return (Number(f[11]) + Number(f[12])) / ticksPerSecond;
  } catch {
    return 0;
  }
}

/** CPU seconds of every process in a process group (Kamailio runs its workers in its own group). */
export function cpuSecondsOfGroup(pgid: number | undefined, ticksPerSecond = 100): number {
  if (pgid === undefined) return 0;
  let total = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // pgrp = field 5 -> f[2]
      if (Number(f[2]) === pgid) total += (Number(f[11]) + Number(f[12])) / ticksPerSecond;
    } catch {
      /* exited meanwhile */
    }
  }
  return total;
}


function middleRate(sorted: readonly number[]): number {
  if (sorted.length < 20) return NaN;
  const lo = Math.floor(sorted.length * 0.05);
  const hi = Math.ceil(sorted.length * 0.95) - 1;
  const span = ((sorted[hi] ?? 0) - (sorted[lo] ?? 0)) / 1000;
  return span > 0 ? (hi - lo) / span : NaN;
}

/** Parses the last line of sipp's -trace_stat file: ; separated, times as "date\ttime\tepoch". */
function lastStats(file: string): { successful: number; failed: number; seconds: number } | undefined {
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]?.split(';') ?? [];
  const last = lines[lines.length - 1]?.split(';') ?? [];
  if (lines.length < 2) return undefined;
  const col = (name: string) => last[header.indexOf(name)] ?? '';
  const epoch = (v: string) => Number(v.split('\t')[2] ?? NaN);
  return {
    successful: Number(col('SuccessfulCall(C)')),
    failed: Number(col('FailedCall(C)')),
    seconds: epoch(col('CurrentTime')) - epoch(col('StartTime')),
  };
}

/** Places `calls` calls (uac-call.xml) and reads the outcome from sipp's statistics. */
export async function runLoadUac(opts: LoadUacOptions): Promise<LoadRun> {
  const tmp = trackedTempDir('sipp-load-uac-');
  try {
    const lines = ['SEQUENTIAL', ...opts.services.map((s, i) => `${s};load${i + 1};`)];
    const inf = join(tmp.dir, 'calls.csv');
    writeFileSync(inf, `${lines.join('\n')}\n`);
    const stf = join(tmp.dir, 'stats.csv');
    const errFile = join(tmp.dir, 'errors.log');
    const boundMs = Math.ceil((opts.calls / Math.min(opts.rate, 200)) * 1000 + 30_000);
    const port = await freePort();
    const ctrl = await freePort();
    const p = startProcess(
      SIPP_BIN,
      [
        opts.target,
        '-sf', SCENARIOS.uac,
        '-inf', inf,
        '-i', '127.0.0.1', '-bind_local',
        '-p', String(port), '-cp', String(ctrl),
        '-t', 'u1',
        '-m', String(opts.calls),
        '-r', String(opts.rate), '-rp', '1000',
        '-l', String(opts.concurrency),
        '-d', String(opts.holdMs),
        '-recv_timeout', '8000',
        '-timeout', `${Math.ceil(boundMs / 1000)}s`,
        '-nostdin',
        '-trace_stat', '-stf', stf, '-fd', '1',
        '-trace_err', '-error_file', errFile,
        // one line per call at its 200 (rtd="true" in uac-call.xml): ms since sipp's start
        '-trace_rtt', '-rtt_freq', '1',
      ],
      { cwd: tmp.dir },
    );
    opts.onStart?.(p.child.pid);
    let cpu = 0;
    const sampler = setInterval(() => {
      cpu = Math.max(cpu, cpuSecondsOf(p.child.pid));
    }, 100);
    const exitCode = await Promise.race([
      new Promise<number | null>((res) => {
        if (!running(p)) res(p.child.exitCode);
        else p.child.once('exit', (code) => res(code));
      }),
      sleep(boundMs + 5000).then(() => 'timeout' as const),
    ]);
    clearInterval(sampler);
    if (exitCode === 'timeout') {
      await p.stop('SIGKILL');
      throw new Error(`sipp load UAC did not finish within ${boundMs + 5000} ms: ${p.output().slice(-2000)}`);
    }
    const st = lastStats(stf);
    const rttFile = readdirSync(tmp.dir).find((f) => f.endsWith('_rtt.csv'));
    const answeredAt = rttFile
      ? readFileSync(join(tmp.dir, rttFile), 'utf8')
          .split('\n')
          .slice(1)
          .map((l) => Number(l.split(';')[0]))
          .filter((v) => Number.isFinite(v) && v >= 0)
          .sort((a, b) => a - b)
      : [];
    if (!st) throw new Error(`sipp load UAC wrote no statistics (exit ${exitCode}): ${p.output().slice(-2000)}`);
    return {
      calls: opts.calls,
      successful: st.successful,
      failed: opts.calls - st.successful,
      seconds: st.seconds,
      cps: st.successful / st.seconds,
      middleCps: middleRate(answeredAt),
      exitCode,
      uacCpuSeconds: cpu,
      output: p.output(),
      errors: existsSync(errFile) ? readFileSync(errFile, 'utf8').slice(0, 4000) : '',
    };
  } finally {
    tmp.remove();
  }
}

/** Machine-wide CPU ticks from /proc/stat (first line): busy and total, in seconds. */
export function machineCpuSeconds(ticksPerSecond = 100): { busy: number; total: number } {
  const first = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = first.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is counted in user already)
  const total = v.slice(0, 8).reduce((s, x) => s + x, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: (total - idle) / ticksPerSecond, total: total / ticksPerSecond };
}
