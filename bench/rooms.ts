import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { DS_FLAG_DISABLED } from '../src/core/dispatcher.js';
import { subjects } from '../src/events/subjects.js';
import { migrate } from '../src/postgres/migrations.js';
import { startKamailio, type KamailioInstance } from '../test/support/kamailio.js';
import { waitFor } from '../test/support/process.js';
import { startRawSipClient } from '../test/support/rawSip.js';
import { createPostgresDatabase, startNats } from '../test/support/services.js';
import { runSippUac, startSippUas, type SippUas } from '../test/support/sipp.js';
import { distribution, distributionLine, line, verdict } from './figures.js';
import { runBench } from './run.js';
import { benchLogPath } from './testbed.js';
import { cpuSecondsOf, cpuSecondsOfGroup, machineCpuSeconds, runLoadUac, startLoadUas, type LoadRun, type LoadUas } from './sippLoad.js';

/**
 * Rooms: room pinning (this project) against plain dispatcher algorithm 2, side by side in
 * one run, with real Kamailio 5.6.3 (kamailio.cfg + routing.lua), sipp callers and sipp
 * UAS stand-ins for the FreeSWITCH nodes. Three parts:
 *  1. split/spread: 500 rooms through 3 -> 4 -> 6 nodes, a drain and a kill;
 *  2. routing throughput: room calls (pin lookup + pin writes) against ordinary calls;
 *  3. pin propagation between two Kamailios over NATS.
 * See bench/README.md ("rooms.ts") for the method.
 */

const ROOMS = Number(process.env.BENCH_ROOMS ?? 500);
const FIRST_ROOM = 3000;
/** runSippUac (with its message trace) placing one caller per room. */
const PLACE_RATE = 250;
/**
 * Calls per throughput run. The harness starts Kamailio with -m 64 (64 MB shared memory) and
 * tm keeps a finished transaction ~5 s (wait timer): ~2,000 calls (4,000 transactions) fill
 * it, so a run stays below that and the next one starts once the memory is free again.
 */
const LOAD_CALLS = Number(process.env.BENCH_ROOMS_LOAD_CALLS ?? 1500);
/** Asked of sipp in the throughput runs: far above what 2 cores route, so sipp's rate is not the limit. */
const LOAD_RATE = 5000;
const LOAD_CONCURRENCY = 50;
const LOAD_ROUNDS = Number(process.env.BENCH_ROOMS_ROUNDS ?? 7);
/** The rate-limited pair: both reach it, which is why the throughput figure uses the unbounded runs. */
const PACED_RATE = 400;
const PACED_CALLS = 1000;
/** Rooms dialed in a rooms run, in turn: 1,500 calls over 500 rooms = each room's first caller and two more. */
const LOAD_ROOMS = 500;
const GENERAL_NUMBER = '5000';
/** Share of a rooms run's calls that find no pin (a new room): its first LOAD_ROOMS calls. */
const NEW_SHARE = Math.min(LOAD_ROOMS, LOAD_CALLS) / LOAD_CALLS;
const PROPAGATION_ROOMS = Number(process.env.BENCH_ROOMS_PROPAGATION ?? 200);
const TARGET_RATIO = 0.9;
const PREFIX = 'sbcbench';

interface Node {
  readonly name: string;
  readonly uas: SippUas;
  readonly priority: number;
}

interface Row {
  readonly uri: string;
  readonly priority: number;
  readonly flags: number;
}

const wallNow = () => performance.timeOrigin + performance.now();
const pct = (n: number, of: number) => `${((100 * n) / Math.max(1, of)).toFixed(1)}%`;

