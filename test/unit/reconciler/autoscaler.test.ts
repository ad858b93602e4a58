import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/metrics/metrics.js';
import type { OperationEntry } from '../../../src/ports/operationLog.js';
import { newDispatcherPass } from '../../../src/reconciler/dispatcherPass.js';
import type { StepContext } from '../../../src/reconciler/runner.js';
import { autoscalerStep } from '../../../src/reconciler/steps/autoscaler.js';
import { InMemoryScaleTargetStore } from '../../fakes/inMemoryScaleTargetStore.js';
import { silentLogger } from '../../fakes/silentLogger.js';
import { node } from '../core/fixtures.js';

const ctx: StepContext = { passId: 1, logger: silentLogger, wakeIn: () => undefined, holdFor: () => undefined, targetFailed: () => ({ failures: 1, retryInMs: 1 }), targetOk: () => undefined, failPass: () => undefined };

function setup(mode: 'on' | 'dry-run') {
  let t = 1_000_000;
  const targets = new InMemoryScaleTargetStore();
  const audit: OperationEntry[] = [];
  const metrics = createMetrics();
  const step = autoscalerStep({
    mode, targets, metrics, now: () => t, everyMs: 10_000,
    policy: { targetUtilisation: 0.5, minReplicas: 2, maxReplicas: 10 },
    cooldowns: { upMs: 60_000, downMs: 600_000 },
    operations: { record: (e) => (audit.push(e), Promise.resolve({ ...e, id: audit.length })) },
  });
  const pass = (sessions: number[]) => {
    const p = newDispatcherPass();
    p.nodes = sessions.map((s, i) => node(i + 1, { sessions: s, capacity: 100 }));
    return p;
  };
  return { targets, audit, metrics, step, pass, advance: (ms: number) => (t += ms), now: () => t };
}

describe('autoscaler step', () => {
  it('on: sets the N+1 target, audited as the autoscaler; waits out the cooldown after an operator\'s target', async () => {
    const s = setup('on');
    await s.step.run(s.pass([80, 80, 80]), ctx);
    expect(s.targets.target).toEqual({ replicas: 6, requestedAt: s.now(), by: 'autoscaler' });
    expect(s.audit.map((a) => [a.kind, a.actor, a.target, a.detail.replicas, a.detail.calls])).toEqual([['scale', 'autoscaler', 'pool', 6, 240]]);
    // An operator asks for 3; the rule still wants 6: kept for one scale-up cooldown.
    await s.targets.put({ replicas: 3, requestedAt: s.now(), by: 'api:10.0.0.9' });
    s.advance(30_000);
    await s.step.run(s.pass([80, 80, 80]), ctx);
    expect(s.targets.target?.replicas).toBe(3);
    s.advance(30_000);
    await s.step.run(s.pass([80, 80, 80]), ctx);
    expect(s.targets.target).toMatchObject({ replicas: 6, by: 'autoscaler' });
  });

  it('evaluates at most every everyMs', async () => {
    const s = setup('on');
    await s.step.run(s.pass([10, 10]), ctx);
    expect(s.targets.target?.replicas).toBe(2);
    await s.targets.put({ replicas: 9, requestedAt: 0, by: 'api:x' });
    s.advance(5000);
    await s.step.run(s.pass([10, 10]), ctx);
    expect(s.targets.target?.replicas).toBe(9);
    s.advance(5000);
    await s.step.run(s.pass([10, 10]), ctx);
    expect(s.targets.target?.replicas).toBe(2);
  });

  it('dry-run: only says what it would set (metric and log), never the target', async () => {
    const s = setup('dry-run');
    await s.step.run(s.pass([80, 80, 80]), ctx);
    expect(s.targets.target).toBeUndefined();
    expect(s.audit).toEqual([]);
    expect((await s.metrics.registry.getSingleMetric('sbc_autoscaler_desired_replicas')!.get()).values[0]!.value).toBe(6);
  });
});
