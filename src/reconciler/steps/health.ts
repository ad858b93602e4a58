import { criticalLeaveSelection } from '../../core/dispatcher.js';
import {
  assessHealth,
  healthFactsOf,
  nodeTransitions,
  readBuiltInSensors,
  type HealthPolicy,
  type HealthReport,
  type NodeCondition,
  type SensorReading,
} from '../../core/health.js';
import { NODE_HEALTH, type NodeRecord } from '../../core/node.js';
import type { HookRunner } from '../../health/hooks.js';
import type { Sensor, SensorNode } from '../../health/sensor.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { HealthStore } from '../../ports/healthStore.js';
import type { DispatcherPass, KamailioObservation } from '../dispatcherPass.js';
import type { ReconcileStep, StepContext } from '../runner.js';

export interface HealthStepDeps {
  readonly policy: HealthPolicy;
  /** How often every live node is evaluated: one reading per sensor per node each time. */
  readonly everyMs: number;
  readonly store: HealthStore;
  /** Custom sensors (health/sensor.ts), read in the background: a pass never waits for one. */
  readonly sensors?: readonly Sensor[];
  /** At most this many custom sensor reads run at once. */
  readonly maxConcurrentReads?: number;
  /** Hooks on node transitions (degraded, critical, recovered, drained, gone). */
  readonly hooks?: HookRunner;
  /** The Kamailios' latest dispatcher lists (kept across passes): their marks feed the kamailio-marks sensor. */
  readonly observations: () => readonly KamailioObservation[];
  readonly metrics: Pick<
    Metrics,
    'nodeHealth' | 'nodeHealthScore' | 'nodeSensorScore' | 'nodeSensorValue' | 'healthTransitions' | 'healthAllCritical' | 'healthSensorFailures' | 'healthHookRuns'
  >;
  readonly now: () => number;
  /** Aborts custom sensor reads (shutdown). */
  readonly signal?: AbortSignal;
}

const DEFAULT_MAX_CONCURRENT_READS = 4;
/** A custom reading older than this many evaluation intervals is left out: the sensor stopped answering. */
const CUSTOM_READING_MAX_AGE_INTERVALS = 3;

/**
 * The health score of every live node (core/health.ts), on the leader, once per `everyMs`:
 * built-in sensors read the node's record (heartbeat arrivals, calls, FreeSWITCH's load facts,
 * the SIP profile) and the Kamailios' marks; custom sensors add their latest reading. The
 * hysteresis machine turns each node's score into its state, and `pass.health` carries the
 * reports to the table step, where degraded lowers a node's weight and critical disables its
 * rows (core/dispatcher.ts). Reports are stored for every replica's API; hooks run on
 * transitions.
 *
 * A new leader starts from the stored reports, so a node critical under the old leader does
 * not come back at once: it climbs back through the same hysteresis.
 */
