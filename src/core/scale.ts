import type { MachineIntent } from './machine.js';
import type { NodeRecord } from './node.js';
import type { MachineRef, RemovalChoice, ScaleRequest } from '../ports/provisioner.js';

/**
 * Scaling, decided (pure; steps/scale.ts carries it out). The operator (or the autoscaler)
 * sets a target; the pool gets there the safe way round:
 *
 * - **Down**: the machines to go are drained first (a scale drain: `drain.by` `scale`, no
 *   deadline hang-up), chosen as the ones with the fewest calls and rooms pinned to them, then
 *   the youngest; unless the orchestrator removes fixed ones (a StatefulSet: its highest
 *   ordinals), which are then the ones drained. Only once a machine is drained is the
 *   provisioner asked to remove it.
 * - **Up**: scale drains no longer needed are lifted first (a draining machine is the
 *   cheapest capacity there is), then the provisioner is asked for the rest; new machines
 *   join the normal way.
 *
 * A new target replaces the last (merged: the latest wins); what was already drained for the
 * old one is kept or lifted as the new one needs.
 */
export interface ScaleTarget {
  readonly replicas: number;
  readonly requestedAt: number;
  /** Who asked: `api:<address>`, `autoscaler`. */
  readonly by: string;
}

export interface PoolMachine {
  readonly machine: MachineIntent | undefined;
  readonly node: NodeRecord;
}

export interface ScalePlan {
  /** Machines serving now (joining or active, no drain). */
  readonly serving: number;
  /** Machines to put in a scale drain now. */
  readonly drain: readonly NodeRecord[];
  /** Scale drains to lift (the target went up again). */
  readonly undrain: readonly NodeRecord[];
  /** Scale-drained machines whose node is drained: the provisioner may remove them. */
  readonly removable: readonly MachineRef[];
  /** Scale drains still waiting for their calls to end. */
  readonly stillDraining: readonly NodeRecord[];
  /** What to ask of the provisioner; undefined: the pool is as the target wants, or waits on drains. */
  readonly request: ScaleRequest | undefined;
  /** The pool holds the target: serving == replicas, no scale drain left. */
  readonly settled: boolean;
}

const ref = (n: NodeRecord): MachineRef => ({ machineId: n.machineId, nodeId: n.nodeId, hostname: n.hostname, sipUri: n.sipUri });

/** The live node of each machine (the newest not gone). */
export function poolOf(nodes: readonly NodeRecord[], machines: readonly MachineIntent[]): PoolMachine[] {
  const byMachine = new Map<string, NodeRecord>();
  for (const n of nodes) {
    if (n.state === 'gone') continue;
    const cur = byMachine.get(n.machineId);
    if (!cur || n.joinedAt > cur.joinedAt) byMachine.set(n.machineId, n);
  }
  const intents = new Map(machines.map((m) => [m.machineId, m]));
  return [...byMachine.values()].map((node) => ({ node, machine: intents.get(node.machineId) }));
}

const isScaleDrain = (p: PoolMachine) => p.machine?.drain?.by === 'scale';
/** Takes new calls: joining or active, neither draining nor cordoned. */
export const isServing = (p: PoolMachine) => (p.node.state === 'active' || p.node.state === 'joining') && p.machine?.drain === undefined && p.machine?.cordoned !== true;

/**
 * Pure: the order scale-down takes machines in: fewest calls plus pinned rooms first, then the
 * youngest (joined last), then by machine id so the choice is deterministic.
 */
export function removalOrder(pool: readonly PoolMachine[], pinned: (n: NodeRecord) => number): PoolMachine[] {
  return [...pool].sort(
    (a, b) => a.node.sessions + pinned(a.node) - (b.node.sessions + pinned(b.node)) || b.node.joinedAt - a.node.joinedAt || a.node.machineId.localeCompare(b.node.machineId),
  );
}

export function planScale(
  target: ScaleTarget | undefined,
  pool: readonly PoolMachine[],
  choice: RemovalChoice,
  pinned: (n: NodeRecord) => number,
): ScalePlan {
  const serving = pool.filter(isServing);
  const scaleDrained = pool.filter(isScaleDrain);
  const removableNodes = scaleDrained.filter((p) => p.node.state === 'drained');
  const draining = scaleDrained.filter((p) => p.node.state !== 'drained');
  const none: ScalePlan = { serving: serving.length, drain: [], undrain: [], removable: [], stillDraining: draining.map((p) => p.node), request: undefined, settled: scaleDrained.length === 0 };
  if (!target) return none;
  const excess = serving.length - target.replicas;
  let drain: PoolMachine[] = [];
  let undrain: PoolMachine[] = [];
  if (excess > 0) {
    const candidates = choice.kind === 'exactly' ? serving.filter((p) => choice.machineIds.includes(p.node.machineId)) : removalOrder(serving, pinned);
    drain = candidates.slice(0, excess);
  } else if (excess < 0) {
    // Lift the scale drains with the most calls left first (the least drained), drained ones last.
    undrain = [...scaleDrained].sort((a, b) => Number(a.node.state === 'drained') - Number(b.node.state === 'drained') || b.node.sessions - a.node.sessions).slice(0, -excess);
  }
  const lifted = new Set(undrain.map((p) => p.node.machineId));
  const removable = removableNodes.filter((p) => !lifted.has(p.node.machineId));
  const waiting = [...draining.filter((p) => !lifted.has(p.node.machineId)), ...drain];
  const servingAfter = serving.length - drain.length + undrain.length;
  // The pool the provisioner is to hold: the target plus what still drains (never cut).
  const replicas = target.replicas + waiting.length;
  const short = servingAfter < target.replicas;
  const request = removable.length > 0 || short ? { replicas, remove: removable.map((p) => ref(p.node)) } : undefined;
  return {
    serving: serving.length,
    drain: drain.map((p) => p.node),
    undrain: undrain.map((p) => p.node),
    removable: removable.map((p) => ref(p.node)),
    stillDraining: waiting.map((p) => p.node),
    request,
    settled: excess === 0 && scaleDrained.length === 0,
  };
}
