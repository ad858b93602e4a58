import { healthWeight, weightScore, type HealthReport } from './health.js';
import { machineTakesNewCalls, type MachineIntent } from './machine.js';
import { acceptsCalls, inRouting, type NodeRecord } from './node.js';
import { rowAttrs, rowDescription } from './rowIdentity.js';

/** Kamailio dispatcher flag bits (file/DB `flags` column). */
export const DS_FLAG_INACTIVE = 1;
export const DS_FLAG_DISABLED = 4;

export type SetPurpose = 'general' | 'rooms' | 'cascade';

export interface SetPolicy {
  readonly purpose: SetPurpose;
  readonly setId: number;
  /** The algorithm Kamailio's routing script uses for this set (documentation and API). */
  readonly algorithm: number;
}

export interface DispatcherPolicy {
  readonly sets: readonly SetPolicy[];
}

/** One row of Kamailio's dispatcher table, as we want it. */
export interface DispatcherRow {
  readonly setid: number;
  readonly destination: string;
  readonly flags: number;
  readonly priority: number;
  readonly attrs: string;
  readonly description: string;
}

export interface DispatcherSet {
  readonly setId: number;
  readonly purpose: SetPurpose;
  readonly algorithm: number;
  /** Highest priority first: the order Kamailio holds them in. */
  readonly destinations: readonly DispatcherRow[];
}

/** Kamailio dispatcher's relative-weight load balancing (`rweight` attribute). */
export const WEIGHT_BALANCED_ALGORITHM = 11;

/** Kamailio's `weight` attribute is a share from 1 to 100. */
export function weightFor(capacity: number, largest: number): number {
  if (largest <= 0) return 1;
  return clampWeight(Math.round((100 * capacity) / largest));
}

function clampWeight(weight: number): number {
  return Math.min(100, Math.max(1, Math.round(weight)));
}

/** The priority column is a signed 32-bit integer; slots are far below that in practice. */
const MAX_PRIORITY = 2_147_483_647;

/**
 * One row per node that is still in routing, with only the facts Kamailio needs.
 * Pure. Nodes that share an address are collapsed to the newest, so one address is never
 * listed twice even before housekeeping has stored the older node as superseded.
 */
function routableNodes(nodes: readonly NodeRecord[]): NodeRecord[] {
  const byUri = new Map<string, NodeRecord>();
  for (const n of nodes) {
    if (!inRouting(n.state)) continue;
    const seen = byUri.get(n.sipUri);
    if (!seen || n.joinedAt > seen.joinedAt || (n.joinedAt === seen.joinedAt && n.slot > seen.slot)) {
      byUri.set(n.sipUri, n);
    }
  }
  return [...byUri.values()];
}

/** What routing reads of a node's health (core/health.ts); a node without one counts as healthy. */
export type RoutingHealth = ReadonlyMap<string, Pick<HealthReport, 'state' | 'score'>>;

/**
 * Whether critical nodes leave new selection: only while some node that could take a new
 * call is not critical. When every one of them is critical (a load spike that pushes the
 * whole pool past the thresholds, or a sensor that misreads every node), taking them all out
 * would refuse every call while the nodes still have room: they stay in, and the health step
 * reports it (sbc_health_all_critical).
 */
export function criticalLeaveSelection(nodes: readonly NodeRecord[], machines: readonly MachineIntent[], health: RoutingHealth): boolean {
  const intent = new Map(machines.map((m) => [m.machineId, m]));
  const open = routableNodes(nodes).filter((n) => acceptsCalls(n) && machineTakesNewCalls(intent.get(n.machineId)));
  return open.length === 0 || open.some((n) => health.get(n.nodeId)?.state !== 'critical');
}

/**
 * Pure: the dispatcher sets Kamailio should hold for these nodes.
 *
 * Every destination gets the node's slot as a unique, stable priority: Kamailio reverses
 * equal priorities on every reload, which would remap hashed rooms for no reason.
 * Draining and drained nodes, nodes on a machine the operator cordoned or drains, and nodes
 * whose probe found something blocking new calls (SIP profile down, inbound paused), stay
 * listed but disabled, so the size of hashed sets (and so every other room's node) does not
 * change while a node drains or is paused. A machine's weight override replaces the weight
 * its node's capacity gives.
 *
 * Health (core/health.ts healthWeight): a degraded node's weight shrinks with its score (in
 * steps of 10) when the general set balances by weight (algorithm 11, `rweight`); under the
 * other algorithms a weight steers nothing, so it stays the base weight and a score change
 * costs no table write or reload. A critical node's rows are disabled like a blocked node's,
 * whatever the algorithm, unless every node that could take a call is critical
 * (criticalLeaveSelection).
 */
export function desiredSets(
  nodes: readonly NodeRecord[],
  policy: DispatcherPolicy,
  machines: readonly MachineIntent[] = [],
  health: RoutingHealth = new Map(),
): DispatcherSet[] {
  const intent = new Map(machines.map((m) => [m.machineId, m]));
  const routable = routableNodes(nodes).sort((a, b) => b.slot - a.slot);
  const largest = routable.reduce((m, n) => Math.max(m, n.capacity), 0);
  const criticalOut = criticalLeaveSelection(nodes, machines, health);
  const weighted = policy.sets.some((s) => s.purpose === 'general' && s.algorithm === WEIGHT_BALANCED_ALGORITHM);
  const rows = routable.map((n) => {
    const machine = intent.get(n.machineId);
    const base = machine?.weightOverride ?? weightFor(n.capacity, largest);
    const h = health.get(n.nodeId);
    const effect = h ? healthWeight(base, h.state, weightScore(h.score)) : { weight: base, takesNewCalls: true };
    const healthWeighted = effect.takesNewCalls ? effect.weight : criticalOut ? base : 1;
    const weight = weighted ? healthWeighted : base;
    return {
      destination: n.sipUri,
      flags: acceptsCalls(n) && machineTakesNewCalls(machine) && (effect.takesNewCalls || !criticalOut) ? 0 : DS_FLAG_DISABLED,
      priority: Math.min(n.slot, MAX_PRIORITY),
      attrs: rowAttrs({ nodeId: n.nodeId, capacity: n.capacity, weight: clampWeight(weight), machineId: n.machineId }),
      description: rowDescription(n.nodeId),
    };
  });
  return policy.sets.map((s) => ({
    setId: s.setId,
    purpose: s.purpose,
    algorithm: s.algorithm,
    destinations: rows.map((r) => ({ setid: s.setId, ...r })),
  }));
}

export function flattenSets(sets: readonly DispatcherSet[]): DispatcherRow[] {
  return sets.flatMap((s) => s.destinations);
}
