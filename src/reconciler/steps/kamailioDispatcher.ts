import { DS_FLAG_DISABLED, type DispatcherRow } from '../../core/dispatcher.js';
import { compareWithKamailio, type KamailioDestination } from '../../core/kamailioView.js';
import { nodeIdOfAttrs } from '../../core/rowIdentity.js';
import { KamailioReloadPendingError } from '../../kamailio/errors.js';
import { NotLeaderError, type Leadership } from '../../leader/leadership.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { KamailioRpc } from '../../ports/kamailioRpc.js';
import type { DispatcherPass, KamailioObservation, KamailioOutcome } from '../dispatcherPass.js';
import type { ReconcileStep, StepContext } from '../runner.js';
import { KamailioMarks } from './kamailioMarks.js';
import { stillLeading } from './leadership.js';

export interface KamailioDispatcherDeps {
  readonly kamailio: KamailioRpc;
  readonly managedSets: ReadonlySet<number>;
  /** Minimum spacing of reloads of this Kamailio (its reload_delta). */
  readonly reloadDeltaMs: number;
  /** How long Kamailio's own inactive marks (failed calls) are respected; see kamailioMarks.ts. */
  readonly markHoldMs: number;
  readonly metrics: Pick<Metrics, 'kamailioInSync' | 'kamailioMarked'>;
  readonly now: () => number;
  /** With replicas: only the leader changes Kamailio (its local lease, checked before each change). */
  readonly leadership?: Leadership;
}

/**
 * Brings one Kamailio's loaded dispatcher sets to the pass's desired rows: compare
 * `dispatcher.list`, reload when they differ and the reload window is open (then verify),
 * otherwise take departing destinations out of selection at once with `set_state` and hold
 * further passes until the window opens. A reload refused inside the window (someone else
 * reloaded) never drops the change: it is retried after the window. Registered once per
 * Kamailio; they run side by side.
 */
