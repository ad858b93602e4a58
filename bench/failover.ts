import { setTimeout as sleep } from 'node:timers/promises';
import { loadControlPlaneConfig } from '../src/config/controlPlane.js';
import { leaseTimings } from '../src/leader/lease.js';
import { agreedLeader, startReplica, type ReplicaProcess } from '../test/support/replicaProcess.js';
import { waitFor } from '../test/support/process.js';
import { AGENT_DEFAULT_HEARTBEAT_MS, SIMULATION_NOTE, SimulatedFleet } from './agents.js';
import { distribution, distributionLine, line, ms, verdict } from './figures.js';
import { runBench } from './run.js';
import { benchLogPath, controlPlaneEnv, startServices } from './testbed.js';

/**
 * Leader failover: three control plane replicas, each its own process (src/main.ts) with the
 * default lease and renew; simulated nodes heartbeat. Ten times: kill -9 the leader, publish
 * a join at once, and measure from the kill until (a) another replica logs 'elected leader'
 * and (b) Kamailio's dispatcher.list selects the new node in every set (the first reconcile
 * by the new leader that changed routing); then restart the killed replica and let the
 * cluster settle (three live replicas, one leader all agree on).
 */
const REPLICAS = ['fo1', 'fo2', 'fo3'];
const KILLS = 10;
const NODES = 10;
const POLL_EVERY_MS = 5;

await runBench('failover', 6 * 60_000, async (cleanup) => {
  const s = await startServices(cleanup);
  const defaults = loadControlPlaneConfig({});
  const t = leaseTimings(defaults.SBC_LEADER_LEASE_MS, defaults.SBC_LEADER_RENEW_MS);
  const env = controlPlaneEnv(s, 'failover');
  const replicas: ReplicaProcess[] = [];
  /** Every replica process started, killed ones included: their logs count too. */
  const everyProcess: ReplicaProcess[] = [];
  const logs = new Map(REPLICAS.map((id) => [id, benchLogPath(`failover-${id}`)]));
  cleanup.push('control plane replicas', () => Promise.all(replicas.map((r) => r.stop())));
  const start = async (id: string) => {
    const r = await startReplica({ id, env, logPath: logs.get(id)! });
    replicas.push(r);
    everyProcess.push(r);
    return r;
  };
  await Promise.all(REPLICAS.map(start));
  const live = () => replicas.filter((r) => r.running());
  const fleet = new SimulatedFleet(s.agentBus, s.subjects, AGENT_DEFAULT_HEARTBEAT_MS);
  cleanup.push('simulated agents', () => Promise.resolve(fleet.stopAll()));

  const targetElectedMs = t.leaseMs + 1000;
  const targetReconciledMs = targetElectedMs + s.reloadDeltaMs;
  console.log(SIMULATION_NOTE);
  console.log(`setup: private NATS, Redis, Postgres and one Kamailio 5.6.3 on loopback; ${REPLICAS.length} control plane replicas, each its own process (logs: ${[...logs.values()].join(', ')})`);
  console.log(
    `leader: SBC_LEADER_LEASE_MS=${t.leaseMs} SBC_LEADER_RENEW_MS=${t.renewMs} (defaults), server idle_session_timeout=${t.serverTimeoutMs} ms; SBC_RELOAD_DELTA_MS=${s.reloadDeltaMs}`,
  );
  console.log(
    `method: ${NODES} nodes heartbeat every ${AGENT_DEFAULT_HEARTBEAT_MS} ms; ${KILLS} times: kill -9 the leader, publish a new node's join at once, measure kill -> ` +
      `'elected leader' logged by another replica, and kill -> the new node selectable in every set of dispatcher.list (polled every ${POLL_EVERY_MS} ms); ` +
      'then restart the killed replica and wait for three live replicas agreeing on one leader',
  );

  const nodes = Array.from({ length: NODES }, () => fleet.create());
  for (const n of nodes) n.join();
  if (!(await s.observer.until((v) => nodes.every((n) => v.inEverySet(n.sipUri)), 20, 30_000))) throw new Error(`the ${NODES} nodes never all reached Kamailio`);

  const settle = async () => {
    const leader = await agreedLeader(live(), 30_000);
    await waitFor('three live replicas in every view', async () => (await Promise.all(live().map((r) => r.cluster()))).every((v) => v.replicas.filter((x) => x.live).length === REPLICAS.length), 30_000, 100);
    // A reload window with no change, so each kill starts from a quiet leader.
    await sleep(s.reloadDeltaMs + 500);
    return leader;
  };

  const elected: number[] = [];
  const reconciled: number[] = [];
  const unreached: number[] = [];
  const bound = targetReconciledMs + 20_000;
  for (let k = 0; k < KILLS; k++) {
    const leader = await settle();
    leader.signal('SIGKILL');
    const killedAt = performance.now();
    const killedWall = Date.now();
    const newcomer = fleet.create();
    newcomer.join();
    const seen = await s.observer.until((v) => v.inEverySet(newcomer.sipUri), POLL_EVERY_MS, bound);
    if (seen) reconciled.push(seen.at - killedAt);
    else unreached.push(k);
    await waitFor('a new leader logged', () => live().some((r) => r.logged('elected leader', killedWall).length > 0), bound);
    const first = Math.min(...live().flatMap((r) => r.logged('elected leader', killedWall).map((l) => l.time)));
    elected.push(first - killedWall);
    const by = live().find((r) => r.logged('elected leader', killedWall).some((l) => l.time === first))?.id ?? '?';
    console.log(`kill ${k + 1}: ${leader.id} killed; ${by} elected after ${ms(first - killedWall, 0)}; join selectable after ${seen ? ms(seen.at - killedAt) : 'never'}`);
    await leader.exited;
    replicas.splice(replicas.indexOf(leader), 1);
    await start(leader.id);
  }
  await settle();

  // Reloads of the one Kamailio by different replicas inside one window (should be none).
  const reloads = everyProcess
    .flatMap((r) => r.logged('dispatcher reloaded and verified').map((l) => ({ time: l.time, by: r.id, pid: r.pid })))
    .sort((a, b) => a.time - b.time);
  const tooClose = reloads.slice(1).filter((x, i) => x.pid !== reloads[i]!.pid && x.time - reloads[i]!.time < s.reloadDeltaMs).length;

  const e = distribution(elected);
  const r = distribution(reconciled);
  console.log('');
  console.log(distributionLine('kill -> new leader elected', e));
  console.log(distributionLine('kill -> join selectable', r));
  console.log(line('kills / joins never selectable within the bound', `${KILLS} / ${unreached.length}`));
  console.log(line('reloads by two processes inside one window (wrong)', `${tooClose} of ${reloads.length} reloads`));
  const pass = unreached.length === 0 && tooClose === 0 && e.max <= targetElectedMs && r.max <= targetReconciledMs;
  console.log(
    verdict(
      'failover',
      pass,
      `new leader p50 ${ms(e.p50, 0)} / max ${ms(e.max, 0)} after kill -9 (target: within lease + 1 s = ${targetElectedMs} ms); ` +
        `next successful reconcile (the join selectable) p50 ${ms(r.p50)} / max ${ms(r.max)} (target: lease + 1 s + one reload window = ${targetReconciledMs} ms)`,
    ),
  );
});
