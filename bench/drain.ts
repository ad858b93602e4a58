import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import pino from 'pino';
import { loadControlPlaneConfig } from '../src/config/controlPlane.js';
import { startControlPlane } from '../src/controlPlane.js';
import { migrate } from '../src/postgres/migrations.js';
import { startAgentProcess } from '../test/support/agentProcess.js';
import { startKamailio } from '../test/support/kamailio.js';
import { waitFor } from '../test/support/process.js';
import { controlPlaneServiceEnv, createPostgresDatabase, startNats, startRedis } from '../test/support/services.js';
import { startStandin, type Standin } from '../test/standin/standin.js';
import { distribution, distributionLine, line, verdict } from './figures.js';
import { runBench } from './run.js';
import { runLoadUac } from './sippLoad.js';

/**
 * Drain latency (issue 9): the control plane in this process, one real Kamailio, 3 FreeSWITCH
 * stand-ins with the shipped agents (heartbeat 500 ms), sipp calls throughout. Each round
 * drains one node under a steady stream of short calls and measures, from the stand-in's SIP
 * side:
 *   - cut-off: from `POST /v1/nodes/{id}/drain` returning to the last INVITE that still reached
 *     the node (0 when none did after the return);
 *   - drained: from the node's last call ending (its BYE answered) to the stored change to
 *     `drained` (its agent's next heartbeat, or the 10 s FreeSWITCH check);
 * then undrains it and waits until it takes calls again.
 */
const ROUNDS = Number(process.env.BENCH_DRAIN_ROUNDS ?? 20);
const TARGET_CUTOFF_MS = 100;
const PREFIX = `drain${randomBytes(2).toString('hex')}`;

await runBench('drain', 10 * 60_000, async (cleanup) => {
  process.env.TEST_NO_DOCKER ??= '1';
  const [nats, redis, db] = await Promise.all([startNats({ ownProcessGroup: true }), startRedis({ ownProcessGroup: true }), createPostgresDatabase()]);
  cleanup.push('services', () => Promise.allSettled([nats.stop(), redis.stop(), db.stop()]));
  const pool = new pg.Pool({ connectionString: db.url });
  await migrate(pool);
  await pool.end();
  const k = await startKamailio({ dbUrl: db.url, frTimerMs: 4000 });
  cleanup.push('kamailio', () => k.stop());
  const cp = await startControlPlane(
    loadControlPlaneConfig({ ...controlPlaneServiceEnv({ nats, redis, db, prefix: PREFIX, kamailioRpcUrls: [k.rpcUrl] }), SBC_RELOAD_DELTA_MS: '1000', SBC_RESYNC_MS: '2000', SBC_CALLS_INGEST: 'off' }),
    pino({ level: 'warn' }),
  );
  cleanup.push('control plane', () => cp.stop());
  const nodes: Standin[] = [];
  for (let i = 0; i < 3; i++) {
    const fs = await startStandin({ toneMs: 0 });
    cleanup.push(`stand-in ${i + 1}`, () => fs.stop());
    const agent = startAgentProcess(fs, { natsUrl: nats.url, prefix: PREFIX, heartbeatMs: 500, eslTimeoutMs: 400, env: { SBC_PROBES_BEFORE_LOST: '3' } });
    cleanup.push(`agent ${i + 1}`, () => agent.stop('SIGKILL'));
    nodes.push(fs);
  }
  const api = cp.app;
  const listNodes = async () => (await api.inject('/v1/nodes')).json<{ nodes: { nodeId: string; sipUri: string; state: string }[] }>().nodes;
  await waitFor('3 active nodes', async () => (await listNodes()).filter((n) => n.state === 'active').length === 3, 30_000);
  await waitFor('leader', () => cp.election.isLeader(), 10_000);

  console.log('setup: private NATS, Redis, Postgres, Kamailio 5.6.3 (kamailio.cfg + routing.lua), control plane in this process, 3 FreeSWITCH stand-ins with the shipped agents (heartbeat 500 ms), on loopback');
  console.log(`method: ${ROUNDS} rounds; each drains one node (in turn) while sipp places 100 calls/s of 300 ms, then undrains it once it is drained`);

  const cutoff: number[] = [];
  const drained: number[] = [];
  let lateInvites = 0;
  let failedCalls = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const fs = nodes[r % nodes.length]!;
    const id = (await listNodes()).find((n) => n.sipUri === fs.sipUri && n.state !== 'gone')!.nodeId;
    const load = runLoadUac({ target: `127.0.0.1:${k.sipPort}`, services: ['9000'], calls: 300, rate: 100, concurrency: 100, holdMs: 300 });
    await sleep(1000);
    const res = await api.inject({ method: 'POST', url: `/v1/nodes/${id}/drain` });
    const returnedAt = Date.now();
    if (res.statusCode !== 200) throw new Error(`drain: ${res.statusCode} ${res.body}`);
    const run = await load;
    failedCalls += run.failed;
    const after = fs.calls.filter((c) => c.receivedAt > returnedAt);
    lateInvites += after.length;
    cutoff.push(after.length === 0 ? 0 : Math.max(...after.map((c) => c.receivedAt)) - returnedAt);
    await waitFor('every call on the node over', () => fs.calls.every((c) => c.endedAt !== undefined), 20_000);
    const lastEnd = Math.max(...fs.calls.map((c) => c.endedAt ?? 0));
    // The stored moment of the change (stateChangedAt), not when this loop looked: the load
    // keeps the bench busy for seconds after the node's last call.
    let drainedAt = 0;
    await waitFor('drained', async () => {
      const v = (await api.inject(`/v1/nodes/${id}`)).json<{ state: string; stateChangedAt: string }>();
      drainedAt = Date.parse(v.stateChangedAt);
      return v.state === 'drained';
    }, 20_000, 5);
    drained.push(drainedAt - lastEnd);
    await api.inject({ method: 'POST', url: `/v1/nodes/${id}/undrain` });
    await waitFor('active again', async () => (await api.inject(`/v1/nodes/${id}`)).json<{ state: string }>().state === 'active', 10_000);
  }
  const c = distribution(cutoff);
  const d = distribution(drained);
  console.log(distributionLine('drain returned -> last INVITE at the node', c));
  console.log(distributionLine('last call ended -> drained', d));
  console.log(line('INVITEs that reached a node after its drain returned', lateInvites));
  console.log(line('failed calls (of all rounds)', failedCalls));
  console.log(verdict('drain', c.p99 <= TARGET_CUTOFF_MS && failedCalls === 0, `no new call p99 ${c.p99.toFixed(1)} ms after the drain returned (target <= ${TARGET_CUTOFF_MS} ms; ${lateInvites} late INVITEs); drained p99 ${d.p99.toFixed(0)} ms after the last call ended; ${failedCalls} failed calls`));
});
