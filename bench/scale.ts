import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import pino from 'pino';
import { loadControlPlaneConfig } from '../src/config/controlPlane.js';
import { startControlPlane } from '../src/controlPlane.js';
import { migrate } from '../src/postgres/migrations.js';
import { startKamailio } from '../test/support/kamailio.js';
import { waitFor } from '../test/support/process.js';
import { controlPlaneServiceEnv, createPostgresDatabase, startNats, startRedis } from '../test/support/services.js';
import { StandinPool } from '../test/support/standinPool.js';
import { distribution, distributionLine, line, verdict } from './figures.js';
import { runBench } from './run.js';
import { runLoadUac } from './sippLoad.js';

/**
 * Scale-up latency (issue 9): the control plane in this process with the `command`
 * provisioner, one real Kamailio, FreeSWITCH stand-ins with the shipped agents (heartbeat
 * 500 ms) started by the command's orchestrator (test/support/standinPool.ts), sipp calls
 * throughout. Each round scales 3 -> 6 under 60 calls/s and measures, from POST /v1/scale
 * returning:
 *   - provisioner asked: the scale step ran the command;
 *   - joined: the new nodes' agents announced them (stand-in and agent start included);
 *   - active: every new node in every Kamailio (the dispatcher reload);
 *   - share: the first 1 s window in which each new node took at least 80 % of its share
 *     (1/6) of the INVITEs, counted at the stand-ins' SIP side;
 * then scales back to 3 (drained first, then removed) for the next round.
 */
const ROUNDS = Number(process.env.BENCH_SCALE_ROUNDS ?? 5);
const PREFIX = `scale${randomBytes(2).toString('hex')}`;