export function kamailioDispatcherStep(deps: KamailioDispatcherDeps): ReconcileStep<DispatcherPass> {
  const k = deps.kamailio;
  let lastReloadAt = -Infinity;
  const sinceReload = () => performance.now() - lastReloadAt;
  // A new leader cannot know when the one before it last reloaded this Kamailio (at worst a
  // moment before the election, and Kamailio's own reload_delta counts whole seconds): its
  // first reload waits one window from its first pass as leader.
  let termEpoch: number | undefined;
  const startTerm = (pass: DispatcherPass) => {
    if (pass.epoch === undefined || pass.epoch === termEpoch) return;
    termEpoch = pass.epoch;
    lastReloadAt = Math.max(lastReloadAt, performance.now());
  };
  const marks = new KamailioMarks(deps.markHoldMs);
  const gauged = new Set<string>();

  const observe = async (pass: DispatcherPass, desired: readonly DispatcherRow[], ctx: StepContext) => {
    const snapshot = await k.list();
    const drift = compareWithKamailio(desired, snapshot, deps.managedSets);
    const at = deps.now();
    const verdict = marks.observe(drift.marked, at);
    record(pass, { kamailio: k.name, at, snapshot, drift, marks: verdict.held });
    for (const m of verdict.held.filter((h) => h.since === at)) {
      ctx.logger.warn({ kamailio: k.name, setId: m.setId, uri: m.uri, nodeId: m.nodeId, untilMs: deps.markHoldMs }, 'Kamailio marked a destination inactive after a failed call; respecting it');
    }
    const perNode = KamailioMarks.perNode(verdict.held);
    for (const [node, n] of perNode) deps.metrics.kamailioMarked.set({ kamailio: k.name, node }, n);
    for (const node of gauged) if (!perNode.has(node)) deps.metrics.kamailioMarked.remove({ kamailio: k.name, node });
    gauged.clear();
    for (const node of perNode.keys()) gauged.add(node);
    const nextEnd = Math.min(...verdict.held.map((m) => m.until));
    if (Number.isFinite(nextEnd)) ctx.wakeIn(nextEnd - at + 1);
    return { drift, expired: verdict.expired };
  };
  const record = (pass: DispatcherPass, o: KamailioObservation) => {
    const i = pass.observations.findIndex((x) => x.kamailio === k.name);
    if (i >= 0) pass.observations[i] = o;
    else pass.observations.push(o);
  };

  const sync = async (pass: DispatcherPass, ctx: StepContext): Promise<KamailioOutcome> => {
    startTerm(pass);
    const desired = pass.desired;
    // While the table is unusable no reload can help (Kamailio reads that table); only
    // destinations of nodes the registry knows are taken out: without the table, an
    // unknown node's rows cannot be told apart.
    const known = pass.tableError ? new Set(pass.nodes.map((n) => n.nodeId)) : undefined;
    const deselectable = (d: KamailioDestination) => known === undefined || known.has(nodeIdOfAttrs(d.attrs) ?? '');
    let deselected = 0;
    const { drift, expired } = await observe(pass, desired, ctx);
    // A hold that ended: the destination gets calls again (set_state is not paced by reload_delta).
    for (const m of expired) {
      stillLeading(deps.leadership, pass, `clearing a mark on ${k.name}`);
      await k.setState('a', m.setId, m.uri);
      ctx.logger.info({ kamailio: k.name, setId: m.setId, uri: m.uri, nodeId: m.nodeId }, "hold of Kamailio's mark ended; destination active again");
    }
    if (drift.inSync) return { kamailio: k.name, inSync: true, reloaded: false, deselected };

    if (!known && sinceReload() >= deps.reloadDeltaMs) {
      try {
        stillLeading(deps.leadership, pass, `reloading ${k.name}`);
        lastReloadAt = performance.now();
        await k.reload();
        const { drift: after } = await observe(pass, desired, ctx);
        if (!after.inSync) {
          throw new Error(
            `still differs after reload (missing ${after.missing.length}, extra ${after.extra.length}, changed ${after.changed.length}): is Kamailio reading this database?`,
          );
        }
        ctx.logger.info({ kamailio: k.name }, 'dispatcher reloaded and verified');
        return { kamailio: k.name, inSync: true, reloaded: true, deselected };
      } catch (err) {
        if (!(err instanceof KamailioReloadPendingError)) throw err;
        ctx.logger.info({ kamailio: k.name }, 'reload refused inside reload_delta; retrying after the window');
      }
    }
    // Window closed: take departing destinations out of selection now; the next reload
    // removes their rows for good.
    for (const d of drift.toDeselect.filter(deselectable)) {
      const row = desired.find((r) => r.setid === d.setId && r.destination === d.uri);
      const state = row && (row.flags & DS_FLAG_DISABLED) !== 0 ? 'd' : 'i';
      stillLeading(deps.leadership, pass, `set_state on ${k.name}`);
      await k.setState(state, d.setId, d.uri);
      deselected++;
    }
    const waitMs = Math.ceil(Math.max(0, deps.reloadDeltaMs - sinceReload())) + 1;
    return { kamailio: k.name, inSync: false, reloaded: false, deselected, waitMs };
  };

  return {
    name: `kamailio-dispatcher:${k.name}`,
    async run(pass, ctx) {
      let outcome: KamailioOutcome;
      try {
        outcome = await sync(pass, ctx);
        ctx.targetOk(k.name);
        if (outcome.waitMs !== undefined) {
          ctx.holdFor(outcome.waitMs);
          ctx.wakeIn(outcome.waitMs);
        }
      } catch (err) {
        // Not this Kamailio's failure: the whole pass stops writing.
        if (err instanceof NotLeaderError) throw err;
        const { failures } = ctx.targetFailed(k.name);
        ctx.logger.error({ err, kamailio: k.name, failures }, 'Kamailio sync failed; will retry');
        outcome = { kamailio: k.name, inSync: false, reloaded: false, deselected: 0, error: (err as Error).message };
        record(pass, { kamailio: k.name, at: deps.now(), error: outcome.error });
      }
      deps.metrics.kamailioInSync.set({ kamailio: k.name }, outcome.inSync ? 1 : 0);
      pass.kamailios.push(outcome);
    },
  };
}
