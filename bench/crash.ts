import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_DEFAULT_HEARTBEAT_MS, SIMULATION_NOTE, SimulatedFleet } from './agents.js';
import { distribution, distributionLine, line, ms, verdict } from './figures.js';
import { sumOf } from './promText.js';
import { runBench } from './run.js';
import { startInProcessControlPlane, startServices } from './testbed.js';

/**
 * Crash detection: nodes heartbeat, then each goes silent at its own random moment without
 * a `left` (a crashed FreeSWITCH and agent). Measures the time from its last heartbeat's
 * publish, and from the crash moment, until Kamailio's dispatcher.list no longer selects it.
 */
const NODES = 20;
const HEARTBEAT_MS = AGENT_DEFAULT_HEARTBEAT_MS;
const MISSES = 3;
const CRASH_WINDOW_MS = 20_000;
const POLL_EVERY_MS = 5;
const TARGET_MS = MISSES * HEARTBEAT_MS;

/** Computed, not measured: OPTIONS probing with documented defaults. */
function probingComparison(): string[] {
  const pingIntervalS = 10;
  const tmDefaultFrTimerS = 30;
  const ourFrTimerS = 2;
  const range = (fr: number) => `${fr}-${fr + pingIntervalS} s (mean ${fr + pingIntervalS / 2} s)`;
  return [
    'comparison, COMPUTED from documented defaults (not measured here): Kamailio dispatcher OPTIONS probing',
    `  assumptions: ds_ping_interval = ${pingIntervalS} s (a common setting; the module default 0 = probing off), ds_probing_mode = 1 (probe every destination),`,
    `               ds_probing_threshold = 1 (default: one failed probe marks it), the crash falls uniformly inside a ping interval,`,
    `               an unanswered OPTIONS fails only when its transaction times out after tm fr_timer.`,
    `  detection   = wait for the next ping (0-${pingIntervalS} s) + fr_timer:`,
    `               tm default fr_timer ${tmDefaultFrTimerS} s -> ${range(tmDefaultFrTimerS)}; with this repo's kamailio.cfg fr_timer ${ourFrTimerS} s -> ${range(ourFrTimerS)}`,
  ];
}