export function healthStep(deps: HealthStepDeps): ReconcileStep<DispatcherPass> {
  let reports: Map<string, HealthReport> | undefined;
  let loadedUnder: number | undefined;
  let lastEvalAt: number | undefined;
  /** Each node's state and health at the previous pass: what hooks compare with. */
  const conditions = new Map<string, NodeCondition>();
  const custom = new CustomReadings(deps);
  const gauged = new Set<string>();

  const load = async (pass: DispatcherPass, ctx: StepContext): Promise<Map<string, HealthReport>> => {
    if (reports && loadedUnder === pass.epoch) return reports;
    try {
      reports = await deps.store.all();
    } catch (err) {
      ctx.logger.warn({ err: (err as Error).message }, 'stored health reports unreadable; every node starts where its first score puts it');
      reports = new Map();
    }
    loadedUnder = pass.epoch;
    conditions.clear();
    lastEvalAt = undefined;
    return reports;
  };

  return {
    name: 'health',
    async run(pass, ctx) {
      const prior = await load(pass, ctx);
      const live = pass.nodes.filter((n) => n.state !== 'gone');
      const now = deps.now();
      if (lastEvalAt === undefined || now - lastEvalAt >= deps.everyMs) {
        lastEvalAt = now;
        reports = await evaluate(live, prior, now, ctx);
      }
      const current = reports ?? prior;
      pass.health = current;
      deps.metrics.healthAllCritical.set(criticalLeaveSelection(pass.nodes, pass.machines, current) ? 0 : 1);
      fireHooks(pass.nodes, current, now, ctx);
      if (live.length > 0) ctx.wakeIn(Math.max(1, lastEvalAt + deps.everyMs - now));
    },
  };

  async function evaluate(live: readonly NodeRecord[], prior: ReadonlyMap<string, HealthReport>, now: number, ctx: StepContext): Promise<Map<string, HealthReport>> {
    const marks = marksByNode(deps.observations());
    const next = new Map<string, HealthReport>();
    for (const n of live) {
      const facts = healthFactsOf(n, marks.total > 0 ? { inactive: marks.inactive.get(n.nodeId) ?? 0, total: marks.total } : undefined);
      const readings: SensorReading[] = [...readBuiltInSensors(facts, now, deps.policy.sensors), ...custom.fresh(n.nodeId, now)];
      const before = prior.get(n.nodeId);
      const report = assessHealth(before, readings, now, deps.policy);
      next.set(n.nodeId, report);
      if (before && before.state !== report.state) {
        deps.metrics.healthTransitions.inc({ to: report.state });
        ctx.logger.info({ nodeId: n.nodeId, from: before.state, to: report.state, score: report.score, worst: report.worst }, 'node health changed');
      }
    }
    custom.start(live, ctx);
    const forget = [...prior.keys()].filter((id) => !next.has(id));
    custom.forgetExcept(new Set(next.keys()));
    try {
      await deps.store.write(next, forget);
    } catch (err) {
      ctx.logger.warn({ err: (err as Error).message }, 'health reports not stored; routing uses them anyway');
    }
    gauge(next);
    return next;
  }

  function gauge(next: ReadonlyMap<string, HealthReport>): void {
    for (const id of gauged) {
      if (next.has(id)) continue;
      for (const state of NODE_HEALTH) deps.metrics.nodeHealth.remove({ node: id, state });
      deps.metrics.nodeHealthScore.remove({ node: id });
      gauged.delete(id);
    }
    // Per-sensor series are rebuilt each time: a sensor without a reading has no value to show.
    deps.metrics.nodeSensorScore.reset();
    deps.metrics.nodeSensorValue.reset();
    for (const [id, r] of next) {
      gauged.add(id);
      for (const state of NODE_HEALTH) deps.metrics.nodeHealth.set({ node: id, state }, r.state === state ? 1 : 0);
      deps.metrics.nodeHealthScore.set({ node: id }, r.score);
      for (const reading of r.readings) {
        deps.metrics.nodeSensorScore.set({ node: id, sensor: reading.sensor }, reading.score);
        deps.metrics.nodeSensorValue.set({ node: id, sensor: reading.sensor }, reading.value);
      }
    }
  }

  function fireHooks(nodes: readonly NodeRecord[], current: ReadonlyMap<string, HealthReport>, now: number, ctx: StepContext): void {
    const seen = new Set<string>();
    for (const n of nodes) {
      seen.add(n.nodeId);
      const report = current.get(n.nodeId);
      const before = conditions.get(n.nodeId);
      const cond: NodeCondition = { state: n.state, health: report?.state ?? before?.health ?? 'healthy' };
      conditions.set(n.nodeId, cond);
      const hooks = deps.hooks;
      if (!hooks) continue;
      for (const transition of nodeTransitions(before, cond)) {
        const event = {
          v: 1 as const,
          transition,
          at: now,
          state: cond.state,
          health: cond.health,
          ...(report ? { score: report.score, ...(report.worst ? { worstSensor: report.worst } : {}) } : {}),
          node: sensorNode(n, healthFactsOf(n)),
        };
        void hooks.fire(event).then((outcomes) => {
          for (const o of outcomes) {
            deps.metrics.healthHookRuns.inc({ hook: o.hook, transition, outcome: o.ok ? 'ok' : o.reason });
            if (o.ok) ctx.logger.info({ hook: o.hook, transition, nodeId: n.nodeId, durationMs: o.durationMs }, 'node hook ran');
            else ctx.logger.warn({ hook: o.hook, transition, nodeId: n.nodeId, reason: o.reason, detail: o.detail }, 'node hook failed');
          }
        });
      }
    }
    for (const id of conditions.keys()) if (!seen.has(id)) conditions.delete(id);
  }
}

