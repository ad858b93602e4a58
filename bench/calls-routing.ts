import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { subjects } from '../src/events/subjects.js';
import { migrate } from '../src/postgres/migrations.js';
import { startKamailio, type KamailioInstance } from '../test/support/kamailio.js';
import { waitFor } from '../test/support/process.js';
import { createPostgresDatabase, startNats } from '../test/support/services.js';
import { line, verdict } from './figures.js';
import { runBench } from './run.js';
import { cpuSecondsOfGroup, runLoadUac, startLoadUas, type LoadRun, type LoadUas } from './sippLoad.js';

/**
 * What publishing routing decisions costs Kamailio (call correlation): sipp calls per second
 * through two Kamailios of the same config, one with SBC_NATS_ROUTE_SUBJECT (every initial
 * INVITE's decision queued and published in batches by the flush timer, X-SBC-Decision
 * stamped on the relayed INVITE), one without it; both connected to the same NATS (the pin
 * subscription alike). Runs alternate: plain, then ROUNDS rounds of decisions, plain; each
 * decisions run is compared with the plain runs just before and after it, since this shared
 * machine's speed drifts between minutes (bench/rooms.ts measured up to 2x). Every decision
 * published is counted on NATS: none may be lost.
 */
const CALLS = Number(process.env.BENCH_CALLS_ROUTING_CALLS ?? 1500);
const ROUNDS = Number(process.env.BENCH_CALLS_ROUTING_ROUNDS ?? 7);
const RATE = 5000;
const CONCURRENCY = 50;
const MAX_COST = 0.05;
const PREFIX = 'bench';

