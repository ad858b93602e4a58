import type { Logger } from 'pino';
import { desiredSets, flattenSets, rowKey, DS_FLAG_DISABLED, type DispatcherPolicy, type DispatcherRow } from '../core/dispatcher.js';
import { compareWithKamailio, type KamailioDestination } from '../core/kamailioView.js';
import { housekeeping, markGone, nextDeadline, withState } from '../core/lifecycle.js';
import { NODE_STATES, type GoneReason, type NodeRecord } from '../core/node.js';
import type { Change, StoredRow } from '../core/planChanges.js';
import { KamailioReloadPendingError, KamailioUnreachableError } from '../kamailio/errors.js';
import type { KamailioAddressBook } from '../kamailio/addresses.js';
import type { KamailioRpc } from '../kamailio/rpc.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DispatcherStore } from '../postgres/dispatcherStore.js';
import { transitionNode, type MembershipPolicy } from '../registry/membership.js';
import type { NodeRegistry } from '../registry/nodeRegistry.js';

export interface ReconcilerDeps {
  readonly registry: NodeRegistry;
  readonly store: DispatcherStore;
  readonly kamailios: readonly KamailioRpc[];
  readonly policy: DispatcherPolicy;
  readonly managedSets: ReadonlySet<number>;
  readonly membership: MembershipPolicy;
  /** Minimum spacing of reloads per Kamailio (its reload_delta). */
  readonly reloadDeltaMs: number;
  readonly resyncMs: number;
  /**
   * How long a dispatcher row is kept when the registry has no record of its node at all
   * (not even `gone`): the registry was lost (a control plane starting on an empty Redis,
   * or Redis restarted without persistence) and agents have not restated themselves yet.
   * Should exceed the agents' heartbeat interval. Nodes that left or expired are recorded
   * as gone, so this never delays a real removal.
   */
  readonly unknownNodeGraceMs: number;
  /**
   * Kamailio's own SIP addresses, refreshed here from each Kamailio's sockets every resync:
   * a node at one of them never gets a row (it would loop calls through Kamailio).
   */
  readonly addresses?: KamailioAddressBook;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Wall clock for stored deadlines; injectable for tests. */
  readonly now?: () => number;
}

export interface KamailioOutcome {
  readonly kamailio: string;
  readonly inSync: boolean;
  readonly reloaded: boolean;
  /** Destinations taken out of selection with dispatcher.set_state this pass. */
  readonly deselected: number;
  /** Set when the reload window is closed: how long until the next reload may run. */
  readonly waitMs?: number;
  readonly error?: string;
}

export interface ReconcileReport {
  readonly nodes: number;
  readonly transitions: readonly { nodeId: string; to: string; reason: string }[];
  readonly rowChanges: readonly Change[];
  readonly kamailios: readonly KamailioOutcome[];
  readonly nextRunInMs: number;
  readonly durationMs: number;
}

/** The node id Kamailio holds in a destination's `duid` attribute. */
const duidOf = (attrs: string): string | undefined => /(?:^|;)duid=([^;]+)/.exec(attrs)?.[1];

const BACKOFF_BASE_MS = 200;
const BACKOFF_CAP_MS = 10_000;
const backoff = (failures: number) => Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, failures - 1));

/**
 * The one worker that makes Kamailio match the registry. Level-triggered: events only
 * call trigger(); each pass reads the registry, the table and every Kamailio, and applies
 * the difference. Bursts coalesce into one pass, one pass runs at a time (so one reload
 * per Kamailio is ever in flight), reloads are paced to the reload window, and failed
 * steps are retried with capped backoff. A pass with nothing to do changes nothing.
 */
export class Reconciler {
  private readonly now: () => number;
  private readonly lastReloadAt = new Map<string, number>();
  private readonly kamailioFailures = new Map<string, number>();
  /** Monotonic ms at which each Kamailio's sockets were last read. */
  private readonly socketsReadAt = new Map<string, number>();
  /** Node id -> when its rows were first seen with no registry record. */
  private readonly unknownSince = new Map<string, number>();
  private failures = 0;
  private dirty = true;
  /** A pending trigger takes something out of routing: run now, window or not. */
  private urgent = true;
  /**
   * While a Kamailio's reload window is closed and a pass found nothing to take out of
   * routing, further passes for additions are pointless (nothing can load them before
   * the window opens); they wait until then. Monotonic ms.
   */
  private holdUntil = 0;
  private running = false;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private passListeners: ((r: ReconcileReport) => void)[] = [];
  lastReport: ReconcileReport | undefined;
  lastSuccessAt: number | undefined;

