import { MachineConflictError, updateMachine } from '../../registry/machines.js';
import { pinnedTo } from '../../core/drain.js';
import type { MachineDrain, MachineIntent } from '../../core/machine.js';
import type { NodeRecord } from '../../core/node.js';
import { isServing, planScale, poolOf } from '../../core/scale.js';
import type { Leadership } from '../../leader/leadership.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { NodeRegistry } from '../../ports/nodeRegistry.js';
import { recordOperation, type OperationEntry, type OperationLog } from '../../ports/operationLog.js';
import type { Provisioner, RemovalChoice, ScaleRequest } from '../../ports/provisioner.js';
import type { ScaleTargetStore } from '../../ports/scaleTargetStore.js';
import type { DispatcherPass } from '../dispatcherPass.js';
import type { ReconcileStep, StepContext } from '../runner.js';
import { stillLeading } from './leadership.js';

export interface ScaleStepDeps {
  readonly targets: ScaleTargetStore;
  readonly provisioner: Provisioner;
  readonly registry: NodeRegistry;
  readonly metrics: Pick<Metrics, 'scaleTarget' | 'scaleServing' | 'provisionerActions'>;
  readonly now: () => number;
  /** The same request is made of the provisioner again after this long while the pool does not match. */
  readonly retryMs: number;
  /** The deadline of a scale drain (never a hang-up: its calls end by themselves). */
  readonly drainDeadlineMs: number;
  readonly leadership?: Leadership;
  readonly operations?: { readonly log: Pick<OperationLog, 'record'>; readonly actor: string };
}

const CAS_ATTEMPTS = 3;

const sameRequest = (a: ScaleRequest, b: ScaleRequest) =>
  a.replicas === b.replicas && a.remove.length === b.remove.length && a.remove.every((m, i) => m.machineId === b.remove[i]?.machineId);

/**
 * Brings the pool to the scale target (core/scale.ts decides): drains the machines to go
 * (a scale drain; drain checks pause and drain them like any other), asks the provisioner to
 * remove those drained and to start what is short, lifts scale drains a higher target no
 * longer needs, and forgets the drain of a removed machine once its node is gone (so a new
 * machine given the same name, as compose does, joins serving). Runs after the drain checks,
 * so a node drained in this pass is removed in it.
 */
export function scaleStep(deps: ScaleStepDeps): ReconcileStep<DispatcherPass> {
  let last: { request: ScaleRequest; at: number; ok: boolean } | undefined;
  return {
    name: 'scale',
    async run(pass, ctx) {
      const target = await deps.targets.get();
      const pool = poolOf(pass.nodes, pass.machines);
      await forgetRemoved(deps, pass, ctx);
      if (!target) return;
      deps.metrics.scaleTarget.set(target.replicas);
      const pins = pass.rooms?.error === undefined ? [...(pass.rooms?.pins.values() ?? [])] : [];
      const pinned = (n: NodeRecord) => pinnedTo(n, pins) ?? 0;
      const servingNow = pool.filter(isServing).length;
      let choice: RemovalChoice = { kind: 'any' };
      if (servingNow > target.replicas) {
        try {
          choice = await deps.provisioner.removalChoice(servingNow - target.replicas);
        } catch (err) {
          ctx.logger.warn({ err: (err as Error).message }, 'the provisioner could not say which machines a scale-down may remove; waiting');
          ctx.wakeIn(deps.retryMs);
          return;
        }
      }
      const plan = planScale(target, pool, choice, pinned);
      deps.metrics.scaleServing.set(plan.serving);
      const now = deps.now();
      for (const n of plan.drain) {
        stillLeading(deps.leadership, pass, `scale drain of ${n.nodeId}`);
        const drain: MachineDrain = { deadline: now + deps.drainDeadlineMs, onDeadline: 'keep', since: now, startSessions: n.sessions, by: 'scale' };
        if (await writeDrain(deps, n, drain)) {
          ctx.logger.info({ nodeId: n.nodeId, machineId: n.machineId, sessions: n.sessions, replicas: target.replicas }, 'scale-down: draining the node');
          await audit(deps, ctx, { kind: 'drain', target: n.nodeId, outcome: 'requested', detail: { machineId: n.machineId, by: 'scale', replicas: target.replicas } });
        }
      }
      for (const n of plan.undrain) {
        stillLeading(deps.leadership, pass, `scale undrain of ${n.nodeId}`);
        if (await writeDrain(deps, n, undefined)) {
          ctx.logger.info({ nodeId: n.nodeId, machineId: n.machineId, replicas: target.replicas }, 'scale-up: lifting a scale drain');
          await audit(deps, ctx, { kind: 'undrain', target: n.nodeId, outcome: 'requested', detail: { machineId: n.machineId, by: 'scale', replicas: target.replicas } });
        }
      }
      // A drain or undrain written now is taken up by the next pass's transitions.
      if (plan.drain.length > 0 || plan.undrain.length > 0) ctx.wakeIn(0);
      if (plan.request) await provision(plan.request);
      if (!plan.settled) ctx.wakeIn(deps.retryMs);

      async function provision(request: ScaleRequest): Promise<void> {
        if (last && sameRequest(last.request, request) && now - last.at < deps.retryMs) return;
        stillLeading(deps.leadership, pass, 'provisioner request');
        last = { request, at: now, ok: false };
        const detail = { provisioner: deps.provisioner.kind, replicas: request.replicas, remove: request.remove.map((m) => m.machineId) };
        try {
          const out = await deps.provisioner.apply(request);
          last = { request, at: now, ok: true };
          deps.metrics.provisionerActions.inc({ provisioner: deps.provisioner.kind, outcome: 'done' });
          ctx.logger.info({ ...detail, created: out.created, removed: out.removed }, 'provisioner asked');
          await audit(deps, ctx, { kind: 'provision', target: 'pool', outcome: 'done', detail: { ...detail, created: out.created, removed: out.removed, result: out.detail } });
        } catch (err) {
          deps.metrics.provisionerActions.inc({ provisioner: deps.provisioner.kind, outcome: 'failed' });
          ctx.logger.error({ ...detail, err: (err as Error).message }, 'provisioner request failed; asking again later');
          await audit(deps, ctx, { kind: 'provision', target: 'pool', outcome: 'failed', detail: { ...detail, error: (err as Error).message } });
          ctx.wakeIn(deps.retryMs);
        }
      }
    },
  };
}

