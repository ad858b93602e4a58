import { AGENT_DEFAULT_HEARTBEAT_MS, SIMULATION_NOTE, SimulatedFleet, type SimulatedNode } from './agents.js';
import { distribution, distributionLine, line, ms, verdict } from './figures.js';
import { sumOf } from './promText.js';
import { runBench, sleepUntil } from './run.js';
import { startInProcessControlPlane, startServices } from './testbed.js';

/**
 * The cost of a join as the pool grows: isolated join and leave convergence (publish ->
 * Kamailio's dispatcher.list shows it in / out of routing) with 10, 100 and then 1,000
 * nodes already present and heartbeating. Each pass lists the registry, recomputes every
 * set and compares all of Kamailio's destinations, so its cost grows with the pool; this
 * shows by how much. Same method as the convergence bench (one change at a time, each
 * after the reload window), the pool grown between the sizes.
 */
const SIZES = [10, 100, 1000] as const;
/** BENCH_JOIN_COST_CHANGES shortens a trial run; the figures quoted use the default. */
const CHANGES_EACH = Number(process.env.BENCH_JOIN_COST_CHANGES ?? 20);
const WINDOW_MARGIN_MS = 100;
/** Polling dispatcher.list of 3,000 destinations costs Kamailio's RPC worker ~80 ms: poll less often as the pool grows. */
const pollEveryMs = (pool: number) => Math.max(2, Math.round(pool / 40));
const CHANGE_BOUND_MS = 5000;
const TARGET_P99_MS = 100;

await runBench('join-cost', 9 * 60_000, async (cleanup) => {
  const s = await startServices(cleanup);
  const { cp, logPath, metrics } = await startInProcessControlPlane(cleanup, s, 'join-cost');
  const fleet = new SimulatedFleet(s.agentBus, s.subjects);
  cleanup.push('simulated agents', () => Promise.resolve(fleet.stopAll()));
  const observer = s.observer;

  console.log(SIMULATION_NOTE);
  console.log(`setup: private NATS, Redis, Postgres and one Kamailio 5.6.3 on loopback; control plane in this process (log: ${logPath})`);
  console.log(
    `method: for a pool of ${SIZES.join(', ')} nodes heartbeating every ${AGENT_DEFAULT_HEARTBEAT_MS} ms, ${CHANGES_EACH} joins and ${CHANGES_EACH} leaves alternating, ` +
      `each >= SBC_RELOAD_DELTA_MS (${s.reloadDeltaMs}) + ${WINDOW_MARGIN_MS} ms after the previous converged; dispatcher.list polled every max(2 ms, pool/40 ms) (+ round trip, shown; both bound the error); per-step means from sbc_reconcile_step_duration_seconds`,
  );

  const pool: SimulatedNode[] = [];
  const results: {
    size: number;
    join: ReturnType<typeof distribution>;
    leave: ReturnType<typeof distribution>;
    timeouts: number;
    pollMs: number;
    passMs: number;
    steps: [string, number][];
  }[] = [];
  for (const size of SIZES) {
    // Grow the pool (not measured), then wait until Kamailio lists all of it.
    while (pool.length < size) {
      const n = fleet.create();
      n.join();
      pool.push(n);
      if (pool.length % 50 === 0) await new Promise((r) => setTimeout(r, 20));
    }
    const grown = await observer.until((v) => pool.every((n) => v.inEverySet(n.sipUri)), 100, 90_000);
    if (!grown) throw new Error(`the pool of ${size} never reached Kamailio; log: ${logPath}`);
    let lastConvergedAt = grown.at;
    const pollsBefore = { polls: observer.polls, ms: observer.pollMsTotal };
    const before = await metrics();
    const joins: number[] = [];
    const leaves: number[] = [];
    let timeouts = 0;
    const measure = async (publish: () => number, done: Parameters<typeof observer.until>[0], into: number[]) => {
      await sleepUntil(lastConvergedAt + s.reloadDeltaMs + WINDOW_MARGIN_MS);
      const t0 = publish();
      const seen = await observer.until(done, pollEveryMs(size), CHANGE_BOUND_MS);
      if (seen) into.push(seen.at - t0);
      else timeouts++;
      lastConvergedAt = seen?.at ?? performance.now();
    };
    for (let i = 0; i < CHANGES_EACH; i++) {
      const extra = fleet.create();
      await measure(() => extra.join(), (v) => v.inEverySet(extra.sipUri), joins);
      await measure(() => extra.leave(), (v) => v.outOfRouting(extra.sipUri), leaves);
    }
    await cp.reconciler.nextPass();
    const after = await metrics();
    const delta = (name: string, labels: Record<string, string> = {}) => sumOf(after, name, labels) - sumOf(before, name, labels);
    const passes = delta('sbc_reconcile_duration_seconds_count');
    const stepNames = [...new Set(after.filter((m) => m.name === 'sbc_reconcile_step_duration_seconds_count').map((m) => m.labels.step ?? ''))];
    const steps = stepNames.map((step): [string, number] => {
      const n = delta('sbc_reconcile_step_duration_seconds_count', { step });
      return [step, n === 0 ? NaN : (1000 * delta('sbc_reconcile_step_duration_seconds_sum', { step })) / n];
    });
    results.push({
      size,
      join: distribution(joins),
      leave: distribution(leaves),
      timeouts,
      pollMs: (observer.pollMsTotal - pollsBefore.ms) / Math.max(1, observer.polls - pollsBefore.polls),
      passMs: passes === 0 ? NaN : (1000 * delta('sbc_reconcile_duration_seconds_sum')) / passes,
      steps,
    });
  }

  console.log('');
  for (const r of results) {
    console.log(`pool of ${r.size} nodes (${r.size * s.setIds.length} destinations):`);
    console.log(distributionLine('  join  -> in dispatcher.list', r.join));
    console.log(distributionLine('  leave -> out of routing', r.leave));
    console.log(line('  changes not converged within the bound', r.timeouts));
    console.log(line('  dispatcher.list poll round trip (mean)', ms(r.pollMs, 2)));
    console.log(line('  reconcile pass (mean)', ms(r.passMs, 2)));
    console.log(line('  of which, per step (mean)', r.steps.map(([step, v]) => `${step.replace(/^kamailio-dispatcher:.*/, 'kamailio-dispatcher')} ${v.toFixed(1)}`).join(', ')));
  }
  const largest = results.at(-1);
  const pass = results.every((r) => r.timeouts === 0) && largest !== undefined && largest.join.p99 <= TARGET_P99_MS && largest.leave.p99 <= TARGET_P99_MS;
  console.log(
    verdict(
      'join-cost',
      pass,
      results.map((r) => `${r.size} nodes: join p99 ${ms(r.join.p99)}, leave p99 ${ms(r.leave.p99)}`).join('; ') + ` (target at 1,000: p99 <= ${TARGET_P99_MS} ms each, none lost)`,
    ),
  );
});