function sensorNode(n: NodeRecord, facts: ReturnType<typeof healthFactsOf>): SensorNode {
  return { ...facts, nodeId: n.nodeId, machineId: n.machineId, hostname: n.hostname, sipUri: n.sipUri };
}

/** How many Kamailios (of those that answered their last list) hold a mark on each node. */
function marksByNode(observations: readonly KamailioObservation[]): { inactive: Map<string, number>; total: number } {
  const inactive = new Map<string, number>();
  let total = 0;
  for (const o of observations) {
    if (o.snapshot === undefined) continue;
    total++;
    const marked = new Set((o.marks ?? []).map((m) => m.nodeId).filter((id): id is string => id !== undefined));
    for (const id of marked) inactive.set(id, (inactive.get(id) ?? 0) + 1);
  }
  return { inactive, total };
}

/**
 * The custom sensors' latest readings per node, and the reads in flight: each (node, sensor)
 * has at most one read running, and at most `maxConcurrentReads` run at all; the rest wait for
 * the next evaluation, which starts one node further on, so no node is always left out.
 */
class CustomReadings {
  private readonly latest = new Map<string, SensorReading>();
  private readonly running = new Set<string>();
  private turn = 0;

  constructor(private readonly deps: HealthStepDeps) {}

  fresh(nodeId: string, now: number): SensorReading[] {
    const maxAge = CUSTOM_READING_MAX_AGE_INTERVALS * this.deps.everyMs;
    const out: SensorReading[] = [];
    for (const s of this.deps.sensors ?? []) {
      const r = this.latest.get(key(nodeId, s.name));
      if (r && now - r.at <= maxAge) out.push(r);
    }
    return out;
  }

  /** Starts what may start, beginning one node further each time. */
  start(live: readonly NodeRecord[], ctx: StepContext): void {
    const sensors = this.deps.sensors ?? [];
    if (sensors.length === 0 || live.length === 0) return;
    const limit = this.deps.maxConcurrentReads ?? DEFAULT_MAX_CONCURRENT_READS;
    const first = this.turn++ % live.length;
    for (let i = 0; i < live.length; i++) {
      const n = live[(first + i) % live.length]!;
      for (const s of sensors) this.startOne(n, s, limit, ctx);
    }
  }

  private startOne(n: NodeRecord, s: Sensor, limit: number, ctx: StepContext): void {
    const k = key(n.nodeId, s.name);
    if (this.running.has(k) || this.running.size >= limit) return;
    this.running.add(k);
    const signal = this.deps.signal ?? new AbortController().signal;
    void s
      .read(sensorNode(n, healthFactsOf(n)), signal)
      .then((result) => {
        if (result.ok) {
          this.latest.set(k, { ...result.reading, sensor: s.name });
          return;
        }
        this.deps.metrics.healthSensorFailures.inc({ sensor: s.name, reason: result.reason });
        ctx.logger.warn({ sensor: s.name, nodeId: n.nodeId, reason: result.reason, detail: result.detail }, 'custom sensor gave no reading');
      })
      .catch((err: unknown) => {
        // A Sensor must not throw; one that does is counted like any other failure.
        this.deps.metrics.healthSensorFailures.inc({ sensor: s.name, reason: 'exit' });
        ctx.logger.error({ sensor: s.name, nodeId: n.nodeId, err: (err as Error).message }, 'custom sensor threw');
      })
      .finally(() => this.running.delete(k));
  }

  forgetExcept(live: ReadonlySet<string>): void {
    for (const k of this.latest.keys()) if (!live.has(k.slice(0, k.indexOf('\u0000')))) this.latest.delete(k);
  }
}

const key = (nodeId: string, sensor: string) => `${nodeId}\u0000${sensor}`;