await runBench('crash', 3 * 60_000, async (cleanup) => {
  const s = await startServices(cleanup);
  const { cp, config, logPath, metrics } = await startInProcessControlPlane(cleanup, s, 'crash');
  const observer = s.observer;
  const fleet = new SimulatedFleet(s.agentBus, s.subjects, HEARTBEAT_MS);
  cleanup.push('simulated agents', () => Promise.resolve(fleet.stopAll()));
  if (config.SBC_HEARTBEAT_MISSES !== MISSES) throw new Error(`the bench assumes SBC_HEARTBEAT_MISSES=${MISSES}`);

  console.log(SIMULATION_NOTE);
  console.log(`setup: private NATS, Redis, Postgres and one Kamailio 5.6.3 on loopback; control plane in this process (log: ${logPath})`);
  console.log(
    `method: ${NODES} nodes heartbeat every ${HEARTBEAT_MS} ms (random phases); each then goes silent at a random moment within ${CRASH_WINDOW_MS / 1000} s, ` +
      `publishing no left; dispatcher.list polled every ${POLL_EVERY_MS} ms (+ round trip) until none is selectable (absent, or FLAGS I*/D*)`,
  );
  console.log(`control plane: SBC_HEARTBEAT_MISSES=${config.SBC_HEARTBEAT_MISSES} (default), SBC_RELOAD_DELTA_MS=${s.reloadDeltaMs}`);

  // Joins spread over one interval, so heartbeats (and so deadlines) fall at different phases.
  const nodes = Array.from({ length: NODES }, () => fleet.create());
  for (const n of nodes) {
    n.join();
    await sleep(HEARTBEAT_MS / NODES);
  }
  const joined = await observer.until((v) => nodes.every((n) => v.inEverySet(n.sipUri)), 20, 15_000);
  if (!joined) throw new Error(`the ${NODES} nodes never all reached Kamailio`);
  await sleep(HEARTBEAT_MS);

  const before = await metrics();
  const t0 = performance.now();
  const crashes = nodes.map((n) => ({ node: n, at: t0 + Math.random() * CRASH_WINDOW_MS, lastAliveAt: NaN, outAt: NaN }));
  const timers = crashes.map((c) =>
    setTimeout(() => {
      c.node.stopHeartbeats();
      c.at = performance.now();
      c.lastAliveAt = c.node.lastAliveAt ?? NaN;
    }, c.at - t0),
  );
  cleanup.push('crash timers', () => Promise.resolve(timers.forEach((t) => clearTimeout(t))));

  const bound = CRASH_WINDOW_MS + TARGET_MS + 10_000;
  const done = await observer.until(
    (v) => {
      const now = performance.now();
      for (const c of crashes) {
        // Only a node that really went silent counts; a removal before its crash is an error.
        if (Number.isNaN(c.outAt) && v.outOfRouting(c.node.sipUri)) c.outAt = now;
      }
      return crashes.every((c) => !Number.isNaN(c.outAt));
    },
    POLL_EVERY_MS,
    bound,
  );
  await cp.reconciler.nextPass();
  const after = await metrics();
  const delta = (name: string, labels: Record<string, string>) => sumOf(after, name, labels) - sumOf(before, name, labels);

  const early = crashes.filter((c) => c.outAt < c.at);
  const detected = crashes.filter((c) => !Number.isNaN(c.outAt) && c.outAt >= c.at);
  const fromLast = distribution(detected.map((c) => c.outAt - c.lastAliveAt));
  const fromCrash = distribution(detected.map((c) => c.outAt - c.at));

  console.log('');
  console.log(distributionLine('last heartbeat -> out', fromLast));
  console.log(distributionLine('crash moment   -> out', fromCrash));
  // The registry expires a node exactly MISSES intervals after its last message arrives;
  // what is left is the reconciler's removal work plus delivery and polling.
  console.log(distributionLine(`beyond the ${TARGET_MS} ms deadline`, distribution(detected.map((c) => c.outAt - c.lastAliveAt - TARGET_MS))));
  console.log(line('crashed nodes still selectable at the bound', done ? 0 : crashes.filter((c) => Number.isNaN(c.outAt)).length));
  console.log(line('taken out before they went silent (wrong)', early.length));
  console.log(line('dispatcher.list poll round trip (mean)', ms(observer.meanPollMs(), 2)));
  console.log(line('nodes declared gone (expired)', delta('sbc_node_transitions_total', { to: 'gone', reason: 'expired' })));
  console.log(line('set_state calls (window closed) / reloads ok', `${delta('sbc_kamailio_rpc_total', { method: 'dispatcher.set_state', outcome: 'ok' })} / ${delta('sbc_kamailio_rpc_total', { method: 'dispatcher.reload', outcome: 'ok' })}`));
  for (const l of probingComparison()) console.log(l);
  // Crash detection is measured from the crash: the node must be out of routing within
  // MISSES heartbeat intervals of going silent. Counted from its last heartbeat instead, it
  // lands just past MISSES x interval by construction (the deadline is last arrival +
  // MISSES x interval, then the removal work), which the verdict states as well.
  const pass = done !== undefined && early.length === 0 && fromCrash.max <= TARGET_MS;
  console.log(
    verdict(
      'crash',
      pass,
      `out of routing p50 ${ms(fromCrash.p50)} / p99 ${ms(fromCrash.p99)} / max ${ms(fromCrash.max)} after the crash ` +
        `(target: within ${MISSES} heartbeats = ${TARGET_MS} ms); from the last heartbeat p50 ${ms(fromLast.p50)} / max ${ms(fromLast.max)}, ` +
        `i.e. ${MISSES} x ${HEARTBEAT_MS} ms + up to ${ms(fromLast.max - TARGET_MS)} of removal work`,
    ),
  );
});
