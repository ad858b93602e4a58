import { housekeeping, markGone, withState } from './lifecycle.js';
import type { GoneReason, NodeRecord, NodeState } from './node.js';

/** What the routing side observed in this pass, for the transitions that depend on it. */
export interface RoutingObservation {
  /** Every Kamailio holds exactly the desired sets (so a joining node is routable everywhere). */
  readonly inEveryKamailio: boolean;
}

export interface TransitionDue {
  readonly nodeId: string;
  readonly to: NodeState;
  readonly reason: GoneReason | 'in-every-kamailio';
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
 */
export function transitionsDue(nodes: readonly NodeRecord[], now: number, observed?: RoutingObservation, heardSince: number | null = 0): TransitionDue[] {
  const { expired, superseded } = housekeeping(nodes, now, heardSince);
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
  if (observed?.inEveryKamailio) {
    const leaving = new Set(due.map((d) => d.nodeId));
    for (const n of nodes) {
      if (n.state !== 'joining' || leaving.has(n.nodeId)) continue;
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
