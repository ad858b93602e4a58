import { execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../test/support/ports.js';
import { signalChild, startProcess } from '../test/support/process.js';
import { AGENT_DEFAULT_HEARTBEAT_MS, SIMULATION_NOTE, SimulatedFleet } from './agents.js';
import { line, ms, verdict } from './figures.js';
import { histogramOf, parsePromText, sumOf, type PromSample } from './promText.js';
import { runBench, sleepUntil, type Cleanup } from './run.js';
import { benchLogPath, controlPlaneEnv, dispatcherRowCounts, startServices } from './testbed.js';

/**
 * Memory at 1,000 nodes: the built control plane in its own process (as `npm start` runs
 * it), 1,000 simulated nodes heartbeating every 2 s, held for a minute once all are in
 * Kamailio. Samples the process' VmRSS once a second.
 */
const NODES = 1000;
const JOIN_SPREAD_MS = 5000;
const HOLD_MS = 60_000;
const TARGET_RSS_MB = 150;
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Extra node flags for the control plane, for experiments (e.g. heap limits); none by default. */
const EXTRA_NODE_FLAGS = (process.env.BENCH_CP_NODE_FLAGS ?? '').split(' ').filter(Boolean);

/** Runs a command to its end in its own process group (tracked, so an interrupt stops it too). */
async function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  const proc = startProcess(cmd, args, { cwd: REPO_ROOT, ownProcessGroup: true });
  const timer = setTimeout(() => signalChild(proc.child, 'SIGKILL', true), timeoutMs);
  await proc.exited;
  clearTimeout(timer);
  const { exitCode, signalCode } = proc.child;
  if (exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${exitCode ?? signalCode}):\n${proc.output().slice(-4000)}`);
  return proc.output();
}

interface ProcSample {
  readonly at: number;
  readonly rssKb: number;
  readonly hwmKb: number;
  /** utime + stime in clock ticks. */
  readonly cpuTicks: number;
}

function sampleProc(pid: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuTicks = Number(rest[11]) + Number(rest[12]);
    return { at: performance.now(), rssKb: kb('VmRSS'), hwmKb: kb('VmHWM'), cpuTicks };
  } catch {
    return undefined;
  }
}

/** The control plane as its own process; stopped with SIGTERM (then SIGKILL) by cleanup. */
function startControlPlaneProcess(cleanup: Cleanup, env: Record<string, string>, logPath: string): { child: ChildProcess; logBytes: () => number } {
  const baseEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SBC_')) baseEnv[k] = v;
  const log = createWriteStream(logPath);
  let bytes = 0;
  // Own process group, like the services: a Ctrl-C reaches the bench, which stops this in order.
  const proc = startProcess(process.execPath, ['--enable-source-maps', ...EXTRA_NODE_FLAGS, 'dist/src/main.js'], {
    cwd: REPO_ROOT,
    env: { ...baseEnv, ...env },
    ownProcessGroup: true,
  });
  const { child, exited } = proc;
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (b: Buffer) => {
      bytes += b.length;
      log.write(b);
    });
  }
  cleanup.push('control plane log file', () => new Promise<void>((r) => log.end(() => r())));
  cleanup.push('control plane process', async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    signalChild(child, 'SIGTERM', true);
    const done = await Promise.race([exited.then(() => true), sleep(20_000, false, { ref: false })]);
    if (!done) {
      signalChild(child, 'SIGKILL', true);
      await exited;
    }
  });
  return { child, logBytes: () => bytes };
}

async function getText(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, text: await res.text() };
}

/** Subtracts an earlier scrape from a later one, sample by sample (counters and histograms). */
function since(after: readonly PromSample[], before: readonly PromSample[]): PromSample[] {
  const key = (s: PromSample) => `${s.name}${JSON.stringify(s.labels)}`;
  const prev = new Map(before.map((s) => [key(s), s.value]));
  return after.map((s) => ({ ...s, value: s.value - (prev.get(key(s)) ?? 0) }));
}

const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;
const median = (v: readonly number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? NaN;

await runBench('memory', 5 * 60_000, async (cleanup) => {
  const buildStarted = performance.now();
  await run('npm', ['run', 'build'], 180_000);
  const buildMs = performance.now() - buildStarted;

  const s = await startServices(cleanup);
  const httpPort = await freePort();
  const logPath = benchLogPath('memory');
  const env = { ...controlPlaneEnv(s, 'memory'), SBC_HTTP_PORT: String(httpPort) };
  const { child, logBytes } = startControlPlaneProcess(cleanup, env, logPath);
  const pid = child.pid;
  if (pid === undefined) throw new Error('the control plane process did not start');
  const base = `http://127.0.0.1:${httpPort}`;

  const readyBy = performance.now() + 30_000;
  let ready = false;
  while (!ready && performance.now() < readyBy) {
    if (child.exitCode !== null) throw new Error(`the control plane exited with ${child.exitCode}; log: ${logPath}`);
    ready = await getText(`${base}/readyz`).then((r) => r.status === 200, () => false);
    if (!ready) await sleep(100);
  }
  if (!ready) throw new Error(`GET /readyz never answered 200 within 30 s; log: ${logPath}`);

  const samples: ProcSample[] = [];
  const sampler = setInterval(() => {
    const p = sampleProc(pid);
    if (p) samples.push(p);
  }, 1000);
  cleanup.push('RSS sampler', () => Promise.resolve(clearInterval(sampler)));
  const idle = sampleProc(pid);
  if (idle) samples.push(idle);

  const fleet = new SimulatedFleet(s.agentBus, s.subjects);
  cleanup.push('simulated agents', () => Promise.resolve(fleet.stopAll()));

  console.log(SIMULATION_NOTE);
  console.log(`setup: private NATS, Redis, Postgres and one Kamailio 5.6.3 on loopback; control plane built (npm run build, ${ms(buildMs, 0)}) and run as its own process:`);
  console.log(`       node ${['--enable-source-maps', ...EXTRA_NODE_FLAGS].join(' ')} dist/src/main.js (pid ${pid}, HTTP ${base}, log level info, log: ${logPath})`);
  console.log(
    `method: ${NODES} nodes join evenly over ${JOIN_SPREAD_MS / 1000} s and heartbeat every ${AGENT_DEFAULT_HEARTBEAT_MS} ms; once all ${NODES * s.setIds.length} destinations ` +
      `are in dispatcher.list, hold ${HOLD_MS / 1000} s; VmRSS from /proc/${pid}/status sampled every second from readiness on`,
  );

  const nodes = Array.from({ length: NODES }, () => fleet.create());
  const t0 = performance.now();
  let lastJoinAt = t0;
  for (const [i, n] of nodes.entries()) {
    await sleepUntil(t0 + (i * JOIN_SPREAD_MS) / NODES);
    lastJoinAt = n.join();
  }
  const all = await s.observer.until((v) => nodes.every((n) => v.inEverySet(n.sipUri)), 250, 90_000);
  if (!all) throw new Error(`the ${NODES} nodes were not all in dispatcher.list within 90 s of the last join; log: ${logPath}`);

  const holdStart = performance.now();
  const metricsAtHold = parsePromText((await getText(`${base}/metrics`)).text);
  const heartbeatsAtHold = fleet.heartbeatsSent();
  await sleep(HOLD_MS);
  const holdEnd = performance.now();
  const heartbeatsInHold = fleet.heartbeatsSent() - heartbeatsAtHold;
  const final = sampleProc(pid);
  if (final) samples.push(final);
  // Give heartbeats already published a moment to be counted.
  await sleep(200);
  const metricsEnd = parsePromText((await getText(`${base}/metrics`)).text);
  const view = await s.observer.read();
  const rows = await dispatcherRowCounts(s.pgUrl);
  if (child.exitCode !== null) throw new Error(`the control plane exited during the run (${child.exitCode}); log: ${logPath}`);

  const hold = samples.filter((p) => p.at >= holdStart && p.at <= holdEnd + 1);
  const peakKb = Math.max(...samples.map((p) => p.rssKb));
  const hwmKb = Math.max(...samples.map((p) => p.hwmKb));
  const steadyKb = median(hold.map((p) => p.rssKb));
  const atAllIn = samples.find((p) => p.at >= all.at);
  const clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const first = hold[0];
  const last = hold[hold.length - 1];
  const cpuPct = first && last && last.at > first.at ? (100 * (last.cpuTicks - first.cpuTicks)) / clkTck / ((last.at - first.at) / 1000) : NaN;
  const inHold = since(metricsEnd, metricsAtHold);
  const passesAll = histogramOf(metricsEnd, 'sbc_reconcile_duration_seconds');
  const passesHold = histogramOf(inHold, 'sbc_reconcile_duration_seconds');
  const p50 = (h: ReturnType<typeof histogramOf>) => {
    const q = h.quantile(0.5);
    return `${q.beyondLastBucket ? '> ' : '~'}${ms(q.value * 1000)}`;
  };
  const p99 = (h: ReturnType<typeof histogramOf>) => {
    const q = h.quantile(0.99);
    return `${q.beyondLastBucket ? '> ' : '~'}${ms(q.value * 1000)}`;
  };
  const rpc = (m: PromSample[], method: string, outcome: string) => sumOf(m, 'sbc_kamailio_rpc_total', { method, outcome });

  console.log('');
  console.log(line('RSS when ready (0 nodes)', idle ? mb(idle.rssKb) : 'n/a'));
  console.log(line(`RSS when all ${NODES} were in Kamailio`, atAllIn ? mb(atAllIn.rssKb) : 'n/a'));
  console.log(line(`RSS steady (median of ${hold.length} samples over the hold)`, mb(steadyKb)));
  console.log(line('RSS hold min / max', `${mb(Math.min(...hold.map((p) => p.rssKb)))} / ${mb(Math.max(...hold.map((p) => p.rssKb)))}`));
  console.log(line('RSS peak (1 s samples) / VmHWM (kernel peak)', `${mb(peakKb)} / ${mb(hwmKb)}`));
  console.log(line('JS heap used at the end (nodejs_heap_size_used)', mb(sumOf(metricsEnd, 'nodejs_heap_size_used_bytes') / 1024)));
  console.log(line('CPU of the control plane during the hold', `${cpuPct.toFixed(1)} % of one core`));
  console.log(line('all in dispatcher.list, after the last join', ms(all.at - lastJoinAt, 0)));
  console.log(line('dispatcher.list at the end: set sizes', s.setIds.map((id) => `set ${id}: ${view.count(id)}`).join(', ') + ` (total ${view.total()})`));
  console.log(line('Postgres rows per set at the end', s.setIds.map((id) => `set ${id}: ${rows.get(id) ?? 0}`).join(', ')));
  console.log(line('reconcile passes, whole run (ok / error)', `${sumOf(metricsEnd, 'sbc_reconcile_runs_total', { outcome: 'ok' })} / ${sumOf(metricsEnd, 'sbc_reconcile_runs_total', { outcome: 'error' })}`));
  console.log(line('reconcile duration, whole run', `mean ${ms(passesAll.mean * 1000)}, p50 ${p50(passesAll)}, p99 ${p99(passesAll)} (from the histogram)`));
  console.log(line(`reconcile passes during the ${HOLD_MS / 1000} s hold`, passesHold.count));
  console.log(line('reconcile duration during the hold', `mean ${ms(passesHold.mean * 1000)}, p50 ${p50(passesHold)}, p99 ${p99(passesHold)}`));
  console.log(line('reloads ok / refused, whole run', `${rpc(metricsEnd, 'dispatcher.reload', 'ok')} / ${rpc(metricsEnd, 'dispatcher.reload', 'pending')}`));
  console.log(line('dispatcher.list calls, whole run / in hold', `${rpc(metricsEnd, 'dispatcher.list', 'ok')} / ${rpc(inHold, 'dispatcher.list', 'ok')}`));
  console.log(line('heartbeats published / accepted during hold', `${heartbeatsInHold} / ${sumOf(inHold, 'sbc_nats_messages_total', { kind: 'heartbeat' })}`));
  console.log(line('messages rejected, whole run', sumOf(metricsEnd, 'sbc_nats_messages_rejected_total')));
  console.log(line('nodes active (control plane gauge)', sumOf(metricsEnd, 'sbc_nodes', { state: 'active' })));
  console.log(line('control plane log volume', `${(logBytes() / 1024).toFixed(0)} KiB`));
  const complete = view.total() === NODES * s.setIds.length && s.setIds.every((id) => view.count(id) === NODES);
  const pass = complete && peakKb <= TARGET_RSS_MB * 1024 && hwmKb <= TARGET_RSS_MB * 1024;
  console.log(
    verdict(
      'memory',
      pass,
      `RSS steady ${mb(steadyKb)}, peak ${mb(Math.max(peakKb, hwmKb))} with ${NODES} nodes (target <= ${TARGET_RSS_MB} MB); ` +
        `${complete ? `all ${NODES * s.setIds.length} destinations listed` : `only ${view.total()} of ${NODES * s.setIds.length} destinations listed`}`,
    ),
  );
});