/** Scale drains of machines with no live node left (removed): forgotten, so the machine id can serve again. */
async function forgetRemoved(deps: ScaleStepDeps, pass: DispatcherPass, ctx: StepContext): Promise<void> {
  const live = new Set(pass.nodes.filter((n) => n.state !== 'gone').map((n) => n.machineId));
  for (const m of pass.machines) {
    if (m.drain?.by !== 'scale' || live.has(m.machineId)) continue;
    stillLeading(deps.leadership, pass, `forget the scale drain of ${m.machineId}`);
    if (await clearDrain(deps.registry, m)) ctx.logger.info({ machineId: m.machineId }, 'removed machine: its scale drain is forgotten');
  }
}

/** Forgets a scale drain on what is stored now; an operator's drain (or none) is left alone. */
async function clearDrain(registry: NodeRegistry, m: MachineIntent): Promise<boolean> {
  const written = await updateMachine(registry, m.machineId, (current) => {
    if (current?.drain?.by !== 'scale') return undefined;
    const { drain: _d, inboundPaused: _p, rev: _r, ...rest } = current;
    return rest;
  }, CAS_ATTEMPTS).catch(conflictIsNoWrite);
  return written !== undefined;
}

/** Sets (or lifts, `undefined`) the drain on a node's machine by compare-and-set; false when nothing was written or another writer kept winning. */
async function writeDrain(deps: ScaleStepDeps, n: NodeRecord, drain: MachineDrain | undefined): Promise<boolean> {
  const written = await updateMachine(deps.registry, n.machineId, (current) => {
    // An operator's drain is the operator's: a scale-up never lifts it.
    if (drain === undefined && current?.drain?.by !== 'scale') return undefined;
    const { drain: _old, rev: _r, ...rest } = current ?? { machineId: n.machineId, slot: n.slot, nodeId: n.nodeId, rev: 0 };
    return { ...rest, ...(drain ? { drain } : {}) };
  }, CAS_ATTEMPTS).catch(conflictIsNoWrite);
  return written !== undefined;
}

/** A lost compare-and-set race is no write: the next pass decides again on what won. */
function conflictIsNoWrite(err: unknown): undefined {
  if (err instanceof MachineConflictError) return undefined;
  throw err;
}

const audit = (deps: ScaleStepDeps, ctx: StepContext, e: Omit<OperationEntry, 'actor' | 'at'>): Promise<void> =>
  recordOperation(deps.operations?.log, { ...e, actor: deps.operations?.actor ?? '', at: deps.now() }, ctx.logger);
