import { desiredSets, flattenSets, type DispatcherPolicy, type DispatcherRow } from '../../core/dispatcher.js';
import type { NodeRecord } from '../../core/node.js';
import type { StoredRow } from '../../core/planChanges.js';
import { nodeIdOfDescription, rowKey } from '../../core/rowIdentity.js';
import type { KamailioAddressBook } from '../../kamailio/addresses.js';
import type { Leadership } from '../../leader/leadership.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { DispatcherStore } from '../../ports/dispatcherStore.js';
import type { DispatcherPass } from '../dispatcherPass.js';
import type { ReconcileStep, StepContext } from '../runner.js';
import { refusedByFence } from './leadership.js';

export interface DispatcherTableDeps {
  readonly store: DispatcherStore;
  readonly policy: DispatcherPolicy;
  /**
   * How long a row is kept when the registry has no record of its node at all (not even
   * `gone`): the registry was lost (a control plane starting on an empty Redis, or Redis
   * restarted without persistence) and agents have not restated themselves yet. Nodes that
   * left or expired are recorded as gone, so this never delays a real removal.
   */
  readonly unknownNodeGraceMs: number;
  /** Kamailio's own SIP addresses: a node at one of them never gets a row (it would loop calls). */
  readonly addresses?: KamailioAddressBook;
  readonly metrics: Pick<Metrics, 'rowChanges' | 'fencedWrites'>;
  readonly now: () => number;
  /** With replicas: a write refused for a moved epoch makes this replica step down. */
  readonly leadership?: Leadership;
}

/**
 * Brings Kamailio's `dispatcher` table to the rows the nodes call for, in one transaction.
 * When the table cannot be written the pass fails, but only after the Kamailio steps took
 * out of selection, in memory, what must stop getting calls (they read `tableError`).
 */
export function dispatcherTableStep(deps: DispatcherTableDeps): ReconcileStep<DispatcherPass> {
  /** Node id -> when its rows were first seen with no registry record. */
  const unknownSince = new Map<string, number>();

  /** Nodes at a Kamailio's own address (learned after they were accepted) get no rows. */
  const withoutKamailioAddresses = (nodes: readonly NodeRecord[], ctx: StepContext): readonly NodeRecord[] => {
    const book = deps.addresses;
    if (!book) return nodes;
    const loops = nodes.filter((n) => n.state !== 'gone' && book.has(n.sipUri));
    if (loops.length === 0) return nodes;
    ctx.logger.error({ nodes: loops.map((n) => ({ nodeId: n.nodeId, sipUri: n.sipUri })) }, "nodes at a Kamailio's own address are kept out of routing");
    return nodes.filter((n) => !loops.includes(n));
  };

  /** Adds the stored rows of unknown nodes within their grace; wakes the runner when the earliest grace ends. */
  const withUnknownNodesKept = (desired: readonly DispatcherRow[], nodes: readonly NodeRecord[], actual: readonly StoredRow[], ctx: StepContext) => {
    const known = new Set(nodes.map((n) => n.nodeId));
    const wanted = new Set(desired.map((r) => rowKey(r.setid, r.destination)));
    const now = deps.now();
    const kept: DispatcherRow[] = [];
    const stillUnknown = new Set<string>();
    for (const { id: _id, ...row } of actual) {
      const nodeId = nodeIdOfDescription(row.description);
      if (nodeId === undefined || known.has(nodeId)) continue;
      stillUnknown.add(nodeId);
      const since = unknownSince.get(nodeId) ?? now;
      unknownSince.set(nodeId, since);
      const endsAt = since + deps.unknownNodeGraceMs;
      if (endsAt <= now || wanted.has(rowKey(row.setid, row.destination))) continue;
      kept.push(row);
      ctx.wakeIn(endsAt - now + 1);
    }
    for (const id of unknownSince.keys()) if (!stillUnknown.has(id)) unknownSince.delete(id);
    if (kept.length > 0) ctx.logger.warn({ rows: kept.length }, 'keeping rows of nodes the registry does not know yet (registry lost?)');
    return { rows: [...desired, ...kept], kept: kept.length };
  };

  return {
    name: 'dispatcher-table',
    async run(pass, ctx) {
      const computed = flattenSets(desiredSets(withoutKamailioAddresses(pass.nodes, ctx), deps.policy, pass.machines, pass.health));
      let kept = 0;
      try {
        const synced = await deps.store.sync(
          (actual) => {
            const withKept = withUnknownNodesKept(computed, pass.nodes, actual, ctx);
            kept = withKept.kept;
            return withKept.rows;
          },
          pass.epoch === undefined ? {} : { fenceEpoch: pass.epoch },
        );
        pass.desired = synced.desired;
        pass.rowChanges = synced.changes;
        pass.keptForUnknownNodes = kept;
      } catch (err) {
        // A newer leader exists: this replica writes nothing more, not even set_state.
        if (refusedByFence(err, deps, ctx, 'dispatcher table write')) throw err;
        pass.desired = computed;
        pass.tableError = err as Error;
        ctx.failPass(err);
        return;
      }
      for (const c of pass.rowChanges) deps.metrics.rowChanges.inc({ kind: c.kind });
      if (pass.rowChanges.length > 0) {
        ctx.logger.info({ changes: pass.rowChanges.map((c) => `${c.kind} ${c.row.setid} ${c.row.destination}`) }, 'dispatcher table updated');
      }
    },
  };
}
