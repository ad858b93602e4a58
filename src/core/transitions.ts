import { housekeeping, markGone, withState } from './lifecycle.js';
import type { MachineIntent } from './machine.js';
import type { GoneReason, NodeRecord, NodeState } from './node.js';

/** What the routing side observed in this pass, for the transitions that depend on it. */
export interface RoutingObservation {
  /** Every Kamailio holds exactly the desired sets (so a joining node is routable everywhere). */
  readonly inEveryKamailio: boolean;
}

/** Why a node moved in or out of a drain: its machine's intent, or its last call ending. */
export type DrainReason = 'drain-requested' | 'calls-ended' | 'undrained';

/** What a pass knows besides the records. */
export interface TransitionContext {
  /** What the routing side observed; joining -> active needs it. */
  readonly observed?: RoutingObservation;
  /** Since when this replica has heard NATS without a break; null: cut off now (lifecycle.ts expiryAt). Default: always. */
  readonly heardSince?: number | null;
  /** The operator's intent per machine: drains move nodes to draining and drained, undrains back. */
  readonly machines?: ReadonlyMap<string, MachineIntent>;
}

export interface TransitionDue {
  readonly nodeId: string;
  readonly to: NodeState;
  readonly reason: GoneReason | 'in-every-kamailio' | DrainReason;
  /**
   * The change, applied to the *latest* stored record at write time: undefined when that
   * record no longer qualifies (a heartbeat landed, another writer moved it first).
   */
  readonly apply: (current: NodeRecord, now: number) => NodeRecord | undefined;
}

/**
 * Pure: every stored state change the nodes are due for now. Expiry (no heartbeat before
 * the deadline) and supersession (another node took the address) need only the records;
 * joining -> active needs the routing observation, so it is due only when one is given and
 * says every Kamailio holds the sets. (Draining -> drained joins here with drain intents.)
 * Each transition re-checks its condition on the record it is applied to, because the
 * records were listed before the write and heartbeats keep arriving. `heardSince` (since when
 * this replica has heard NATS without a break; null: it hears nothing now) holds expiry back
 * while the silence may be this replica's own (lifecycle.ts expiryAt).
 *
 * Drains, from the machine's intent: a node (active, or joining: a FreeSWITCH restarted on a
 * draining machine comes back draining) goes draining; a draining node whose calls are 0 (its
 * agent's count, which it re-checks against FreeSWITCH, in a report since it went draining)
 * goes drained; a draining or drained
 * node whose machine no longer drains goes back to active.
 */
export function transitionsDue(nodes: readonly NodeRecord[], now: number, ctx: TransitionContext = {}): TransitionDue[] {
  const { observed, machines } = ctx;
  const { expired, superseded } = housekeeping(nodes, now, ctx.heardSince === undefined ? 0 : ctx.heardSince);
  const gone = (n: NodeRecord, reason: GoneReason): TransitionDue => ({
    nodeId: n.nodeId,
    to: 'gone',
    reason,
    apply: (cur, t) => {
      if (cur.state === 'gone') return undefined;
      if (reason === 'expired' && cur.expiresAt > t) return undefined;
      if (reason === 'superseded' && cur.sipUri !== n.sipUri) return undefined;
      return markGone(cur, reason, t);
    },
  });
  const due = [...expired.map((n) => gone(n, 'expired')), ...superseded.map((n) => gone(n, 'superseded'))];
  const leaving = new Set(due.map((d) => d.nodeId));
  if (machines) due.push(...drainTransitions(nodes.filter((n) => !leaving.has(n.nodeId)), machines));
  const moving = new Set(due.map((d) => d.nodeId));
  if (observed?.inEveryKamailio) {
    for (const n of nodes) {
      if (n.state !== 'joining' || moving.has(n.nodeId)) continue;
      due.push({
        nodeId: n.nodeId,
        to: 'active',
        reason: 'in-every-kamailio',
        apply: (cur, t) => (cur.state === 'joining' ? withState(cur, 'active', t) : undefined),
      });
    }
  }
  return due;
}

/**
 * No calls, as told by a report that arrived after the node went draining: the count of the
 * report before it may be older than calls that were still starting (seen: a node drained at
 * once with 5 calls up, its last heartbeat from before they were answered).
 */
export const callsEnded = (n: Pick<NodeRecord, 'sessions' | 'lastSeenAt' | 'stateChangedAt'>): boolean => n.sessions === 0 && n.lastSeenAt > n.stateChangedAt;

function drainTransitions(nodes: readonly NodeRecord[], machines: ReadonlyMap<string, MachineIntent>): TransitionDue[] {
  const out: TransitionDue[] = [];
  const drains = (n: Pick<NodeRecord, 'machineId'>) => machines.get(n.machineId)?.drain !== undefined;
  for (const n of nodes) {
    if ((n.state === 'active' || n.state === 'joining') && drains(n)) {
      out.push({
        nodeId: n.nodeId,
        to: 'draining',
        reason: 'drain-requested',
        apply: (cur, t) => ((cur.state === 'active' || cur.state === 'joining') ? withState(cur, 'draining', t) : undefined),
      });
    } else if (n.state === 'draining' && drains(n) && callsEnded(n)) {
      out.push({
        nodeId: n.nodeId,
        to: 'drained',
        reason: 'calls-ended',
        // A call that arrived meanwhile (a pinned room's caller) keeps it draining.
        apply: (cur, t) => (cur.state === 'draining' && callsEnded(cur) ? withState(cur, 'drained', t) : undefined),
      });
    } else if ((n.state === 'draining' || n.state === 'drained') && !drains(n)) {
      out.push({
        nodeId: n.nodeId,
        to: 'active',
        reason: 'undrained',
        apply: (cur, t) => (cur.state === 'draining' || cur.state === 'drained' ? withState(cur, 'active', t) : undefined),
      });
    }
  }
  return out;
}
