import { updateMachine } from '../../registry/machines.js';
import { planDrain, pinnedTo, resumesDue, type DrainStep } from '../../core/drain.js';
import { healthFrom, withState } from '../../core/lifecycle.js';
import type { MachineIntent } from '../../core/machine.js';
import type { NodeRecord } from '../../core/node.js';
import type { Leadership } from '../../leader/leadership.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { AgentCommands, NodeControlCommands } from '../../nats/agentCommands.js';
import type { NodeRegistry } from '../../ports/nodeRegistry.js';
import { recordOperation, type OperationLog } from '../../ports/operationLog.js';
import { transitionNode, type MembershipPolicy } from '../../registry/membership.js';
import type { DispatcherPass } from '../dispatcherPass.js';
import type { ReconcileStep, StepContext } from '../runner.js';
import { refusedByFence, stillLeading } from './leadership.js';

export interface DrainChecksDeps {
  readonly agents: Pick<AgentCommands, 'status'> & NodeControlCommands;
  readonly registry: NodeRegistry;
  readonly membership: MembershipPolicy;
  readonly metrics: Pick<Metrics, 'nodeTransitions' | 'fencedWrites' | 'drainActions' | 'drainsPastDeadline'>;
  readonly now: () => number;
  /** How often each draining node's FreeSWITCH is asked for its calls. */
  readonly everyMs: number;
  readonly leadership?: Leadership;
  /** The audit log of pauses, resumes and forced hang-ups; `actor` names this replica in it. */
  readonly operations?: { readonly log: Pick<OperationLog, 'record'>; readonly actor: string };
}

/** Compare-and-set attempts on a machine record (an operator's drain or undrain may land between). */
const CAS_ATTEMPTS = 3;

/**
 * What draining asks of FreeSWITCH itself, every `everyMs` per draining node (core/drain.ts
 * decides; this step carries it out through the node's agent):
 *
 * - its calls, asked of FreeSWITCH (`status`): a node whose counter leaked (one lost hang-up
 *   event keeps the count above 0 for good) is drained on FreeSWITCH's own count;
 * - `fsctl pause inbound` once no room is pinned to it, and undone once the drain is lifted;
 * - at the deadline, `hangup` ends the remaining calls with the drain's cause; `keep` leaves
 *   them and counts the drain in `sbc_drains_past_deadline` (an alert).
 *
 * An agent that does not answer is asked again next time; the pass never fails for it.
 */
export function drainChecksStep(deps: DrainChecksDeps): ReconcileStep<DispatcherPass> {
  const askedAt = new Map<string, number>();
  const overdue = new Set<string>();
  return {
    name: 'drain-checks',
    async run(pass, ctx) {
      const machines = new Map(pass.machines.map((m) => [m.machineId, m]));
      // Draining nodes, and drained ones not yet paused inbound (their last room's pin may outlive their last call).
      const draining = pass.nodes.filter((n) => {
        const m = machines.get(n.machineId);
        return m?.drain !== undefined && (n.state === 'draining' || (n.state === 'drained' && m.inboundPaused !== true));
      });
      const live = new Set(draining.map((n) => n.nodeId));
      for (const id of askedAt.keys()) if (!live.has(id)) askedAt.delete(id);
      for (const id of overdue) if (!live.has(id)) overdue.delete(id);
      for (const n of draining) {
        const now = deps.now();
        const last = askedAt.get(n.nodeId);
        if (last !== undefined && now - last < deps.everyMs) continue;
        askedAt.set(n.nodeId, now);
        const machine = machines.get(n.machineId) as MachineIntent & { drain: NonNullable<MachineIntent['drain']> };
        await checkDrainingNode(deps, pass, ctx, n, machine, overdue);
      }
      deps.metrics.drainsPastDeadline.set(overdue.size);
      if (draining.length > 0) ctx.wakeIn(deps.everyMs);
    },
  };
}

