import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { Writable } from 'node:stream';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { ReconcilePassError, ReconcileRunner, type ReconcileStep, type StepPlan } from '../../../src/reconciler/runner.js';
import { silentLogger } from '../../fakes/silentLogger.js';

/** A pass state for these tests: the order in which steps ran. */
interface Trace {
  readonly ran: string[];
}

const step = (name: string, run: ReconcileStep<Trace>['run'] = () => Promise.resolve()): ReconcileStep<Trace> => ({
  name,
  run: async (pass, ctx) => {
    pass.ran.push(name);
    await run(pass, ctx);
  },
});

function runner(steps: StepPlan<Trace>, opts: { resyncMs?: number; logger?: pino.Logger } = {}) {
  const metrics = createMetrics();
  const r = new ReconcileRunner<Trace>({
    steps,
    newPass: () => ({ ran: [] }),
    resyncMs: opts.resyncMs ?? 10_000,
    logger: opts.logger ?? silentLogger,
    metrics,
    backoff: { baseMs: 100, capMs: 800 },
  });
  return { r, metrics };
}

describe('reconcile runner (knows nothing of what its steps reconcile)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['performance', 'setTimeout', 'clearTimeout', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs the steps in order, an inner list side by side, and a new step is only one more entry', async () => {
    const order: string[] = [];
    const slow = (name: string, ms: number) =>
      step(name, async () => {
        order.push(`${name} start`);
        await new Promise((res) => setTimeout(res, ms));
        order.push(`${name} end`);
      });
    const { r } = runner([step('first'), [slow('a', 20), slow('b', 10)], step('pins')]);
    const pass = r.runOnce();
    await vi.advanceTimersByTimeAsync(25);
    const o = await pass;
    expect(o.pass.ran).toEqual(['first', 'a', 'b', 'pins']);
    expect(order).toEqual(['a start', 'b start', 'b end', 'a end']);
    expect(o.passId).toBe(1);
  });

  it('schedules the next pass at the earliest deadline a step reported, never later than the resync', async () => {
    const { r } = runner([step('x', (_p, ctx) => (ctx.wakeIn(700), ctx.wakeIn(300), Promise.resolve()))], { resyncMs: 5000 });
    expect((await r.runOnce()).nextRunInMs).toBe(300);
    const { r: idle } = runner([step('x')], { resyncMs: 5000 });
    expect((await idle.runOnce()).nextRunInMs).toBe(5000);
  });

  it('a thrown step fails the pass at once and skips the later steps; failPass lets them run first', async () => {
    const { r, metrics } = runner([step('table', () => Promise.reject(new Error('db down'))), step('kamailio')]);
    const err = await r.runOnce().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReconcilePassError);
    expect((err as ReconcilePassError).step).toBe('table');
    expect((err as Error).message).toBe('reconcile pass 1 failed in step table: db down');
    expect(r.lastAttempt?.pass.ran).toEqual(['table']);
    expect(r.failedPassesSinceSuccess).toBe(1);

    const { r: soft } = runner([step('table', (_p, ctx) => (ctx.failPass(new Error('db down')), Promise.resolve())), step('kamailio')]);
    await expect(soft.runOnce()).rejects.toThrow('failed in step table: db down');
    expect(soft.lastAttempt?.pass.ran).toEqual(['table', 'kamailio']);
    expect(soft.lastSuccessAt).toBeUndefined();
    expect((await metrics.registry.getSingleMetric('sbc_reconcile_runs_total')?.get())?.values.map((v) => [v.labels.outcome, v.value])).toEqual([['error', 1]]);
  });

  it('a failing target backs off per target, capped, and starts over once it works', async () => {
    let down = true;
    const seen: number[] = [];
    const { r } = runner([
      step('k1', (_p, ctx) => {
        if (down) seen.push(ctx.targetFailed('k1').retryInMs);
        else ctx.targetOk('k1');
        return Promise.resolve();
      }),
      step('k2', (_p, ctx) => (ctx.targetOk('k2'), Promise.resolve())),
    ]);
    const next: number[] = [];
    for (let i = 0; i < 6; i++) next.push((await r.runOnce()).nextRunInMs);
    expect(seen).toEqual([100, 200, 400, 800, 800, 800]);
    expect(next).toEqual(seen);
    down = false;
    await r.runOnce();
    down = true;
    await r.runOnce();
    expect(seen.at(-1)).toBe(100);
  });

  it('triggers coalesce: a burst while a pass runs is one more pass, not one per trigger', async () => {
    let release: (() => void) | undefined;
    const { r } = runner([step('slow', () => new Promise<void>((res) => (release = res)))]);
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(r.lastAttempt).toBeUndefined();
    for (let i = 0; i < 50; i++) r.trigger();
    release?.();
    await vi.advanceTimersByTimeAsync(0);
    release?.();
    await vi.advanceTimersByTimeAsync(0);
    expect(r.lastAttempt?.passId).toBe(2);
    await vi.advanceTimersByTimeAsync(1000);
    expect(r.lastAttempt?.passId).toBe(2);
    const stopped = r.stop();
    release?.();
    await stopped;
  });

  it('a hold delays passes asked for by non-urgent triggers until it ends; an urgent trigger runs at once', async () => {
    let passes = 0;
    const { r } = runner([step('window', (_p, ctx) => (passes++, ctx.holdFor(1000), Promise.resolve()))]);
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(passes).toBe(1);
    r.trigger(false);
    await vi.advanceTimersByTimeAsync(500);
    expect(passes).toBe(1);
    await vi.advanceTimersByTimeAsync(501);
    expect(passes).toBe(2);
    r.trigger(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(passes).toBe(3);
    await r.stop();
  });

  it('a failed pass is retried with capped backoff, and nextPass() waiters get the next successful one', async () => {
    let fail = 3;
    const { r } = runner([step('flaky', () => (fail-- > 0 ? Promise.reject(new Error('no')) : Promise.resolve()))]);
    const waiter = r.nextPass();
    r.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(r.failedPassesSinceSuccess).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(r.failedPassesSinceSuccess).toBe(2);
    await vi.advanceTimersByTimeAsync(200);
    expect(r.failedPassesSinceSuccess).toBe(3);
    await vi.advanceTimersByTimeAsync(400);
    const o = await waiter;
    expect(o.passId).toBe(4);
    expect(r.failedPassesSinceSuccess).toBe(0);
    await r.stop();
  });

  it('every log line of a step carries the pass id; each step is timed by name', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) }));
    const { r, metrics } = runner([step('pins', (_p, ctx) => (ctx.logger.info('pinned'), Promise.resolve()))], { logger });
    await r.runOnce();
    await r.runOnce();
    expect(lines.map((l) => [l.msg, l.pass])).toEqual([['pinned', 1], ['pinned', 2]]);
    const timed = (await metrics.registry.getSingleMetric('sbc_reconcile_step_duration_seconds')?.get())?.values.find(
      (v) => v.labels.step === 'pins' && (v as { metricName?: string }).metricName === 'sbc_reconcile_step_duration_seconds_count',
    );
    expect(timed?.value).toBe(2);
  });
});
