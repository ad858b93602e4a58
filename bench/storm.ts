import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_DEFAULT_HEARTBEAT_MS, SIMULATION_NOTE, SimulatedFleet } from './agents.js';
import { line, ms, verdict } from './figures.js';
import { sumOf } from './promText.js';
import { runBench, sleepUntil } from './run.js';
import { dispatcherRowCounts, startInProcessControlPlane, startServices } from './testbed.js';

/**
 * Join storm: 200 nodes publish `joined` within one second, evenly spaced. Measures how
 * long after the last join every destination is in Kamailio, whether any change was lost
 * (rows in Postgres and destinations in dispatcher.list, per set), and how many reloads
 * and set_state calls the control plane needed.
 */
const NODES = 200;
const SPREAD_MS = 1000;
const POLL_EVERY_MS = 5;
const BOUND_MS = 20_000;

await runBench('storm', 2 * 60_000, async (cleanup) => {
  const s = await startServices(cleanup);
  const { cp, logPath, metrics } = await startInProcessControlPlane(cleanup, s, 'storm');
  const observer = s.observer;
  const fleet = new SimulatedFleet(s.agentBus, s.subjects);
  cleanup.push('simulated agents', () => Promise.resolve(fleet.stopAll()));
  const targetMs = s.reloadDeltaMs + 1000;

  console.log(SIMULATION_NOTE);
  console.log(`setup: private NATS, Redis, Postgres and one Kamailio 5.6.3 on loopback; control plane in this process (log: ${logPath})`);
  console.log(
    `method: ${NODES} nodes publish joined every ${SPREAD_MS / NODES} ms (${SPREAD_MS} ms in all), then heartbeat every ${AGENT_DEFAULT_HEARTBEAT_MS} ms; ` +
      `dispatcher.list polled every ${POLL_EVERY_MS} ms (+ round trip) until all ${NODES} are in all ${s.setIds.length} sets`,
  );

  // Start with the reload window open, as after a quiet period.
  await sleep(s.reloadDeltaMs + 100);
  const before = await metrics();
  const nodes = Array.from({ length: NODES }, () => fleet.create());
  const t0 = performance.now();
  // Polled from the first join on, so the growth shows every reload; one entry per change.
  const growth: { at: number; perSet: number }[] = [];
  const allPresent = observer.until(
    (v) => nodes.every((n) => v.inEverySet(n.sipUri)),
    POLL_EVERY_MS,
    BOUND_MS,
    (v, at) => {
      const perSet = Math.min(...s.setIds.map((id) => v.count(id)));
      if (growth[growth.length - 1]?.perSet !== perSet) growth.push({ at, perSet });
    },
  );
  let lastJoinAt = t0;
  for (const [i, n] of nodes.entries()) {
    await sleepUntil(t0 + (i * SPREAD_MS) / NODES);
    lastJoinAt = n.join();
  }
  const seen = await allPresent;
  // Let the passes that follow (verification, promotion) settle before counting.
  await sleep(s.reloadDeltaMs + 500);
  await cp.reconciler.nextPass();
  const after = await metrics();
  const delta = (name: string, labels: Record<string, string>) => sumOf(after, name, labels) - sumOf(before, name, labels);

  const rows = await dispatcherRowCounts(s.pgUrl);
  const view = await observer.read();
  const want = new Set(nodes.map((n) => n.sipUri));
  const perSet = s.setIds.map((id) => {
    const listed = view.uris(id);
    const missing = [...want].filter((u) => !listed.has(u)).length;
    const extra = [...listed].filter((u) => !want.has(u)).length;
    return { id, rows: rows.get(id) ?? 0, listed: listed.size, missing, extra };
  });
  const lost = perSet.some((p) => p.rows !== NODES || p.listed !== NODES || p.missing > 0 || p.extra > 0);
  const afterLast = seen ? seen.at - lastJoinAt : NaN;

  console.log('');
  console.log(line('joins published over', ms(lastJoinAt - t0)));
  console.log(line('all present, after the first join', seen ? ms(seen.at - t0) : `not within ${BOUND_MS} ms`));
  console.log(line('all present, after the last join', seen ? ms(afterLast) : `not within ${BOUND_MS} ms`));
  console.log(
    line('listed per set as it grew (ms after first join)', growth.map((g) => `${g.perSet}@${(g.at - t0).toFixed(0)}`).join(' -> ')),
  );
  for (const p of perSet) {
    console.log(line(`set ${p.id}: Postgres rows / dispatcher.list`, `${p.rows} / ${p.listed} (missing ${p.missing}, extra ${p.extra})`));
  }
  console.log(line('reloads ok / refused "Ongoing reload" / error', `${delta('sbc_kamailio_rpc_total', { method: 'dispatcher.reload', outcome: 'ok' })} / ${delta('sbc_kamailio_rpc_total', { method: 'dispatcher.reload', outcome: 'pending' })} / ${delta('sbc_kamailio_rpc_total', { method: 'dispatcher.reload', outcome: 'error' })}`));
  console.log(line('set_state calls', delta('sbc_kamailio_rpc_total', { method: 'dispatcher.set_state' })));
  console.log(line('dispatcher.list calls by the control plane', delta('sbc_kamailio_rpc_total', { method: 'dispatcher.list' })));
  console.log(line('reconcile passes (ok / error)', `${delta('sbc_reconcile_runs_total', { outcome: 'ok' })} / ${delta('sbc_reconcile_runs_total', { outcome: 'error' })}`));
  console.log(line('joined messages accepted (created)', delta('sbc_nats_messages_total', { kind: 'joined', outcome: 'created' })));
  console.log(line('nodes active / joining (control plane gauge)', `${sumOf(after, 'sbc_nodes', { state: 'active' })} / ${sumOf(after, 'sbc_nodes', { state: 'joining' })}`));
  const pass = seen !== undefined && afterLast <= targetMs && !lost;
  console.log(
    verdict(
      'storm',
      pass,
      `all ${NODES} present ${seen ? ms(afterLast) : 'never'} after the last join (target <= reload window + 1 s = ${targetMs} ms); ` +
        `${lost ? 'CHANGES LOST (see per-set counts)' : 'no change lost'}`,
    ),
  );
});