/**
 * Undrained: a FreeSWITCH the leader paused inbound for the drain is resumed. Runs before
 * the table step, and clears the `inbound-paused` blocker its last heartbeat reported once
 * FreeSWITCH said it is resumed, so an undrained node is selectable in this very pass, not
 * a heartbeat later.
 */
export function inboundResumeStep(deps: DrainChecksDeps): ReconcileStep<DispatcherPass> {
  return {
    name: 'inbound-resume',
    async run(pass, ctx) {
      for (const { machine, node } of resumesDue(pass.machines, pass.nodes)) await resume(deps, pass, ctx, machine, node);
    },
  };
}

async function checkDrainingNode(
  deps: DrainChecksDeps,
  pass: DispatcherPass,
  ctx: StepContext,
  n: NodeRecord,
  machine: MachineIntent & { drain: NonNullable<MachineIntent['drain']> },
  overdue: Set<string>,
): Promise<void> {
  let fs;
  try {
    fs = await deps.agents.status(n.nodeId);
  } catch (err) {
    ctx.logger.warn({ nodeId: n.nodeId, err: (err as Error).message }, 'could not ask a draining node\'s FreeSWITCH for its calls; asking again later');
    return;
  }
  // No rooms step (rooms off): no pins. A failed rooms step: not known, so no pause on a guess.
  const pins = pass.rooms === undefined ? [] : pass.rooms.error === undefined ? pass.rooms.pins.values() : undefined;
  const plan = planDrain(machine.drain, fs, pinnedTo(n, pins), deps.now());
  if (plan.overdue && !overdue.has(n.nodeId)) {
    ctx.logger.warn({ nodeId: n.nodeId, deadline: new Date(machine.drain.deadline).toISOString(), sessions: fs.sessions }, 'drain past its deadline with calls left; kept draining (onDeadline keep)');
  }
  if (plan.overdue) overdue.add(n.nodeId);
  else overdue.delete(n.nodeId);
  for (const step of plan.steps) {
    if (step.kind === 'drained') {
      await drainedOnFreeSwitchCount(deps, pass, ctx, n);
      continue;
    }
    if (!(await carryOut(deps, pass, ctx, n, machine, step))) return;
  }
}

/** One pause or hang-up through the agent; false when it failed (the rest waits for the next check). */
async function carryOut(deps: DrainChecksDeps, pass: DispatcherPass, ctx: StepContext, n: NodeRecord, machine: MachineIntent, step: Exclude<DrainStep, { kind: 'drained' }>): Promise<boolean> {
  stillLeading(deps.leadership, pass, `${step.kind} on node ${n.nodeId}`);
  const kind = step.kind === 'pause-inbound' ? 'pause' : 'hangup';
  const detail = step.kind === 'pause-inbound' ? { why: step.why } : { cause: step.cause };
  try {
    if (step.kind === 'pause-inbound') {
      // Flag first: should the command land and this replica die, the next leader still resumes it on undrain.
      await setInboundPaused(deps, machine.machineId, true);
      await deps.agents.pauseInbound(n.nodeId, true);
      ctx.logger.info({ nodeId: n.nodeId, why: step.why }, 'FreeSWITCH paused inbound (fsctl pause inbound) for the drain');
    } else {
      await deps.agents.hangupAll(n.nodeId, step.cause);
      ctx.logger.warn({ nodeId: n.nodeId, cause: step.cause, sessions: n.sessions }, 'drain deadline passed: remaining calls hung up');
    }
    deps.metrics.drainActions.inc({ action: step.kind, outcome: 'done' });
    await audit(deps, ctx, { kind, target: n.nodeId, outcome: 'done', detail: { ...detail, machineId: n.machineId } });
    return true;
  } catch (err) {
    if (refusedByFence(err, deps, ctx, `${step.kind} on node ${n.nodeId}`)) throw err;
    deps.metrics.drainActions.inc({ action: step.kind, outcome: 'failed' });
    ctx.logger.warn({ nodeId: n.nodeId, err: (err as Error).message }, `${step.kind} for a drain failed; trying again at the next check`);
    await audit(deps, ctx, { kind, target: n.nodeId, outcome: 'failed', detail: { ...detail, machineId: n.machineId, error: (err as Error).message } });
    return false;
  }
}