await runBench('scale', 10 * 60_000, async (cleanup) => {
  process.env.TEST_NO_DOCKER ??= '1';
  const [nats, redis, db] = await Promise.all([startNats({ ownProcessGroup: true }), startRedis({ ownProcessGroup: true }), createPostgresDatabase()]);
  cleanup.push('services', () => Promise.allSettled([nats.stop(), redis.stop(), db.stop()]));
  const pgPool = new pg.Pool({ connectionString: db.url });
  await migrate(pgPool);
  await pgPool.end();
  const k = await startKamailio({ dbUrl: db.url, frTimerMs: 4000 });
  cleanup.push('kamailio', () => k.stop());
  const pool = await StandinPool.start({ natsUrl: nats.url, prefix: PREFIX });
  cleanup.push('stand-ins', () => pool.stop());
  const cp = await startControlPlane(
    loadControlPlaneConfig({
      ...controlPlaneServiceEnv({ nats, redis, db, prefix: PREFIX, kamailioRpcUrls: [k.rpcUrl] }),
      SBC_RELOAD_DELTA_MS: '1000',
      SBC_RESYNC_MS: '2000',
      SBC_CALLS_INGEST: 'off',
      SBC_PROVISIONER: 'command',
      SBC_SCALE_COMMAND: pool.command,
      SBC_SCALE_RETRY_MS: '5000',
    }),
    pino({ level: 'warn' }),
  );
  cleanup.push('control plane', () => cp.stop());
  for (let i = 0; i < 3; i++) await pool.startMachine();
  const api = cp.app;
  type View = { nodeId: string; machineId: string; state: string; joinedAt: string; stateChangedAt: string };
  const listNodes = async () => (await api.inject('/v1/nodes')).json<{ nodes: View[] }>().nodes.filter((n) => n.state !== 'gone');
  const scale = async (replicas: number) => {
    const r = await api.inject({ method: 'POST', url: '/v1/scale', headers: { 'content-type': 'application/json' }, payload: { replicas } });
    if (r.statusCode !== 202) throw new Error(`scale: ${r.statusCode} ${r.body}`);
    return Date.now();
  };
  const settled = async (n: number) => {
    const s = (await api.inject('/v1/scale')).json<{ settled: boolean; nodes: unknown[] }>();
    return s.settled && s.nodes.length === n && pool.machines.size === n;
  };
  await waitFor('3 active nodes', async () => (await listNodes()).filter((n) => n.state === 'active').length === 3, 30_000);
  await waitFor('leader', () => cp.election.isLeader(), 10_000);
  await scale(3);
  await waitFor('settled at 3', () => settled(3), 20_000);

  console.log('setup: private NATS, Redis, Postgres, Kamailio 5.6.3 (kamailio.cfg + routing.lua), control plane in this process with SBC_PROVISIONER=command, FreeSWITCH stand-ins with the shipped agents (heartbeat 500 ms) started by the command\'s orchestrator, on loopback');
  console.log(`method: ${ROUNDS} rounds; each scales 3 -> 6 while sipp places 60 calls/s of 500 ms, then back to 3`);
  const asked: number[] = [];
  const joined: number[] = [];
  const active: number[] = [];
  const share: number[] = [];
  let failedCalls = 0;
  let removedUndrained = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const before = new Set(pool.machines.keys());
    const requestsBefore = pool.requests.length;
    const load = runLoadUac({ target: `127.0.0.1:${k.sipPort}`, services: ['9000'], calls: 900, rate: 60, concurrency: 200, holdMs: 500 });
    await sleep(1000);
    const t0 = await scale(6);
    await waitFor('6 active nodes', async () => (await listNodes()).filter((n) => n.state === 'active').length === 6, 30_000, 5);
    const fresh = [...pool.machines.values()].filter((m) => !before.has(m.machineId));
    const views = (await listNodes()).filter((n) => fresh.some((m) => m.machineId === n.machineId));
    asked.push((pool.requests[requestsBefore]?.at ?? t0) - t0);
    joined.push(Math.max(...views.map((v) => Date.parse(v.joinedAt))) - t0);
    active.push(Math.max(...views.map((v) => Date.parse(v.stateChangedAt))) - t0);
    const run = await load;
    failedCalls += run.failed;
    // INVITEs per 1 s window from t0; the first window where every new node took >= 80 % of 1/6.
    const all = [...pool.machines.values()].flatMap((m) => m.fs.calls.filter((c) => c.receivedAt >= t0).map((c) => ({ m: m.machineId, at: c.receivedAt })));
    let found: number | undefined;
    for (let w = 0; w < 15 && found === undefined; w++) {
      const inWindow = all.filter((c) => c.at >= t0 + w * 1000 && c.at < t0 + (w + 1) * 1000);
      if (inWindow.length < 30) continue;
      if (fresh.every((m) => inWindow.filter((c) => c.m === m.machineId).length >= 0.8 * (inWindow.length / 6))) found = (w + 1) * 1000;
    }
    share.push(found ?? Number.NaN);
    const downRequests = pool.requests.length;
    await scale(3);
    await waitFor('settled at 3', () => settled(3), 60_000, 20);
    removedUndrained += pool.requests.slice(downRequests).flatMap((q) => q.remove).length === 3 ? 0 : 1;
  }
  const a = distribution(asked);
  const j = distribution(joined);
  const act = distribution(active);
  const s = distribution(share.filter((x) => !Number.isNaN(x)));
  console.log(distributionLine('scale returned -> provisioner command run', a));
  console.log(distributionLine('scale returned -> last new node joined (stand-in + agent start)', j));
  console.log(distributionLine('scale returned -> last new node active in Kamailio', act));
  console.log(distributionLine('scale returned -> end of the first 1 s window where each new node took >= 80 % of its share', s, 0));
  console.log(line('rounds where the share was never reached within 15 s', share.filter((x) => Number.isNaN(x)).length));
  console.log(line('failed calls (of all rounds, scale-downs included)', failedCalls));
  console.log(line('scale-downs that did not remove exactly the 3 drained nodes', removedUndrained));
  console.log(verdict('scale', failedCalls === 0 && share.every((x) => !Number.isNaN(x)), `3 -> 6: new nodes active p99 ${act.p99.toFixed(0)} ms, carrying their share p99 ${s.p99.toFixed(0)} ms after the call; ${failedCalls} failed calls`));
});
