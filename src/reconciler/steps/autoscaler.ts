import { desiredReplicas, mayApply, type AutoscaleCooldowns, type AutoscalePolicy } from '../../core/autoscaler.js';
import type { Leadership } from '../../leader/leadership.js';
import type { Metrics } from '../../metrics/metrics.js';
import { recordOperation, type OperationLog } from '../../ports/operationLog.js';
import type { ScaleTargetStore } from '../../ports/scaleTargetStore.js';
import type { DispatcherPass } from '../dispatcherPass.js';
import type { ReconcileStep } from '../runner.js';
import { stillLeading } from './leadership.js';

export interface AutoscalerStepDeps {
  /** `on` sets the scale target; `dry-run` only logs (and shows in `sbc_autoscaler_desired_replicas`) what it would set. */
  readonly mode: 'on' | 'dry-run';
  readonly policy: AutoscalePolicy;
  readonly cooldowns: AutoscaleCooldowns;
  /** How often the rule is evaluated. */
  readonly everyMs: number;
  readonly targets: ScaleTargetStore;
  readonly metrics: Pick<Metrics, 'autoscalerDesired'>;
  readonly now: () => number;
  readonly leadership?: Leadership;
  readonly operations?: Pick<OperationLog, 'record'>;
}

/**
 * The autoscaler (off by default): every `everyMs`, the N+1 rule (core/autoscaler.ts) over the
 * nodes' calls and capacities; a new target is set like an operator's POST /v1/scale (the scale
 * step then gets the pool there), once the cooldown since the last target (whoever set it)
 * has passed. An operator's target is thus kept at least one cooldown.
 */
export function autoscalerStep(deps: AutoscalerStepDeps): ReconcileStep<DispatcherPass> {
  let evaluatedAt: number | undefined;
  let lastLogged: number | undefined;
  return {
    name: 'autoscaler',
    async run(pass, ctx) {
      const now = deps.now();
      if (evaluatedAt !== undefined && now - evaluatedAt < deps.everyMs) return;
      evaluatedAt = now;
      ctx.wakeIn(deps.everyMs);
      const decision = desiredReplicas(pass.nodes, deps.policy);
      deps.metrics.autoscalerDesired.set(decision.replicas);
      const current = await deps.targets.get();
      const verdict = mayApply(decision.replicas, current?.replicas, current ? { last: { replicas: current.replicas, at: current.requestedAt } } : {}, now, deps.cooldowns);
      if (!verdict.ok) {
        if (decision.replicas !== current?.replicas && lastLogged !== decision.replicas) ctx.logger.info({ replicas: decision.replicas, current: current?.replicas, why: verdict.why }, 'autoscaler: not yet');
        lastLogged = decision.replicas;
        return;
      }
      lastLogged = decision.replicas;
      if (deps.mode === 'dry-run') {
        ctx.logger.info({ replicas: decision.replicas, current: current?.replicas, calls: decision.calls, reason: decision.reason }, 'autoscaler (dry run): would set the scale target');
        return;
      }
      stillLeading(deps.leadership, pass, 'autoscaler target');
      await deps.targets.put({ replicas: decision.replicas, requestedAt: now, by: 'autoscaler' });
      ctx.logger.info({ replicas: decision.replicas, previous: current?.replicas, calls: decision.calls, reason: decision.reason }, 'autoscaler: scale target set');
      await recordOperation(
        deps.operations,
        { kind: 'scale', actor: 'autoscaler', target: 'pool', outcome: 'requested', detail: { replicas: decision.replicas, ...(current ? { previous: current.replicas } : {}), calls: decision.calls, reason: decision.reason }, at: now },
        ctx.logger,
      );
      ctx.wakeIn(0);
    },
  };
}