const median = (v: readonly number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const mid = s.length / 2;
  return s.length % 2 === 1 ? (s[Math.floor(mid)] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
};

await runBench('calls-routing', 10 * 60_000, async (cleanup) => {
  process.env.TEST_NO_DOCKER ??= '1';
  const nats = await startNats({ ownProcessGroup: true });
  cleanup.push('nats-server', () => nats.stop());
  const db = await createPostgresDatabase();
  cleanup.push('postgres database', () => db.stop());
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  cleanup.push('postgres pool', () => pool.end());
  await migrate(pool);
  const s = subjects(PREFIX);
  const env = (id: string, decisions: boolean) => ({
    SBC_NATS_URL: nats.url,
    SBC_NATS_PINS_SUBSCRIPTION: `${s.kamailioPins}:${id}`,
    SBC_KAMAILIO_ID: id,
    ...(decisions ? { SBC_NATS_ROUTE_SUBJECT: s.kamailioRoute(id) } : {}),
  });
  const kamailio = async (id: string, decisions: boolean) => {
    const k = await startKamailio({ dbUrl: db.url, env: env(id, decisions) });
    cleanup.push(`kamailio ${id}`, () => k.stop());
    return k;
  };
  const [kd, kp] = await Promise.all([kamailio('decide', true), kamailio('plain', false)]);
  const load: LoadUas[] = [];
  for (let i = 0; i < 2; i++) {
    const u = await startLoadUas();
    cleanup.push(`sipp load UAS ${i + 1}`, () => u.stop());
    load.push(u);
  }
  for (const setid of [1, 2, 3]) for (const [i, u] of load.entries()) await pool.query('INSERT INTO dispatcher (setid, destination, priority) VALUES ($1, $2, $3)', [setid, u.uri, i + 1]);
  await Promise.all([kd, kp].map((k) => k.reloadDispatcher(10_000)));

  // Every decision Kamailio publishes, counted (attempts: one per call here, no failover).
  const nc = await connect({ servers: nats.url });
  cleanup.push('nats connection', () => nc.close());
  let heard = 0;
  nc.subscribe(s.kamailioRoute('decide'), {
    callback: (_e, m) => {
      heard += (JSON.parse(m.string()) as { decisions: unknown[] }).decisions.length;
    },
  });
  await nc.flush();

  console.log('setup: private NATS and Postgres, Kamailio 5.6.3 x2 (kamailio.cfg + routing.lua, 2 UDP workers each), 2 answering sipp UAS without message trace, on loopback');
  console.log(`method: runs of ${CALLS} calls to 5000 (set 1, alg 4), sipp -r ${RATE} -l ${CONCURRENCY} -d 0 (concurrency-bound: the machine is the limit); plain, then ${ROUNDS} rounds of decisions, plain`);
  console.log('  decisions = the Kamailio with SBC_NATS_ROUTE_SUBJECT; plain = the same config without it; each run starts once the previous run\'s transactions are freed');
  console.log('  calls/s middle 90% = INVITEs answered between the 5th and 95th percentile of the answer instants / that span (bench/sippLoad.ts)');

  const shmUsed = async (k: KamailioInstance) => Number(((await k.rpc('core.shmmem')) as { real_used?: unknown }).real_used);
  const baseline = new Map<KamailioInstance, number>([[kd, await shmUsed(kd)], [kp, await shmUsed(kp)]]);
  interface Measured {
    run: LoadRun;
    kamCpuPerCall: number;
  }
  const measure = async (k: KamailioInstance): Promise<Measured> => {
    await waitFor('kamailio shared memory back near its baseline', async () => (await shmUsed(k)) < (baseline.get(k) ?? 0) + 8 * 1024 * 1024, 20_000, 250);
    const c0 = cpuSecondsOfGroup(k.pid);
    const run = await runLoadUac({ target: `127.0.0.1:${k.sipPort}`, services: ['5000'], calls: CALLS, rate: RATE, concurrency: CONCURRENCY, holdMs: 0 });
    if (run.failed > 0) process.stderr.write(`[bench] calls-routing: ${run.failed} of ${CALLS} calls failed\n`);
    return { run, kamCpuPerCall: (1000 * (cpuSecondsOfGroup(k.pid) - c0)) / Math.max(1, run.successful) };
  };
  await measure(kp);
  await measure(kd);
  const heardBefore = heard;
  const plain: Measured[] = [await measure(kp)];
  const decide: Measured[] = [];
  const paired: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    decide.push(await measure(kd));
    plain.push(await measure(kp));
    const around = (plain[r]!.run.middleCps + plain[r + 1]!.run.middleCps) / 2;
    paired.push(decide[r]!.run.middleCps / around);
    console.log(
      `  round ${r + 1}: decisions ${decide[r]!.run.middleCps.toFixed(0)} calls/s (${decide[r]!.kamCpuPerCall.toFixed(3)} ms CPU/call), plain around it ${around.toFixed(0)} calls/s: ratio ${paired[r]!.toFixed(3)}`,
    );
  }
  await sleep(500);
  const published = heard - heardBefore;
  const made = decide.reduce((n, m) => n + m.run.successful + m.run.failed, 0);
  const ratio = median(paired);
  const failed = [...plain, ...decide].reduce((n, m) => n + m.run.failed, 0);
  console.log('');
  console.log(line('throughput plain / decisions (median)', `${median(plain.map((m) => m.run.middleCps)).toFixed(0)} / ${median(decide.map((m) => m.run.middleCps)).toFixed(0)} calls/s`));
  console.log(line('ratio decisions / plain around it (median)', `${ratio.toFixed(3)}; rounds ${Math.min(...paired).toFixed(3)}..${Math.max(...paired).toFixed(3)}`));
  console.log(line('kamailio CPU per call plain / decisions', `${median(plain.map((m) => m.kamCpuPerCall)).toFixed(3)} / ${median(decide.map((m) => m.kamCpuPerCall)).toFixed(3)} ms`));
  console.log(line('decisions heard on NATS / calls placed', `${published} / ${made}`));
  console.log(line('failed calls', failed));
  console.log(verdict('calls-routing', 1 - ratio < MAX_COST && published === made, `decisions cost ${((1 - ratio) * 100).toFixed(1)} % of throughput (target < ${MAX_COST * 100} %); ${published}/${made} decisions published`));
});
