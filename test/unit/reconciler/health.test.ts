import { beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_HEALTH_POLICY, type HealthPolicy, type HealthReport } from '../../../src/core/health.js';
import type { NodeRecord } from '../../../src/core/node.js';
import type { HookEvent, HookOutcome, HookRunner } from '../../../src/health/hooks.js';
import type { Sensor, SensorResult } from '../../../src/health/sensor.js';
import { createMetrics, type Metrics } from '../../../src/metrics/metrics.js';
import { newDispatcherPass, type DispatcherPass, type KamailioObservation } from '../../../src/reconciler/dispatcherPass.js';
import type { StepContext } from '../../../src/reconciler/runner.js';
import { healthStep } from '../../../src/reconciler/steps/health.js';
import { InMemoryHealthStore } from '../../fakes/inMemoryHealthStore.js';
import { silentLogger } from '../../fakes/silentLogger.js';
import { node } from '../core/fixtures.js';

const EVERY = 1000;
const POLICY: HealthPolicy = { ...DEFAULT_HEALTH_POLICY, holdMs: 2000, holdReadings: 2 };

/** A node heard on time at `t` with this idle CPU. */
function heard(n: number, t: number, idleCpuPercent: number, over: Partial<NodeRecord> = {}): NodeRecord {
  return node(n, {
    heartbeatIntervalMs: 1000,
    lastSeenAt: t,
    heartbeatArrivals: [t - 2000, t - 1000, t],
    load: { idleCpuPercent, sentAt: t, heartbeatEventAt: t - 500, heartbeatEventIntervalMs: 5000 },
    ...over,
  });
}