async function drainedOnFreeSwitchCount(deps: DrainChecksDeps, pass: DispatcherPass, ctx: StepContext, n: NodeRecord): Promise<void> {
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
  if (next?.state !== 'drained') return;
  deps.metrics.nodeTransitions.inc({ to: 'drained', reason: 'freeswitch-count' });
  if (n.sessions > 0) ctx.logger.warn({ nodeId: n.nodeId, counted: n.sessions, freeswitch: 0 }, 'calls counted from events disagree with FreeSWITCH; drained on FreeSWITCH\'s count');
  else ctx.logger.info({ nodeId: n.nodeId }, 'node drained');
  pass.transitions.push({ nodeId: n.nodeId, to: 'drained', reason: 'freeswitch-count' });
}

async function resume(deps: DrainChecksDeps, pass: DispatcherPass, ctx: StepContext, machine: MachineIntent, node: NodeRecord | undefined): Promise<void> {
  stillLeading(deps.leadership, pass, `resume inbound on machine ${machine.machineId}`);
  try {
    if (node) {
      const { inboundPaused } = await deps.agents.pauseInbound(node.nodeId, false);
      if (!inboundPaused) await clearPausedBlocker(deps, pass, node);
      ctx.logger.info({ nodeId: node.nodeId, machineId: machine.machineId }, 'drain lifted: FreeSWITCH takes inbound calls again (fsctl resume inbound)');
      deps.metrics.drainActions.inc({ action: 'resume-inbound', outcome: 'done' });
      await audit(deps, ctx, { kind: 'resume', target: node.nodeId, outcome: 'done', detail: { machineId: machine.machineId } });
    }
    await setInboundPaused(deps, machine.machineId, false);
  } catch (err) {
    if (refusedByFence(err, deps, ctx, `resume inbound on machine ${machine.machineId}`)) throw err;
    deps.metrics.drainActions.inc({ action: 'resume-inbound', outcome: 'failed' });
    ctx.logger.warn({ machineId: machine.machineId, err: (err as Error).message }, 'could not resume inbound calls after a drain was lifted; trying again next pass');
    ctx.wakeIn(deps.everyMs);
  }
}

/** FreeSWITCH said it takes inbound calls again: the blocker its last heartbeat carried is stale. */
async function clearPausedBlocker(deps: DrainChecksDeps, pass: DispatcherPass, node: NodeRecord): Promise<void> {
  const next = await transitionNode(
    deps.registry,
    node.nodeId,
    (cur) => {
      const blockers = (cur.blockers ?? []).filter((b) => b !== 'inbound-paused');
      return blockers.length === (cur.blockers ?? []).length ? undefined : { ...cur, blockers, health: healthFrom(blockers), rev: cur.rev + 1 };
    },
    deps.now,
    deps.membership,
    pass.epoch,
  );
  if (!next) return;
  const i = pass.nodes.findIndex((n) => n.nodeId === node.nodeId);
  if (i >= 0) pass.nodes[i] = next;
}

/** Sets or clears the machine's inboundPaused flag on what is stored now (no machine: nothing to do). */
async function setInboundPaused(deps: DrainChecksDeps, machineId: string, paused: boolean): Promise<void> {
  await updateMachine(deps.registry, machineId, (current) => {
    if (!current || (current.inboundPaused === true) === paused) return undefined;
    const { inboundPaused: _old, rev: _r, ...rest } = current;
    return { ...rest, ...(paused ? { inboundPaused: true } : {}) };
  }, CAS_ATTEMPTS);
}

const audit = (deps: DrainChecksDeps, ctx: StepContext, e: { kind: 'pause' | 'resume' | 'hangup'; target: string; outcome: 'done' | 'failed'; detail: Record<string, unknown> }): Promise<void> =>
  recordOperation(deps.operations?.log, { ...e, actor: deps.operations?.actor ?? '', at: deps.now() }, ctx.logger);