  /** Passes that failed since the last successful one (0 when the latest pass succeeded). */
  get failedPassesSinceSuccess(): number {
    return this.failures;
  }

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? Date.now;
  }

  /**
   * Asks for a pass. `urgent` (the default) when something must leave routing, which a
   * closed reload window cannot delay (dispatcher.set_state acts at once); a change that
   * only adds (a join, a new capacity) waits for the window.
   */
  trigger(urgent = true): void {
    this.dirty = true;
    if (urgent) this.urgent = true;
    if (urgent || performance.now() >= this.holdUntil) this.wake?.();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loopDone;
  }

  /** Resolves after the next pass that starts after this call completes. */
  nextPass(): Promise<ReconcileReport> {
    return new Promise((resolve) => {
      this.trigger();
      this.passListeners.push(resolve);
    });
  }

  private async loop(): Promise<void> {
    let delayMs = 0;
    while (this.running) {
      const now = performance.now();
      const ready = this.dirty && (this.urgent || now >= this.holdUntil);
      if (!ready) {
        const waitMs = this.dirty ? Math.min(delayMs, this.holdUntil - now) : delayMs;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, waitMs));
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
      if (!this.running) break;
      this.dirty = false;
      this.urgent = false;
      const listeners = this.passListeners;
      this.passListeners = [];
      try {
        const report = await this.runOnce();
        this.failures = 0;
        delayMs = report.nextRunInMs;
        const waits = report.kamailios.flatMap((k) => (k.waitMs === undefined ? [] : [k.waitMs]));
        this.holdUntil = waits.length > 0 ? performance.now() + Math.min(...waits) : 0;
        listeners.forEach((l) => l(report));
      } catch (err) {
        this.failures++;
        delayMs = backoff(this.failures);
        this.deps.metrics.reconcileRuns.inc({ outcome: 'error' });
        this.deps.logger.error({ err, retryInMs: delayMs }, 'reconcile pass failed');
        // Waiters get the next successful pass.
        this.passListeners.unshift(...listeners);
      }
    }
  }

  /** One full pass. Public for tests; production code goes through trigger(). */
  async runOnce(): Promise<ReconcileReport> {
    const { registry, store, kamailios, policy, managedSets, metrics, logger } = this.deps;
    const started = performance.now();
    let nodes = await registry.list();
    const transitions = await this.housekeep(nodes);
    if (transitions.length > 0) nodes = await registry.list();

    const computed = flattenSets(desiredSets(this.withoutKamailioAddresses(nodes), policy));
    let graceEndsAt: number | undefined;
    let synced;
    try {
      synced = await store.sync((actual) => {
        const kept = this.withUnknownNodesKept(computed, nodes, actual);
        graceEndsAt = kept.graceEndsAt;
        return kept.rows;
      });
    } catch (err) {
      // The table cannot be written, so no Kamailio can reload (they read the same table);
      // what must stop getting calls still can, in memory. Only nodes the registry knows
      // are touched: without the table, an unknown node's rows cannot be told apart.
      const known = new Set(nodes.map((n) => n.nodeId));
      await Promise.all(kamailios.map((k) => this.syncKamailio(k, computed, managedSets, (d) => known.has(duidOf(d.attrs) ?? ''))));
      throw err;
    }
    const { desired, changes: rowChanges } = synced;
    for (const c of rowChanges) metrics.rowChanges.inc({ kind: c.kind });
    if (rowChanges.length > 0) {
      logger.info({ changes: rowChanges.map((c) => `${c.kind} ${c.row.setid} ${c.row.destination}`) }, 'dispatcher table updated');
    }

    const outcomes = await Promise.all(kamailios.map((k) => this.syncKamailio(k, desired, managedSets)));
    // After the syncs, so a removal never waits on it; what it learns applies from the next pass.
    await Promise.all(kamailios.filter((_, i) => !outcomes[i]?.error).map((k) => this.learnSockets(k)));
    if (outcomes.length > 0 && outcomes.every((o) => o.inSync)) {
      transitions.push(...(await this.promoteJoining(nodes)));
    }

    for (const state of NODE_STATES) metrics.nodes.set({ state }, nodes.filter((n) => n.state === state).length);
    const now = this.now();
    const waits = [this.deps.resyncMs];
    const deadline = nextDeadline(nodes);
    // 1 ms past the deadline: housekeeping expires nodes whose deadline is <= now.
    if (deadline !== undefined) waits.push(Math.max(0, deadline - now) + 1);
    if (graceEndsAt !== undefined) waits.push(Math.max(0, graceEndsAt - now) + 1);
    for (const o of outcomes) {
      if (o.waitMs !== undefined) waits.push(o.waitMs);
      if (o.error) waits.push(backoff(this.kamailioFailures.get(o.kamailio) ?? 1));
    }
    const durationMs = performance.now() - started;
    metrics.reconcileRuns.inc({ outcome: 'ok' });
    metrics.reconcileSeconds.observe(durationMs / 1000);
    const report: ReconcileReport = {
      nodes: nodes.length,
      transitions,
      rowChanges,
      kamailios: outcomes,
      nextRunInMs: Math.max(0, Math.min(...waits)),
      durationMs,
    };
    this.lastReport = report;
    this.lastSuccessAt = now;
    return report;
  }

  /** Nodes at a Kamailio's own address (learned after they were accepted) get no rows. */
  private withoutKamailioAddresses(nodes: NodeRecord[]): NodeRecord[] {
    const book = this.deps.addresses;
    if (!book) return nodes;
    const loops = nodes.filter((n) => n.state !== 'gone' && book.has(n.sipUri));
    if (loops.length === 0) return nodes;
    this.deps.logger.error({ nodes: loops.map((n) => ({ nodeId: n.nodeId, sipUri: n.sipUri })) }, "nodes at a Kamailio's own address are kept out of routing");
    return nodes.filter((n) => !loops.includes(n));
  }

  /** Reads a Kamailio's listen sockets when never read or older than a resync; never fails the sync. */
  private async learnSockets(k: KamailioRpc): Promise<void> {
    const book = this.deps.addresses;
    if (!book) return;
    const at = this.socketsReadAt.get(k.name);
    if (at !== undefined && performance.now() - at < this.deps.resyncMs) return;
    this.socketsReadAt.set(k.name, performance.now());
    try {
      book.learn(k.name, await k.listSockets());
    } catch (err) {
      // Without corex (or while unreachable) the configured addresses still apply.
      if (!book.knows(k.name)) this.socketsReadAt.delete(k.name);
      this.deps.logger.warn({ kamailio: k.name, err: (err as Error).message }, 'could not read Kamailio listen sockets (corex.list_sockets)');
    }
  }

  /**
   * Adds the stored rows of nodes the registry has no record of, while they are within
   * their grace; reports when the earliest grace ends so a pass runs then.
   */
  private withUnknownNodesKept(desired: DispatcherRow[], nodes: readonly NodeRecord[], actual: readonly StoredRow[]) {
    const known = new Set(nodes.map((n) => n.nodeId));
    const wanted = new Set(desired.map((r) => rowKey(r.setid, r.destination)));
    const now = this.now();
    const kept: DispatcherRow[] = [];
    const stillUnknown = new Set<string>();
    let graceEndsAt: number | undefined;
    for (const { id: _id, ...row } of actual) {
      const nodeId = row.description.startsWith('sbc:') ? row.description.slice(4) : undefined;
      if (nodeId === undefined || known.has(nodeId)) continue;
      stillUnknown.add(nodeId);
      const since = this.unknownSince.get(nodeId) ?? now;
      this.unknownSince.set(nodeId, since);
      const endsAt = since + this.deps.unknownNodeGraceMs;
      if (endsAt <= now || wanted.has(rowKey(row.setid, row.destination))) continue;
      kept.push(row);
      graceEndsAt = graceEndsAt === undefined ? endsAt : Math.min(graceEndsAt, endsAt);
    }
    for (const id of this.unknownSince.keys()) if (!stillUnknown.has(id)) this.unknownSince.delete(id);
    if (kept.length > 0) {
      this.deps.logger.warn({ rows: kept.length }, 'keeping rows of nodes the registry does not know yet (registry lost?)');
    }
    return { rows: [...desired, ...kept], graceEndsAt };
  }

  private async housekeep(nodes: readonly NodeRecord[]) {
    const { registry, membership, metrics, logger } = this.deps;
    const hk = housekeeping(nodes, this.now());
    const done: { nodeId: string; to: string; reason: string }[] = [];
    const goneFor = async (n: NodeRecord, reason: GoneReason) => {
      const next = await transitionNode(
        registry,
        n.nodeId,
        (cur, t) => {
          if (cur.state === 'gone') return undefined;
          // Re-check on the latest record: a heartbeat may have landed since we listed.
          if (reason === 'expired' && cur.expiresAt > t) return undefined;
          if (reason === 'superseded' && cur.sipUri !== n.sipUri) return undefined;
          return markGone(cur, reason, t);
        },
        this.now,
        membership,
      );
      if (next?.state === 'gone' && next.goneReason === reason) {
        metrics.nodeTransitions.inc({ to: 'gone', reason });
        logger.warn({ nodeId: n.nodeId, sipUri: n.sipUri, reason }, 'node is gone');
        done.push({ nodeId: n.nodeId, to: 'gone', reason });
      }
    };
    for (const n of hk.expired) await goneFor(n, 'expired');
    for (const n of hk.superseded) await goneFor(n, 'superseded');
    return done;
  }

  private async promoteJoining(nodes: readonly NodeRecord[]) {
    const { registry, membership, metrics, logger } = this.deps;
    const done: { nodeId: string; to: string; reason: string }[] = [];
    for (const n of nodes) {
      if (n.state !== 'joining') continue;
      const next = await transitionNode(
        registry,
        n.nodeId,
        (cur, t) => (cur.state === 'joining' ? withState(cur, 'active', t) : undefined),
        this.now,
        membership,
      );
      if (next?.state === 'active') {
        metrics.nodeTransitions.inc({ to: 'active', reason: 'in-every-kamailio' });
        metrics.joinToActiveSeconds.observe(Math.max(0, next.stateChangedAt - n.joinedAt) / 1000);
        logger.info({ nodeId: n.nodeId, sipUri: n.sipUri }, 'node is active in every Kamailio');
        done.push({ nodeId: n.nodeId, to: 'active', reason: 'in-every-kamailio' });
      }
    }
    return done;
  }

  /**
   * Brings one Kamailio to `desired`. With `deselectOnly`, no reload is attempted and only
   * destinations it accepts are taken out of selection (used while the table is unusable).
   */
  private async syncKamailio(
    k: KamailioRpc,
    desired: readonly DispatcherRow[],
    managed: ReadonlySet<number>,
    deselectOnly?: (d: KamailioDestination) => boolean,
  ): Promise<KamailioOutcome> {
    const { metrics, logger, reloadDeltaMs } = this.deps;
    const rpc = async <T>(method: string, call: () => Promise<T>): Promise<T> => {
      try {
        const v = await call();
        metrics.kamailioRpc.inc({ kamailio: k.name, method, outcome: 'ok' });
        return v;
      } catch (err) {
        const outcome =
          err instanceof KamailioUnreachableError ? 'unreachable' : err instanceof KamailioReloadPendingError ? 'pending' : 'error';
        metrics.kamailioRpc.inc({ kamailio: k.name, method, outcome });
        throw err;
      }
    };
    let deselected = 0;
    try {
      const drift = compareWithKamailio(desired, await rpc('dispatcher.list', () => k.list()), managed);
      if (drift.inSync) return this.kamailioOk(k, { kamailio: k.name, inSync: true, reloaded: false, deselected });

      const sinceReload = performance.now() - (this.lastReloadAt.get(k.name) ?? -Infinity);
      if (!deselectOnly && sinceReload >= reloadDeltaMs) {
        try {
          this.lastReloadAt.set(k.name, performance.now());
          await rpc('dispatcher.reload', () => k.reload());
          const after = compareWithKamailio(desired, await rpc('dispatcher.list', () => k.list()), managed);
          if (!after.inSync) {
            throw new Error(
              `still differs after reload (missing ${after.missing.length}, extra ${after.extra.length}, changed ${after.changed.length}): is Kamailio reading this database?`,
            );
          }
          logger.info({ kamailio: k.name }, 'dispatcher reloaded and verified');
          return this.kamailioOk(k, { kamailio: k.name, inSync: true, reloaded: true, deselected });
        } catch (err) {
          // Someone else reloaded inside the window: never drop the change, retry after it.
          if (!(err instanceof KamailioReloadPendingError)) throw err;
          logger.info({ kamailio: k.name }, 'reload refused inside reload_delta; retrying after the window');
        }
      }
      // Window closed: take departing destinations out of selection now; the next
      // reload removes their rows for good.
      for (const d of drift.toDeselect.filter(deselectOnly ?? (() => true))) {
        const row = desired.find((r) => r.setid === d.setId && r.destination === d.uri);
        const state = row && (row.flags & DS_FLAG_DISABLED) !== 0 ? 'd' : 'i';
        await rpc('dispatcher.set_state', () => k.setState(state, d.setId, d.uri));
        deselected++;
      }
      const waitMs = Math.max(0, reloadDeltaMs - (performance.now() - (this.lastReloadAt.get(k.name) ?? -Infinity)));
      this.kamailioFailures.set(k.name, 0);
      metrics.kamailioInSync.set({ kamailio: k.name }, 0);
      return { kamailio: k.name, inSync: false, reloaded: false, deselected, waitMs: Math.ceil(waitMs) + 1 };
    } catch (err) {
      const failures = (this.kamailioFailures.get(k.name) ?? 0) + 1;
      this.kamailioFailures.set(k.name, failures);
      metrics.kamailioInSync.set({ kamailio: k.name }, 0);
      logger.error({ err, kamailio: k.name, failures }, 'Kamailio sync failed; will retry');
      return { kamailio: k.name, inSync: false, reloaded: false, deselected, error: (err as Error).message };
    }
  }

  private kamailioOk(k: KamailioRpc, o: KamailioOutcome): KamailioOutcome {
    this.kamailioFailures.set(k.name, 0);
    this.deps.metrics.kamailioInSync.set({ kamailio: k.name }, 1);
    return o;
  }
}