describe('health step', () => {
  let t: number;
  let store: InMemoryHealthStore;
  let metrics: Metrics;
  let wakes: number[];
  let observations: KamailioObservation[];
  let fired: HookEvent[];
  const hooks: HookRunner = {
    fire: (e) => {
      fired.push(e);
      return Promise.resolve<HookOutcome[]>([{ hook: 'pager', transition: e.transition, nodeId: e.node.nodeId, durationMs: 1, ok: true }]);
    },
    idle: () => Promise.resolve(),
  };
  const ctx = (): StepContext => ({
    passId: 1, logger: silentLogger, wakeIn: (ms) => wakes.push(ms), holdFor: () => undefined,
    targetFailed: () => ({ failures: 1, retryInMs: 1 }), targetOk: () => undefined, failPass: () => undefined,
  });
  const make = (over: Partial<Parameters<typeof healthStep>[0]> = {}) =>
    healthStep({ policy: POLICY, everyMs: EVERY, store, observations: () => observations, metrics, now: () => t, hooks, ...over });
  const passOf = (nodes: NodeRecord[], epoch?: number): DispatcherPass => {
    const p = newDispatcherPass();
    p.nodes = nodes;
    if (epoch !== undefined) p.epoch = epoch;
    return p;
  };
  /** One pass at `t` with every node's idle CPU as given. */
  const run = async (step: ReturnType<typeof make>, cpu: number[], epoch?: number) => {
    const pass = passOf(cpu.map((c, i) => heard(i + 1, t, c)), epoch);
    await step.run(pass, ctx());
    return pass;
  };
  const stateOf = (pass: DispatcherPass, n: number) => pass.health?.get(node(n).nodeId)?.state;

  beforeEach(() => {
    t = 1_000_000;
    store = new InMemoryHealthStore();
    metrics = createMetrics();
    wakes = [];
    observations = [];
    fired = [];
  });

  it('scores every live node, hands the reports to the pass, stores them and gauges each sensor', async () => {
    const step = make();
    const pass = await run(step, [99, 15]);
    const a = pass.health!.get(node(1).nodeId)!;
    const b = pass.health!.get(node(2).nodeId)!;
    expect(a).toMatchObject({ state: 'healthy', score: 100 });
    // idle-cpu 15 % on the 30 -> 5 ramp: 40, degraded.
    expect(b).toMatchObject({ state: 'degraded', score: 40, worst: 'idle-cpu' });
    expect(b.readings.map((r) => r.sensor)).toEqual(['heartbeat-age', 'heartbeat-jitter', 'call-utilisation', 'idle-cpu', 'sip-profile']);
    expect(store.reports.get(node(2).nodeId)).toEqual(b);
    const text = await metrics.registry.metrics();
    expect(text).toContain(`sbc_node_sensor_value{node="${node(2).nodeId}",sensor="idle-cpu"} 15`);
    expect(text).toContain(`sbc_node_health_score{node="${node(2).nodeId}"} 40`);
    expect(text).toContain(`sbc_node_health{node="${node(2).nodeId}",state="degraded"} 1`);
    expect(wakes).toEqual([EVERY]);
  });

  it('evaluates once per interval however many passes run: the hysteresis counts evaluations', async () => {
    const step = make();
    await run(step, [2]);
    expect(store.writes).toBe(1);
    t += 300;
    const between = await run(step, [99]);
    expect(store.writes).toBe(1);
    expect(stateOf(between, 1)).toBe('critical');
    expect(wakes.at(-1)).toBe(EVERY - 300);
  });

  it('falls at once, climbs one step at a time after the hold, and a wobble below the line restarts the wait', async () => {
    const step = make();
    const states: (string | undefined)[] = [];
    // critical; recovered readings at 0, 1 s: held 1 s < 2 s; a wobble; then 3 good readings: degraded; 2 more s: healthy.
    for (const cpu of [2, 99, 99, 2.1, 99, 99, 99, 99, 99]) {
      states.push(stateOf(await run(step, [cpu]), 1));
      t += EVERY;
    }
    expect(states).toEqual(['critical', 'critical', 'critical', 'critical', 'critical', 'critical', 'degraded', 'degraded', 'healthy']);
    const text = await metrics.registry.metrics();
    expect(text).toContain('sbc_node_health_transitions_total{to="degraded"} 1');
    expect(text).toContain('sbc_node_health_transitions_total{to="healthy"} 1');
  });

  it('an idle CPU wobbling around the degraded line moves the node once, not on every reading', async () => {
    const step = make();
    const states: (string | undefined)[] = [];
    // idle 21 % scores 64 (degraded), 24 % scores 76: above 70 but below the 80 a recovery needs.
    for (const cpu of [99, 21, 24, 21, 24, 21, 24, 21, 24]) {
      states.push(stateOf(await run(step, [cpu]), 1));
      t += EVERY;
    }
    expect(states).toEqual(['healthy', ...Array<string>(8).fill('degraded')]);
  });

  it('leaves stale FreeSWITCH load facts out, and scores Kamailio marks from the last lists', async () => {
    const step = make();
    const stale = heard(1, t, 2, { load: { idleCpuPercent: 2, sentAt: t, heartbeatEventAt: t - 16_000, heartbeatEventIntervalMs: 5000 } });
    const marked = heard(2, t, 99);
    const obs = (kamailio: string, marks: string[]): KamailioObservation => ({
      kamailio,
      at: t,
      snapshot: { destinations: [] },
      marks: marks.map((nodeId) => ({ setId: 1, uri: 'sip:x', nodeId, since: t, until: t + 1 })),
    });
    observations = [obs('k1', [marked.nodeId]), obs('k2', [marked.nodeId]), { kamailio: 'k3', at: t, error: 'down' }];
    const pass = passOf([stale, marked]);
    await step.run(pass, ctx());
    const a = pass.health!.get(stale.nodeId)!;
    expect(a.readings.map((r) => r.sensor)).not.toContain('idle-cpu');
    expect(a.state).toBe('healthy');
    // Both Kamailios that answered mark it: 2/2, score 50.
    expect(pass.health!.get(marked.nodeId)).toMatchObject({ state: 'degraded', worst: 'kamailio-marks', score: 50 });
  });

  it('forgets gone nodes in the store and the gauges', async () => {
    const step = make();
    await run(step, [99, 99]);
    t += EVERY;
    const pass = passOf([heard(1, t, 99), heard(2, t, 99, { state: 'gone' })]);
    await step.run(pass, ctx());
    expect([...store.reports.keys()]).toEqual([node(1).nodeId]);
    expect(await metrics.registry.metrics()).not.toContain(`node="${node(2).nodeId}"`);
  });

  it('a new leader starts from the stored reports: a node critical before it stays critical', async () => {
    const critical: HealthReport = { state: 'critical', since: t - 10_000, score: 0, readings: [], at: t - 1000 };
    store.reports.set(node(1).nodeId, critical);
    const pass = await run(make(), [99], 7);
    expect(stateOf(pass, 1)).toBe('critical');
    expect(pass.health!.get(node(1).nodeId)!.pendingUp).toMatchObject({ to: 'degraded', readings: 1 });
  });

  it('reloads the stored reports when its epoch changes (leadership lost and won back)', async () => {
    const step = make();
    await run(step, [99], 1);
    store.reports.set(node(1).nodeId, { state: 'critical', since: t, score: 0, readings: [], at: t });
    t += 100;
    expect(stateOf(await run(step, [99], 2), 1)).toBe('critical');
  });

  it('an unreadable or unwritable store does not stop scoring', async () => {
    const broken = new InMemoryHealthStore();
    broken.all = () => Promise.reject(new Error('redis down'));
    broken.failWith = new Error('redis down');
    const pass = await run(make({ store: broken }), [2]);
    expect(stateOf(pass, 1)).toBe('critical');
  });

  it('runs hooks on transitions only (none for what a node already was when the leader started)', async () => {
    const step = make();
    await run(step, [2]);
    expect(fired).toEqual([]);
    t += EVERY;
    for (let i = 0; i < 3; i++) {
      await run(step, [99]);
      t += EVERY;
    }
    expect(fired.map((e) => [e.transition, e.health, e.node.nodeId])).toEqual([['degraded', 'degraded', node(1).nodeId]]);
    const drained = passOf([heard(1, t, 99, { state: 'drained' })]);
    await step.run(drained, ctx());
    expect(fired.at(-1)).toMatchObject({ transition: 'drained', state: 'drained', node: { nodeId: node(1).nodeId, idleCpuPercent: 99 } });
    await Promise.resolve();
    expect(await metrics.registry.metrics()).toContain('sbc_health_hook_runs_total{hook="pager",transition="drained",outcome="ok"} 1');
  });

  it('takes custom readings in the background, bounded in number, and counts failures', async () => {
    const pending: ((r: SensorResult) => void)[] = [];
    const reads: string[] = [];
    const rtp: Sensor = {
      name: 'rtp-loss',
      read: (n) => {
        reads.push(n.nodeId);
        return new Promise((resolve) => pending.push(resolve));
      },
    };
    const step = make({ sensors: [rtp], maxConcurrentReads: 1 });
    let pass = await run(step, [99, 99]);
    // The pass did not wait, and only one read runs.
    expect(reads).toEqual([node(1).nodeId]);
    expect(pass.health!.get(node(1).nodeId)!.readings.map((r) => r.sensor)).not.toContain('rtp-loss');
    pending.shift()!({ ok: true, reading: { sensor: 'rtp-loss', value: 12, score: 20, at: t }, durationMs: 5 });
    await new Promise((r) => setImmediate(r));
    t += EVERY;
    pass = await run(step, [99, 99]);
    expect(pass.health!.get(node(1).nodeId)).toMatchObject({ state: 'critical', worst: 'rtp-loss', score: 20 });
    // Each evaluation starts one node further: node 2 is not left out behind node 1.
    expect(reads).toEqual([node(1).nodeId, node(2).nodeId]);
    pending.shift()!({ ok: false, sensor: 'rtp-loss', reason: 'timeout', detail: 'no answer in 2000 ms', durationMs: 2000 });
    await new Promise((r) => setImmediate(r));
    expect(await metrics.registry.metrics()).toContain('sbc_health_sensor_failures_total{sensor="rtp-loss",reason="timeout"} 1');
    // A reading older than three intervals is left out.
    t += 3 * EVERY + 1;
    pass = await run(step, [99, 99]);
    expect(pass.health!.get(node(1).nodeId)!.readings.map((r) => r.sensor)).not.toContain('rtp-loss');
  });

  it('reports when every node that could take a call is critical', async () => {
    const step = make();
    await run(step, [2, 2]);
    expect(await metrics.registry.metrics()).toContain('sbc_health_all_critical 1');
    t += EVERY;
    await run(step, [2, 2, 99]);
    expect(await metrics.registry.metrics()).toContain('sbc_health_all_critical 0');
  });
});
