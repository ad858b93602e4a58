import { nextDeadline } from '../../core/lifecycle.js';
import { NODE_STATES, type NodeRecord } from '../../core/node.js';
import { transitionsDue, type TransitionDue } from '../../core/transitions.js';
import type { Leadership } from '../../leader/leadership.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { NodeRegistry } from '../../ports/nodeRegistry.js';
import { transitionNode, type MembershipPolicy } from '../../registry/membership.js';
import type { DispatcherPass } from '../dispatcherPass.js';
import type { ReconcileStep, StepContext } from '../runner.js';
import { refusedByFence, stillLeading } from './leadership.js';

export interface NodeTransitionDeps {
  readonly registry: NodeRegistry;
  readonly membership: MembershipPolicy;
  readonly metrics: Pick<Metrics, 'nodeTransitions' | 'joinToActiveSeconds' | 'nodes' | 'nodeSessions' | 'nodeCapacity' | 'fencedWrites'>;
  readonly now: () => number;
  readonly leadership?: Leadership;
  /**
   * Since when this replica has heard NATS without a break (null while it is cut off): a
   * node's silence counts only from then (lifecycle.ts expiryAt). Absent: always heard.
   */
  readonly heardSince?: () => number | null;
}

/** Writes one due transition (compare-and-set on the latest record); true when it took effect. */
async function apply(deps: NodeTransitionDeps, pass: DispatcherPass, ctx: StepContext, due: TransitionDue, before: NodeRecord): Promise<boolean> {
  stillLeading(deps.leadership, pass, `node ${due.nodeId} -> ${due.to}`);
  let next: NodeRecord | undefined;
  try {
    next = await transitionNode(deps.registry, due.nodeId, due.apply, deps.now, deps.membership, pass.epoch);
  } catch (err) {
    refusedByFence(err, deps, ctx, `node ${due.nodeId} -> ${due.to}`);
    throw err;
  }
  if (next?.state !== due.to || (due.to === 'gone' && next.goneReason !== due.reason)) return false;
  deps.metrics.nodeTransitions.inc({ to: due.to, reason: due.reason });
  if (due.to === 'active') {
    deps.metrics.joinToActiveSeconds.observe(Math.max(0, next.stateChangedAt - before.joinedAt) / 1000);
    ctx.logger.info({ nodeId: due.nodeId, sipUri: before.sipUri }, 'node is active in every Kamailio');
  } else {
    ctx.logger.warn({ nodeId: due.nodeId, sipUri: before.sipUri, reason: due.reason }, 'node is gone');
  }
  pass.transitions.push({ nodeId: due.nodeId, to: due.to, reason: due.reason });
  return true;
}

/**
 * First step of a pass: reads the registry (nodes and machines) and stores the transitions
 * due on the records alone (expired, superseded), so routing is computed from nodes that
 * are really there.
 * Schedules the next pass at the earliest node deadline.
 */
export function nodeTransitionsStep(deps: NodeTransitionDeps): ReconcileStep<DispatcherPass> {
  return {
    name: 'node-transitions',
    async run(pass, ctx) {
      let nodes = await deps.registry.list();
      const machines = await deps.registry.listMachines();
      const byId = new Map(nodes.map((n) => [n.nodeId, n]));
      let changed = false;
      const heardSince = deps.heardSince ? deps.heardSince() : 0;
      const intents = new Map(machines.map((m) => [m.machineId, m]));
      for (const due of transitionsDue(nodes, deps.now(), { heardSince, machines: intents })) {
        const before = byId.get(due.nodeId);
        if (before && (await apply(deps, pass, ctx, due, before))) changed = true;
      }
      if (changed) nodes = await deps.registry.list();
      pass.nodes = nodes;
      pass.machines = machines;
      const deadline = nextDeadline(nodes, heardSince);
      // 1 ms past the deadline: a node expires once its deadline is <= now.
      if (deadline !== undefined) ctx.wakeIn(Math.max(0, deadline - deps.now()) + 1);
    },
  };
}

/**
 * Last step of a pass: the transitions that depend on what the Kamailios hold (joining ->
 * active once every Kamailio has the sets), and the node gauges.
 */
export function nodePromotionsStep(deps: NodeTransitionDeps): ReconcileStep<DispatcherPass> {
  return {
    name: 'node-promotions',
    async run(pass, ctx) {
      const inEveryKamailio = pass.kamailios.length > 0 && pass.kamailios.every((o) => o.inSync);
      const byId = new Map(pass.nodes.map((n) => [n.nodeId, n]));
      for (const due of transitionsDue(pass.nodes, deps.now(), { observed: { inEveryKamailio }, heardSince: deps.heardSince ? deps.heardSince() : 0 })) {
        const before = byId.get(due.nodeId);
        // Leaving transitions belong to the first step; one found here is for the next pass.
        if (due.to === 'active' && before) await apply(deps, pass, ctx, due, before);
      }
      for (const state of NODE_STATES) deps.metrics.nodes.set({ state }, pass.nodes.filter((n) => n.state === state).length);
      // Rebuilt each pass: a node that is gone (or left the registry) has no calls to show.
      deps.metrics.nodeSessions.reset();
      deps.metrics.nodeCapacity.reset();
      for (const n of pass.nodes) {
        if (n.state === 'gone') continue;
        deps.metrics.nodeSessions.set({ node: n.nodeId }, n.sessions);
        deps.metrics.nodeCapacity.set({ node: n.nodeId }, n.capacity);
      }
    },
  };
}
