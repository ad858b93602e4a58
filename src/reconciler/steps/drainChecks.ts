import { withState } from '../../core/lifecycle.js';
import type { Leadership } from '../../leader/leadership.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { AgentCommands } from '../../nats/agentCommands.js';
import type { NodeRegistry } from '../../ports/nodeRegistry.js';
import { transitionNode, type MembershipPolicy } from '../../registry/membership.js';
import type { DispatcherPass } from '../dispatcherPass.js';
import type { ReconcileStep } from '../runner.js';
import { refusedByFence, stillLeading } from './leadership.js';

export interface DrainChecksDeps {
  readonly agents: Pick<AgentCommands, 'status'>;
  readonly registry: NodeRegistry;
  readonly membership: MembershipPolicy;
  readonly metrics: Pick<Metrics, 'nodeTransitions' | 'fencedWrites'>;
  readonly now: () => number;
  /** How often each draining node's calls are asked of FreeSWITCH itself. */
  readonly everyMs: number;
  readonly leadership?: Leadership;
}

/**
 * A drain must never stall on a leaked counter: a node's calls are counted by its agent from
 * channel events (what its heartbeats carry, and what takes it to drained), and one lost
 * hang-up would keep that count above 0 for good. So every `everyMs` each draining node's
 * FreeSWITCH is asked itself (`status` through the agent: its `N session(s)`), and a node
 * FreeSWITCH says has none is drained on that count. An agent that does not answer is asked
 * again next time; the pass never fails for it.
 */
export function drainChecksStep(deps: DrainChecksDeps): ReconcileStep<DispatcherPass> {
  const askedAt = new Map<string, number>();
  return {
    name: 'drain-checks',
    async run(pass, ctx) {
      const drainingMachines = new Set(pass.machines.filter((m) => m.drain !== undefined).map((m) => m.machineId));
      const draining = pass.nodes.filter((n) => n.state === 'draining' && drainingMachines.has(n.machineId));
      const live = new Set(draining.map((n) => n.nodeId));
      for (const id of askedAt.keys()) if (!live.has(id)) askedAt.delete(id);
      for (const n of draining) {
        const now = deps.now();
        const last = askedAt.get(n.nodeId);
        if (last !== undefined && now - last < deps.everyMs) continue;
        askedAt.set(n.nodeId, now);
        let sessions: number;
        try {
          sessions = (await deps.agents.status(n.nodeId)).sessions;
        } catch (err) {
          ctx.logger.warn({ nodeId: n.nodeId, err: (err as Error).message }, 'could not ask a draining node\'s FreeSWITCH for its calls; asking again later');
          continue;
        }
        if (sessions > 0) continue;
        stillLeading(deps.leadership, pass, `node ${n.nodeId} -> drained`);
        let next;
        try {
          next = await transitionNode(
            deps.registry,
            n.nodeId,
            (cur, t) => (cur.state === 'draining' ? { ...withState(cur, 'drained', t), sessions: 0 } : undefined),
            deps.now,
            deps.membership,
            pass.epoch,
          );
        } catch (err) {
          refusedByFence(err, deps, ctx, `node ${n.nodeId} -> drained`);
          throw err;
        }
        if (next?.state !== 'drained') continue;
        deps.metrics.nodeTransitions.inc({ to: 'drained', reason: 'freeswitch-count' });
        if (n.sessions > 0) ctx.logger.warn({ nodeId: n.nodeId, counted: n.sessions, freeswitch: 0 }, 'calls counted from events disagree with FreeSWITCH; drained on FreeSWITCH\'s count');
        else ctx.logger.info({ nodeId: n.nodeId }, 'node drained');
        pass.transitions.push({ nodeId: n.nodeId, to: 'drained', reason: 'freeswitch-count' });
      }
      if (draining.length > 0) ctx.wakeIn(deps.everyMs);
    },
  };
}