await runBench('rooms', 8 * 60_000, async (cleanup) => {
  process.env.TEST_NO_DOCKER ??= '1';
  const pinsSubject = subjects(PREFIX).kamailioPins;

  // ---- services -------------------------------------------------------------------------
  const nats = await startNats({ ownProcessGroup: true });
  cleanup.push('nats-server', () => nats.stop());
  const db = await createPostgresDatabase();
  cleanup.push('postgres database', () => db.stop());
  const pool = new pg.Pool({ connectionString: db.url, max: 2, connectionTimeoutMillis: 5000 });
  cleanup.push('postgres pool', () => pool.end());
  await migrate(pool);

  const natsEnv = (id: string) => ({ SBC_NATS_URL: nats.url, SBC_NATS_PINS_SUBSCRIPTION: `${pinsSubject}:${id}`, SBC_KAMAILIO_ID: id });
  const kamailio = async (what: string, env: Record<string, string>): Promise<KamailioInstance> => {
    const k = await startKamailio({ dbUrl: db.url, env });
    cleanup.push(`kamailio ${what}`, () => k.stop());
    // Runs before the stop (LIFO): Kamailio's log (-E, info) is kept for a look afterwards.
    cleanup.push(`kamailio ${what} log`, () => Promise.resolve(writeFileSync(benchLogPath(`rooms-kamailio-${what.split(' ')[0]}`), k.output())));
    process.stderr.write(`[bench] started kamailio ${what}: pid ${k.pid ?? '?'}, sip ${k.sipPort}, rpc ${k.rpcUrl}, runtime dir ${k.runtimeDir}\n`);
    return k;
  };
  // "pins": this project's config, sharing pins on NATS as deployed. "plain": the same
  // config without NATS, whose pins the bench flushes before every step (plain alg 2).
  const [kp, kq] = await Promise.all([kamailio('pins (k1)', natsEnv('k1')), kamailio('plain', { SBC_KAMAILIO_ID: 'plain' })]);

  const nodes: Node[] = [];
  await Promise.all(
    Array.from({ length: 6 }, async (_, i) => {
      const uas = await startSippUas({ lifetimeMs: 600_000 });
      cleanup.push(`sipp UAS n${i + 1}`, () => uas.stop());
      nodes[i] = { name: `n${i + 1}`, uas, priority: i + 1 };
    }),
  );
  process.stderr.write(`[bench] started nats-server ${nats.url}, postgres database ${new URL(db.url).pathname.slice(1)}, 6 sipp UAS ${nodes.map((n) => n.uas.port).join(',')}\n`);

  /** Sets 1 (general) and 2 (rooms) with these destinations; every given Kamailio reloads. */
  const writeTable = async (rows: readonly Row[], kams: readonly KamailioInstance[]) => {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('DELETE FROM dispatcher');
      for (const setid of [1, 2]) {
        for (const r of rows) {
          await c.query('INSERT INTO dispatcher (setid, destination, flags, priority) VALUES ($1, $2, $3, $4)', [setid, r.uri, r.flags, r.priority]);
        }
      }
      await c.query('COMMIT');
    } finally {
      c.release();
    }
    await Promise.all(kams.map((k) => k.reloadDispatcher(10_000)));
  };
  const flushPins = (k: KamailioInstance) => k.rpc('htable.flush', ['pins']);

  // ---- 1. split and spread --------------------------------------------------------------
  console.log('setup: private NATS and Postgres, Kamailio 5.6.3 x2 (kamailio.cfg + routing.lua), 6 sipp UAS (answer) as nodes n1..n6, on loopback');
  console.log(
    `part 1 method: ${ROOMS} rooms (${FIRST_ROOM}..${FIRST_ROOM + ROOMS - 1}), one first caller each at 3 nodes, then per step one more caller per room through each Kamailio (sipp, ${PLACE_RATE} calls/s).`,
  );
  console.log('  "pins"  = the normal config (pin made at the first caller, followed while the node is listed in set 1, any state)');
  console.log('  "plain" = the same config with its pins htable flushed (htable.flush pins) before every step: each caller is placed by alg 2 alone');
  console.log('  split     = a room whose new caller reached another node than the room\'s node (its first caller\'s node)');
  console.log('  on >1 node = a room whose callers so far (on nodes still running) reached more than one node: a room cut in pieces');
  console.log('  restarted = a room whose node was killed; its new caller\'s node becomes the room\'s node (not a split)');
  console.log('  spread    = max/mean of rooms per node over the nodes still running (draining included), counted where each room\'s caller of that step went');
  console.log('  drain = the node\'s set 1/2 rows get flags 4 (disabled, still listed; what the control plane writes); kill = its rows deleted + reload, its UAS stopped');

  const rooms = Array.from({ length: ROOMS }, (_, i) => String(FIRST_ROOM + i));
  const running = new Set<Node>(nodes);

  const place = async (k: KamailioInstance, tag: string): Promise<Map<string, Node>> => {
    const live = [...running];
    for (const n of live) n.uas.reset();
    const r = await runSippUac({ target: `127.0.0.1:${k.sipPort}`, service: rooms, callers: rooms.map((room) => `${tag}${room}`), calls: rooms.length, rate: PLACE_RATE, holdMs: 0 });
    if (r.failed > 0) throw new Error(`${tag}: ${r.failed} of ${rooms.length} calls failed (${JSON.stringify(r.statusCodes)})`);
    const byCall = new Map<string, Node>();
    for (const n of live) for (const inv of n.uas.invites()) byCall.set(inv.callId, n);
    const out = new Map<string, Node>();
    for (const c of r.calls) {
      const n = byCall.get(c.callId);
      if (!n) throw new Error(`${tag}: call ${c.callId} to ${c.service} reached no node`);
      out.set(c.service, n);
    }
    return out;
  };

  const spread = (placed: Map<string, Node>): { value: number; perNode: string } => {
    const count = new Map<Node, number>([...running].map((n) => [n, 0]));
    for (const n of placed.values()) count.set(n, (count.get(n) ?? 0) + 1);
    const values = [...count.values()];
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    return { value: Math.max(...values) / mean, perNode: [...count].sort((a, b) => a[0].priority - b[0].priority).map(([n, v]) => `${n.name}=${v}`).join(' ') };
  };

  interface ModeResult {
    split: number;
    /** Rooms whose callers so far (on nodes still running) are on more than one node. */
    fragmented: number;
    restarted: number;
    spread: number;
    perNode: string;
  }
  interface StepResult {
    step: string;
    plain: ModeResult;
    pins: ModeResult;
  }
  const results: StepResult[] = [];

  const initialRows = (list: readonly Node[], disabled?: Node) => list.map((n) => ({ uri: n.uas.uri, priority: n.priority, flags: n === disabled ? DS_FLAG_DISABLED : 0 }));
  const [n1, n2, n3, n4, n5, n6] = nodes as [Node, Node, Node, Node, Node, Node];
  for (const n of [n4, n5, n6]) running.delete(n);
  await writeTable(initialRows([n1, n2, n3]), [kp, kq]);
  await Promise.all([flushPins(kp), flushPins(kq)]);
  const roomNode = { pins: await place(kp, 'p0-'), plain: await place(kq, 'q0-') };
  const nodesSoFar = {
    pins: new Map([...roomNode.pins].map(([room, n]) => [room, new Set([n])])),
    plain: new Map([...roomNode.plain].map(([room, n]) => [room, new Set([n])])),
  };
  {
    const sp = spread(roomNode.pins);
    const sq = spread(roomNode.plain);
    results.push({ step: 'first callers, 3 nodes', plain: { split: 0, fragmented: 0, restarted: 0, spread: sq.value, perNode: sq.perNode }, pins: { split: 0, fragmented: 0, restarted: 0, spread: sp.value, perNode: sp.perNode } });
  }

  const drained = n2;
  const killed = n3;
  const steps: { step: string; rows: Row[]; start?: Node[]; kill?: Node }[] = [
    { step: '3 -> 4 nodes', rows: initialRows([n1, n2, n3, n4]), start: [n4] },
    { step: '4 -> 6 nodes', rows: initialRows([n1, n2, n3, n4, n5, n6]), start: [n5, n6] },
    { step: `drain ${drained.name}`, rows: initialRows([n1, n2, n3, n4, n5, n6], drained) },
    { step: `kill ${killed.name}`, rows: initialRows([n1, n2, n4, n5, n6], drained), kill: killed },
  ];
  let stepNo = 0;
  for (const s of steps) {
    stepNo++;
    for (const n of s.start ?? []) running.add(n);
    await writeTable(s.rows, [kp, kq]);
    if (s.kill) {
      running.delete(s.kill);
      await s.kill.uas.stop();
    }
    await flushPins(kq);
    const placed = { pins: await place(kp, `p${stepNo}-`), plain: await place(kq, `q${stepNo}-`) };
    const result = (mode: 'pins' | 'plain'): ModeResult => {
      let split = 0;
      let restarted = 0;
      const own = roomNode[mode];
      for (const room of rooms) {
        const was = own.get(room);
        const now = placed[mode].get(room);
        if (!was || !now) throw new Error(`room ${room}: no node`);
        const so = nodesSoFar[mode].get(room) ?? new Set<Node>();
        if (!running.has(was)) {
          restarted++;
          own.set(room, now);
          so.clear();
        } else if (now !== was) split++;
        so.add(now);
        for (const n of so) if (!running.has(n)) so.delete(n);
        nodesSoFar[mode].set(room, so);
      }
      const fragmented = [...nodesSoFar[mode].values()].filter((set) => set.size > 1).length;
      const sp = spread(placed[mode]);
      return { split, fragmented, restarted, spread: sp.value, perNode: sp.perNode };
    };
    results.push({ step: s.step, plain: result('plain'), pins: result('pins') });
  }

  console.log('');
  console.log('rooms split at each step (of ' + ROOMS + ' rooms), and the spread of rooms per node');
  const head = ['step'.padEnd(24), 'plain alg 2: split %'.padStart(22), 'pins: split %'.padStart(16), 'restarted plain/pins'.padStart(20), 'on >1 node plain/pins'.padStart(21), 'spread plain'.padStart(13), 'spread pins'.padStart(12)];
  console.log(head.join(' | '));
  for (const r of results) {
    console.log(
      [
        r.step.padEnd(24),
        `${pct(r.plain.split, ROOMS)} (${r.plain.split})`.padStart(22),
        `${pct(r.pins.split, ROOMS)} (${r.pins.split})`.padStart(16),
        `${r.plain.restarted} / ${r.pins.restarted}`.padStart(20),
        `${r.plain.fragmented} / ${r.pins.fragmented}`.padStart(21),
        r.plain.spread.toFixed(2).padStart(13),
        r.pins.spread.toFixed(2).padStart(12),
      ].join(' | '),
    );
  }
  console.log('rooms per node (where each room\'s caller of the step went):');
  for (const r of results) console.log(`  ${r.step.padEnd(24)} plain: ${r.plain.perNode.padEnd(44)} pins: ${r.pins.perNode}`);

  // ---- 2. throughput --------------------------------------------------------------------
  for (const n of running) {
    running.delete(n);
    await n.uas.stop();
  }
  const load: LoadUas[] = [];
  for (let i = 0; i < 2; i++) {
    const u = await startLoadUas();
    cleanup.push(`sipp load UAS ${i + 1}`, () => u.stop());
    load.push(u);
  }
  await writeTable(
    load.map((u, i) => ({ uri: u.uri, priority: i + 1, flags: 0 })),
    [kp, kq],
  );
  console.log('');
  console.log(
    `part 2 method: through the "pins" Kamailio (k1: NATS on, 2 UDP workers), 2 answering sipp UAS without message trace; runs of ` +
      `${LOAD_CALLS} calls: plain, then ${LOAD_ROUNDS} rounds of rooms, hits, plain (each rooms run is compared with the plain runs just before and after it), sipp -r ${LOAD_RATE} -l ${LOAD_CONCURRENCY} -d 0 (rate far above capacity: concurrency-bound, so the machine is the limit)`,
  );
  console.log(
    `  each run starts once Kamailio's shared memory is back near its baseline: the harness gives it 64 MB (-m 64) and tm keeps each finished transaction ~5 s, so ~2,000 calls in 5 s fill it (500 "I'm terribly sorry" = out of shm)`,
  );
  console.log(`  plain = dialed ${GENERAL_NUMBER} (not a room: set 1, alg 4, no pin lookup)`);
  console.log('  hits  = the rooms run again right after it, pins kept: every call follows a pin (lookup only; printed beside the ratio)');
  console.log(
    `  rooms = dialed ${FIRST_ROOM}..${FIRST_ROOM + LOAD_ROOMS - 1} in turn, pins flushed before each run: ${(100 * NEW_SHARE).toFixed(0)}% of the calls make a pin (htable writes: the pin and its entry in the NATS queue the flush timer publishes), the rest follow one`,
  );
  console.log("  kamailio CPU/call = its process group's CPU from the run's start until tm freed the run's transactions (shm back near baseline, + 1 s), less its idle rate, / successful calls");
  console.log(
    '  calls/s middle 90% = INVITEs answered between the 5th and the 95th percentile of the answer instants (sipp -trace_rtt) / that span: the figure compared;',
  );
  console.log("  whole run = successful calls / sipp's run time (first to last statistics line; a straggler's 500 ms retransmission shows here). CPU from /proc (utime+stime)");

  interface Measured {
    run: LoadRun;
    kamCpu: number;
    /** Kamailio's CPU from the run's start until its transactions were freed, less its idle rate over the wait. */
    kamCpuAll: number;
    uasCpu: number;
    /** Busy CPU seconds of the whole machine over the run (every process, this bench's and others'). */
    machineBusy: number;
  }
  const shmUsed = async () => Number(((await kp.rpc('core.shmmem')) as { real_used?: unknown }).real_used);
  const shmBaseline = await shmUsed();
  let shmWaits = 0;
  /** Until tm's wait timer freed the previous run's transactions (bounded). */
  const shmSettled = async () => {
    const t = performance.now();
    await waitFor('kamailio shared memory back near its baseline', async () => (await shmUsed()) < shmBaseline + 8 * 1024 * 1024, 20_000, 250);
    shmWaits += performance.now() - t;
  };
  // Kamailio's own CPU rate while no call runs (timer processes, NATS, RPC polls of this bench).
  const idle0 = cpuSecondsOfGroup(kp.pid);
  const idleT = performance.now();
  await sleep(3000);
  const idleRate = (cpuSecondsOfGroup(kp.pid) - idle0) / ((performance.now() - idleT) / 1000);
  const measure = async (services: string[], calls: number, rate: number): Promise<Measured> => {
    await shmSettled();
    const k0 = cpuSecondsOfGroup(kp.pid);
    const u0 = load.reduce((s, u) => s + cpuSecondsOf(u.pid), 0);
    const m0 = machineCpuSeconds();
    const run = await runLoadUac({ target: `127.0.0.1:${kp.sipPort}`, services, calls, rate, concurrency: LOAD_CONCURRENCY, holdMs: 0 });
    const kamCpu = cpuSecondsOfGroup(kp.pid) - k0;
    if (run.failed > 0) process.stderr.write(`[bench] rooms: ${run.failed} of ${calls} calls failed; sipp's errors begin:\n${run.errors.slice(0, 1500)}\n`);
    const uasCpu = load.reduce((s, u) => s + cpuSecondsOf(u.pid), 0) - u0;
    const m1 = machineCpuSeconds();
    // /proc/stat counts from sipp's spawn to its exit, a little longer than sipp's own run time.
    const machineBusy = ((m1.busy - m0.busy) / Math.max(0.01, m1.total - m0.total)) * 2;
    // tm frees the run's transactions ~5 s later (wait timer): that work belongs to the calls too.
    const tRun = performance.now();
    await shmSettled();
    await sleep(1000);
    const kamCpuAll = cpuSecondsOfGroup(kp.pid) - k0 - (idleRate * (performance.now() - tRun)) / 1000;
    return { run, kamCpu, kamCpuAll, uasCpu, machineBusy };
  };
  const roomServices = (calls: number) => Array.from({ length: calls }, (_, i) => String(FIRST_ROOM + (i % LOAD_ROOMS)));
  const plainServices = [GENERAL_NUMBER];
  // Warm-up (not measured): the first calls after start fill caches and sockets.
  await measure(plainServices, 300, LOAD_RATE);
  // plain, rooms, hits, plain, rooms, hits, ..., plain: every rooms (and hits) run is compared
  // with the plain runs just before and just after it. The machine's speed drifts (on this
  // shared VM the same workload's Kamailio CPU per call moves up to 2x between minutes), so a
  // ratio of medians over far-apart runs mostly measures the drift; paired ratios do not.
  const plainRuns: Measured[] = [];
  const roomRuns: Measured[] = [];
  const hitRuns: Measured[] = [];
  plainRuns.push(await measure(plainServices, LOAD_CALLS, LOAD_RATE));
  for (let r = 0; r < LOAD_ROUNDS; r++) {
    await flushPins(kp);
    roomRuns.push(await measure(roomServices(LOAD_CALLS), LOAD_CALLS, LOAD_RATE));
    // every room of the rooms run is pinned by now: each call follows a pin
    hitRuns.push(await measure(roomServices(LOAD_CALLS), LOAD_CALLS, LOAD_RATE));
    plainRuns.push(await measure(plainServices, LOAD_CALLS, LOAD_RATE));
  }
  await flushPins(kp);
  const pacedRooms = await measure(roomServices(PACED_CALLS), PACED_CALLS, PACED_RATE);
  const pacedPlain = await measure(plainServices, PACED_CALLS, PACED_RATE);

  const median = (v: number[]) => {
    const s = [...v].sort((a, b) => a - b);
    const mid = s.length / 2;
    return s.length % 2 === 1 ? (s[Math.floor(mid)] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
  };
  const describe = (m: Measured) => {
    const wall = m.run.seconds;
    return (
      `${m.run.middleCps.toFixed(0).padStart(5)} calls/s middle 90%, ${m.run.cps.toFixed(0).padStart(5)} whole run (${m.run.successful}/${m.run.calls} ok in ${wall.toFixed(2)} s)  ` +
      `CPU: kamailio ${((100 * m.kamCpu) / wall).toFixed(0)}%, sipp UAC ${((100 * m.run.uacCpuSeconds) / wall).toFixed(0)}%, UAS ${((100 * m.uasCpu) / wall).toFixed(0)}% of one core; ` +
      `machine ${m.machineBusy.toFixed(2)} of 2 cores busy; kamailio ${((1000 * m.kamCpuAll) / Math.max(1, m.run.successful)).toFixed(3)} ms CPU/call`
    );
  };
  console.log('');
  console.log(`  before    plain  ${describe(plainRuns[0] as Measured)}`);
  const pairedRooms: number[] = [];
  const pairedHits: number[] = [];
  for (let i = 0; i < LOAD_ROUNDS; i++) {
    const q = roomRuns[i];
    const h = hitRuns[i];
    const before = plainRuns[i];
    const after = plainRuns[i + 1];
    if (!q || !h || !before || !after) continue;
    const around = (before.run.middleCps + after.run.middleCps) / 2;
    pairedRooms.push(q.run.middleCps / around);
    pairedHits.push(h.run.middleCps / around);
    console.log(`  round ${i + 1} rooms  ${describe(q)}`);
    console.log(`  round ${i + 1} hits   ${describe(h)}`);
    console.log(`  round ${i + 1} plain  ${describe(after)}`);
    console.log(`  round ${i + 1}: rooms / plain around it ${(q.run.middleCps / around).toFixed(3)}, hits / plain around it ${(h.run.middleCps / around).toFixed(3)}`);
  }
  console.log(`  paced ${PACED_RATE}/s plain  ${describe(pacedPlain)}`);
  console.log(`  paced ${PACED_RATE}/s rooms  ${describe(pacedRooms)}`);
  const plainCps = median(plainRuns.map((m) => m.run.middleCps));
  const roomCps = median(roomRuns.map((m) => m.run.middleCps));
  const plainWhole = median(plainRuns.map((m) => m.run.cps));
  const roomWhole = median(roomRuns.map((m) => m.run.cps));
  /** The figure compared: the median over rounds of rooms / the mean of the two plain runs around it. */
  const ratio = median(pairedRooms);
  const kamPerCall = (ms: Measured[]) => median(ms.map((m) => (1000 * m.kamCpuAll) / Math.max(1, m.run.successful)));
  const failedLoad = [...plainRuns, ...roomRuns, ...hitRuns, pacedPlain, pacedRooms].reduce((s, m) => s + m.run.failed, 0);
  const busy = (ms: Measured[]) => median(ms.map((m) => (m.kamCpu + m.uasCpu + m.run.uacCpuSeconds) / m.run.seconds));
  console.log('');
  console.log(line('throughput plain (median, middle 90%)', `${plainCps.toFixed(0)} calls/s`));
  console.log(line('throughput rooms (median, middle 90%)', `${roomCps.toFixed(0)} calls/s`));
  console.log(
    line(
      'ratio rooms / plain around it (median of rounds)',
      `${ratio.toFixed(3)} (target >= ${TARGET_RATIO}); rounds ${Math.min(...pairedRooms).toFixed(3)}..${Math.max(...pairedRooms).toFixed(3)}`,
    ),
  );
  console.log(
    line('ratio hits / plain around it (median of rounds)', `${median(pairedHits).toFixed(3)}; rounds ${Math.min(...pairedHits).toFixed(3)}..${Math.max(...pairedHits).toFixed(3)}`),
  );
  console.log(line('ratio of the medians rooms / plain (unpaired)', `${(roomCps / plainCps).toFixed(3)}`));
  console.log(line('whole-run figures plain / rooms (median)', `${plainWhole.toFixed(0)} / ${roomWhole.toFixed(0)} calls/s, ratio ${(roomWhole / plainWhole).toFixed(3)}`));
  console.log(
    line(
      'kamailio CPU per call plain / rooms (median)',
      `${kamPerCall(plainRuns).toFixed(3)} / ${kamPerCall(roomRuns).toFixed(3)} ms; plain/rooms ${(kamPerCall(plainRuns) / kamPerCall(roomRuns)).toFixed(3)} (what the ratio would be were Kamailio's CPU the only limit)`,
    ),
  );
  const hitsCpu = kamPerCall(hitRuns);
  console.log(
    line(
      'rooms all pinned (hits): calls/s, CPU/call',
      `${median(hitRuns.map((m) => m.run.middleCps)).toFixed(0)} calls/s, ${hitsCpu.toFixed(3)} ms; so a new room's call ~${((kamPerCall(roomRuns) - (1 - NEW_SHARE) * hitsCpu) / NEW_SHARE).toFixed(3)} ms (derived: rooms = ${(100 * NEW_SHARE).toFixed(0)}% new + the rest hits)`,
    ),
  );
  console.log(line('kamailio idle CPU (subtracted over the waits)', `${(100 * idleRate).toFixed(1)}% of one core`));
  console.log(line('CPU busy (kamailio + sipp) plain / rooms', `${busy(plainRuns).toFixed(2)} / ${busy(roomRuns).toFixed(2)} cores of 2`));
  const machine = median([...plainRuns, ...roomRuns].map((m) => m.machineBusy));
  console.log(line('machine CPU busy during the runs (median)', `${machine.toFixed(2)} cores of 2 (includes processes outside this bench)`));
  const range = (ms: Measured[]) => `${Math.min(...ms.map((m) => m.run.middleCps)).toFixed(0)}..${Math.max(...ms.map((m) => m.run.middleCps)).toFixed(0)}`;
  console.log(line('range over rounds plain / rooms', `${range(plainRuns)} / ${range(roomRuns)} calls/s`));
  console.log(
    line(
      'what limited it',
      machine >= 1.8
        ? `the 2 cores: the machine was busy (${machine.toFixed(2)} of 2) while sipp asked for ${LOAD_RATE} calls/s`
        : `not the CPU alone (${machine.toFixed(2)} of 2 busy): scheduling latency on a shared machine x sipp's ${LOAD_CONCURRENCY} calls in flight`,
    ),
  );
  console.log(line('failed calls in all load runs', failedLoad));
  console.log(line('kamailio shm: total / baseline used', `${(((await kp.rpc('core.shmmem')) as { total: number }).total / 1048576).toFixed(0)} MB / ${(shmBaseline / 1048576).toFixed(1)} MB`));
  console.log(line('waited for shm to free between runs', `${(shmWaits / 1000).toFixed(1)} s`));

  // ---- 3. pin propagation ---------------------------------------------------------------
  for (const u of load.splice(0)) await u.stop();
  const k2 = await kamailio('k2', natsEnv('k2'));
  await waitFor('both kamailios subscribed to NATS', () => /nats:connected/.test(kp.output()) && /nats:connected/.test(k2.output()), 10_000, 50).catch(() => {
    /* the log line is informational; the figures below show whether pins arrive */
  });
  const reject = await startSippUas({ responseCode: 486, lifetimeMs: 600_000 });
  cleanup.push('sipp UAS (486)', () => reject.stop());
  await writeTable([{ uri: reject.uri, priority: 1, flags: 0 }], [kp, kq, k2]);
  await Promise.all([flushPins(kp), flushPins(k2)]);

  const heard = new Map<string, { at: number; pinAt: number }>();
  const bus = await connect({ servers: nats.url, name: 'bench-rooms-observer', timeout: 5000 });
  cleanup.push('bench NATS connection', () => bus.drain());
  const sub = bus.subscribe(pinsSubject, {
    callback: (err, msg) => {
      if (err) return;
      const t = wallNow();
      try {
        const body = JSON.parse(msg.string()) as { key?: string; at?: number; by?: string };
        if (body.by === 'k1' && body.key && !heard.has(body.key)) heard.set(body.key, { at: t, pinAt: Number(body.at) });
      } catch {
        /* not a pin */
      }
    },
  });
  await bus.flush();
  const raw = await startRawSipClient();
  cleanup.push('raw SIP client', () => raw.close());

  console.log('');
  console.log(
    `part 3 method: k1 (the "pins" Kamailio) and k2, both with SBC_NATS_URL + SBC_NATS_PINS_SUBSCRIPTION=${pinsSubject}:<id>; ${PROPAGATION_ROOMS} new rooms one after the other: ` +
      'an INVITE for the room to k1 (the node answers 486: the pin is made before relaying and stays), the bench polls k2\'s htable.get pins <room> every 1 ms until it shows the pin, ' +
      'and timestamps the pin\'s arrival on the pins subject as a third NATS subscriber. Wall clock of this machine on both sides; the pin\'s at= is whole ms.',
  );
  const sentToK2: number[] = [];
  const atToK2: number[] = [];
  const sentToNats: number[] = [];
  const atToNats: number[] = [];
  const pollRtt: number[] = [];
  const sentAt = new Map<string, number>();
  let missing = 0;
  for (let i = 0; i < PROPAGATION_ROOMS; i++) {
    const room = String(FIRST_ROOM + i);
    const t0 = wallNow();
    const call = raw.invite({ proxyPort: kp.sipPort, ruri: `sip:${room}@127.0.0.1:${kp.sipPort}`, fromUser: `prop${i}`, timeoutMs: 5000 });
    let seen: { at: number; value: string } | undefined;
    const deadline = t0 + 3000;
    while (wallNow() < deadline) {
      const q0 = wallNow();
      const ans = await k2.rpcRaw('htable.get', ['pins', room]);
      const q1 = wallNow();
      pollRtt.push(q1 - q0);
      const value = (ans.body as { result?: { item?: { value?: unknown } } }).result?.item?.value;
      if (typeof value === 'string') {
        seen = { at: q1, value };
        break;
      }
      await sleep(1);
    }
    const final = await call;
    if (final.final.status !== 486) throw new Error(`room ${room}: k1 answered ${final.final.status}, not the node's 486`);
    if (!seen) {
      missing++;
      continue;
    }
    const pinAt = Number(/;at=(\d+)/.exec(seen.value)?.[1] ?? NaN);
    sentToK2.push(seen.at - t0);
    atToK2.push(seen.at - pinAt);
    sentAt.set(room, t0);
  }
  await sleep(200);
  sub.unsubscribe();
  for (const [room, t0] of sentAt) {
    const h = heard.get(room);
    if (h) {
      sentToNats.push(h.at - t0);
      atToNats.push(h.at - h.pinAt);
    }
  }
  const pSent = distribution(sentToK2);
  const pAt = distribution(atToK2);
  console.log('');
  console.log(distributionLine('INVITE to k1 -> pin at k2', pSent, 2));
  console.log(distributionLine('pin at= (k1) -> pin at k2', pAt, 2));
  console.log(distributionLine('INVITE to k1 -> on NATS', distribution(sentToNats), 2));
  console.log(distributionLine('pin at= (k1) -> on NATS', distribution(atToNats), 2));
  console.log(line('k2 htable.get poll round trip (mean)', `${(pollRtt.reduce((s, v) => s + v, 0) / Math.max(1, pollRtt.length)).toFixed(2)} ms`));
  console.log(line('pins never seen at k2 within 3 s / heard on NATS', `${missing} / ${heard.size} of ${PROPAGATION_ROOMS}`));

  const maxPlainSplit = Math.max(...results.slice(1).map((r) => r.plain.split));
  const maxPinsSplit = Math.max(...results.slice(1).map((r) => r.pins.split));
  const pass = ratio >= TARGET_RATIO && failedLoad === 0 && missing === 0;
  console.log(
    verdict(
      'rooms',
      pass,
      `throughput rooms/plain ${ratio.toFixed(3)} (target >= ${TARGET_RATIO}; Kamailio CPU per call plain/rooms ${(kamPerCall(plainRuns) / kamPerCall(roomRuns)).toFixed(3)}); split per step: pins at most ${pct(maxPinsSplit, ROOMS)}, plain alg 2 up to ${pct(maxPlainSplit, ROOMS)}; ` +
        `pin propagation k1 -> k2 p50 ${pSent.p50.toFixed(1)} ms, p99 ${pSent.p99.toFixed(1)} ms`,
    ),
  );
});

