import { AGENT_DEFAULT_HEARTBEAT_MS, SIMULATION_NOTE, SimulatedFleet, type SimulatedNode } from './agents.js';
import { distribution, distributionLine, line, ms, verdict } from './figures.js';
import { sumOf } from './promText.js';
import type { RoutingView } from './routing.js';
import { runBench, sleepUntil } from './run.js';
import { startInProcessControlPlane, startServices } from './testbed.js';

/**
 * Convergence of isolated changes: the time from an agent's `joined` (or `left`) publish
 * until the one Kamailio's dispatcher.list shows the destination in (or out of) routing.
 * "Isolated": each change is published only after the previous one converged and the
 * reload window has passed, so every change gets a reload of its own at once.
 */
/** BENCH_CONVERGENCE_CHANGES shortens a trial run; the figures quoted use the default. */
const CHANGES_EACH = Number(process.env.BENCH_CONVERGENCE_CHANGES ?? 100);
const LIVE_NODES = 4;
const WINDOW_MARGIN_MS = 100;
const POLL_EVERY_MS = 2;
const CHANGE_BOUND_MS = 5000;
const TARGET_P99_MS = 100;

await runBench('convergence', 7 * 60_000, async (cleanup) => {
  const s = await startServices(cleanup);
  const { cp, logPath, metrics } = await startInProcessControlPlane(cleanup, s, 'convergence');
  const observer = s.observer;
  const fleet = new SimulatedFleet(s.agentBus, s.subjects);
  cleanup.push('simulated agents', () => Promise.resolve(fleet.stopAll()));

  console.log(SIMULATION_NOTE);
  console.log(`setup: private NATS, Redis, Postgres and one Kamailio 5.6.3 on loopback; control plane in this process (log: ${logPath})`);
  console.log(
    `method: ${CHANGES_EACH} joins and ${CHANGES_EACH} leaves, alternating, ~${LIVE_NODES} live nodes heartbeating every ${AGENT_DEFAULT_HEARTBEAT_MS} ms; ` +
      `each change published >= SBC_RELOAD_DELTA_MS (${s.reloadDeltaMs}) + ${WINDOW_MARGIN_MS} ms after the previous one converged; ` +
      `dispatcher.list polled every ${POLL_EVERY_MS} ms (+ round trip), bound ${CHANGE_BOUND_MS} ms per change`,
  );
  console.log('join converged  = the URI is listed in all 3 sets; leave converged = no set would select it (absent, or FLAGS I*/D*)');

  // Warm-up (not measured): a few live nodes, so leaves always have someone to take out.
  const live: SimulatedNode[] = [];
  for (let i = 0; i < LIVE_NODES; i++) {
    const n = fleet.create();
    n.join();
    live.push(n);
  }
  const warm = await observer.until((v) => live.every((n) => v.inEverySet(n.sipUri)), 20, 15_000);
  if (!warm) throw new Error('warm-up nodes never reached Kamailio');
  let lastConvergedAt = warm.at;

  const before = await metrics();
  const joins: number[] = [];
  const leaves: number[] = [];
  let timeouts = 0;
  const measure = async (publish: () => number, done: (v: RoutingView) => boolean, into: number[]) => {
    await sleepUntil(lastConvergedAt + s.reloadDeltaMs + WINDOW_MARGIN_MS);
    const t0 = publish();
    const seen = await observer.until(done, POLL_EVERY_MS, CHANGE_BOUND_MS);
    if (seen) into.push(seen.at - t0);
    else timeouts++;
    lastConvergedAt = seen?.at ?? performance.now();
  };

  for (let i = 0; i < CHANGES_EACH; i++) {
    const joining = fleet.create();
    await measure(() => joining.join(), (v) => v.inEverySet(joining.sipUri), joins);
    live.push(joining);
    const leaving = live.shift();
    if (!leaving) throw new Error('no live node to take out');
    await measure(() => leaving.leave(), (v) => v.outOfRouting(leaving.sipUri), leaves);
  }
  // Let the pass that verified the last change finish before reading the counters.
  await cp.reconciler.nextPass();
  const after = await metrics();
  const delta = (name: string, labels: Record<string, string>) => sumOf(after, name, labels) - sumOf(before, name, labels);

  const j = distribution(joins);
  const l = distribution(leaves);
  console.log('');
  console.log(distributionLine('join  -> in dispatcher.list', j));
  console.log(distributionLine('leave -> out of routing', l));
  console.log(line('changes not converged within the bound', timeouts));
  console.log(line('dispatcher.list poll round trip (mean)', ms(observer.meanPollMs(), 2)));
  console.log(line('reloads ok / refused "Ongoing reload"', `${delta('sbc_kamailio_rpc_total', { method: 'dispatcher.reload', outcome: 'ok' })} / ${delta('sbc_kamailio_rpc_total', { method: 'dispatcher.reload', outcome: 'pending' })}`));
  console.log(line('set_state calls', delta('sbc_kamailio_rpc_total', { method: 'dispatcher.set_state' })));
  console.log(line('reconcile passes (ok / error)', `${delta('sbc_reconcile_runs_total', { outcome: 'ok' })} / ${delta('sbc_reconcile_runs_total', { outcome: 'error' })}`));
  const pass = timeouts === 0 && j.p99 <= TARGET_P99_MS && l.p99 <= TARGET_P99_MS;
  console.log(
    verdict('convergence', pass, `join p99 ${ms(j.p99)}, leave p99 ${ms(l.p99)}, ${timeouts} not converged (target: p99 <= ${TARGET_P99_MS} ms each, none lost)`),
  );
});
