import type { NodeBlocker } from '../events/schemas.js';
import type { NodeHealth, NodeRecord, NodeState } from './node.js';

/**
 * The health score of a node, pure: sensors turn facts into scores, the scores combine into
 * one, and a hysteresis machine turns the stream of scores into the stored `NodeHealth`.
 *
 * Scores run from 0 to 100 with 100 = fine. (The reference design's sensor engine counts the
 * other way, "the score rises as health degrades"; the levels are the same: past a critical
 * level operators are told and actions run.) Every sensor maps its value to a score with a
 * linear ramp between a `fine` value (100) and a `fail` value (0), so each threshold is one
 * number in `HealthPolicy` and a test can check the score at and around it.
 */

export interface SensorReading {
  readonly sensor: string;
  /** The measured value, in the unit the sensor documents. */
  readonly value: number;
  /** 0..100, 100 = fine. */
  readonly score: number;
  readonly at: number;
  readonly detail?: string;
}

/** What the built-in sensors read: the node's last heartbeats and what they carried. */
export interface NodeHealthFacts {
  /** When the control plane received the node's last heartbeats (ms), oldest first. */
  readonly heartbeatArrivals: readonly number[];
  /** The interval the agent says it heartbeats at. */
  readonly heartbeatIntervalMs: number;
  readonly sessions: number;
  /** FreeSWITCH max-sessions. */
  readonly capacity: number;
  /** HEARTBEAT `Idle-CPU` (0..100); absent from agents that do not report it. */
  readonly idleCpuPercent?: number;
  /**
   * HEARTBEAT `Session-Per-Sec-Last`: sessions created in the last full second. Not
   * `Session-Per-Sec`, which is what is left of the current second's budget (FreeSWITCH resets
   * it to the limit every second and counts it down per new session).
   */
  readonly sessionsPerSecond?: number;
  /**
   * The configured limit, `sessions-per-second` in switch.conf: `fsctl sps` answers it
   * (runtime.sps_total). Not HEARTBEAT `Session-Per-Sec-Max`, which is the highest rate seen
   * since start-up (runtime.sps_peak) and is 0 on an idle node.
   */
  readonly sessionsPerSecondLimit?: number;
  readonly blockers: readonly NodeBlocker[];
  /** How many Kamailios mark the node's destination inactive (probing failed), of how many. */
  readonly kamailioMarks?: { readonly inactive: number; readonly total: number };
}

/** A value's score falls linearly from 100 at `fine` to 0 at `fail`; either may be the larger. */
export interface Ramp {
  readonly fine: number;
  readonly fail: number;
}

export interface SensorPolicy {
  /** Age of the last heartbeat, in heartbeat intervals. */
  readonly heartbeatAge: Ramp;
  /** Mean |gap - interval| between consecutive arrivals, as a fraction of the interval. */
  readonly heartbeatJitter: Ramp & { readonly minGaps: number };
  /** sessions / capacity. */
  readonly callUtilisation: Ramp;
  /** Idle CPU %; falls as it drops, so fine > fail. */
  readonly idleCpu: Ramp;
  /** new sessions per second / the configured limit. */
  readonly sessionRate: Ramp;
  /** Kamailios marking the node inactive / all Kamailios. */
  readonly kamailioMarks: Ramp;
}

export interface HealthPolicy {
  /** healthy -> degraded when the score falls below this. */
  readonly degradedBelow: number;
  /** -> critical when the score falls below this. */
  readonly criticalBelow: number;
  /** A step back up needs the score at or above its threshold plus this margin... */
  readonly recoverMargin: number;
  /** ...for at least this long... */
  readonly holdMs: number;
  /** ...over at least this many readings in a row (one late reading cannot prove a trend). */
  readonly holdReadings: number;
  readonly sensors: SensorPolicy;
}

export const DEFAULT_HEALTH_POLICY: HealthPolicy = Object.freeze({
  degradedBelow: 70,
  criticalBelow: 30,
  recoverMargin: 10,
  holdMs: 30_000,
  holdReadings: 3,
  sensors: Object.freeze({
    // Lifecycle expires a node after 3 missed intervals; one late heartbeat (1.5) is normal.
    heartbeatAge: { fine: 1.5, fail: 3 },
    heartbeatJitter: { fine: 0.1, fail: 1, minGaps: 2 },
    // The reference design's 50 % rule: each node stays under half its capacity so the rest
    // can carry a lost node's load (N+1). Above that its share of new calls shrinks; full, it
    // refuses every new call anyway.
    callUtilisation: { fine: 0.5, fail: 1 },
    idleCpu: { fine: 30, fail: 5 },
    // Above the limit FreeSWITCH refuses new sessions; at half of it, headroom is going.
    sessionRate: { fine: 0.5, fail: 1 },
    // Every Kamailio marking it inactive: 50, degraded; one of two: 75. Never critical on its
    // own: a mark already keeps the destination out of that Kamailio's selection for its hold
    // (SBC_KAMAILIO_MARK_HOLD_MS), and critical on top would keep a node that answers again
    // out for the whole recovery hold as well.
    kamailioMarks: { fine: 0, fail: 2 },
  }),
});

/** Problems that make a policy unusable (a state that could never be left), for config checks. */
export function healthPolicyProblems(p: HealthPolicy): string[] {
  const problems: string[] = [];
  if (!(p.criticalBelow > 0 && p.criticalBelow < p.degradedBelow)) {
    problems.push(`criticalBelow (${p.criticalBelow}) must be above 0 and below degradedBelow (${p.degradedBelow})`);
  }
  if (p.recoverMargin < 0) problems.push(`recoverMargin (${p.recoverMargin}) must not be negative`);
  if (p.degradedBelow + p.recoverMargin > 100) {
    problems.push(`degradedBelow + recoverMargin (${p.degradedBelow + p.recoverMargin}) must not exceed 100, or no node recovers`);
  }
  if (p.holdMs < 0) problems.push(`holdMs (${p.holdMs}) must not be negative`);
  if (!Number.isInteger(p.holdReadings) || p.holdReadings < 1) problems.push(`holdReadings (${p.holdReadings}) must be an integer >= 1`);
  for (const [name, ramp] of Object.entries(p.sensors) as [string, Ramp][]) {
    if (ramp.fine === ramp.fail) problems.push(`sensors.${name}: fine and fail must differ`);
  }
  return problems;
}

export function rampScore(value: number, ramp: Ramp): number {
  const t = (value - ramp.fine) / (ramp.fail - ramp.fine);
  return Math.round(100 * (1 - Math.min(1, Math.max(0, t))));
}

export const BUILT_IN_SENSORS = [
  'heartbeat-age',
  'heartbeat-jitter',
  'call-utilisation',
  'idle-cpu',
  'session-rate',
  'sip-profile',
  'kamailio-marks',
] as const;
export type BuiltInSensor = (typeof BUILT_IN_SENSORS)[number];

/** value: ms since the last heartbeat arrived. Undefined before the first heartbeat. */
export function heartbeatAge(f: NodeHealthFacts, now: number, p: SensorPolicy): SensorReading | undefined {
  const last = f.heartbeatArrivals.at(-1);
  if (last === undefined) return undefined;
  const age = Math.max(0, now - last);
  return { sensor: 'heartbeat-age', value: age, score: rampScore(age / f.heartbeatIntervalMs, p.heartbeatAge), at: now };
}

/** value: mean |gap - interval| in ms over the arrivals' gaps. Undefined with too few gaps. */
export function heartbeatJitter(f: NodeHealthFacts, now: number, p: SensorPolicy): SensorReading | undefined {
  const a = f.heartbeatArrivals;
  const gaps = a.length - 1;
  if (gaps < Math.max(1, p.heartbeatJitter.minGaps)) return undefined;
  let sum = 0;
  for (let i = 1; i < a.length; i++) sum += Math.abs(a[i]! - a[i - 1]! - f.heartbeatIntervalMs);
  const jitter = sum / gaps;
  return {
    sensor: 'heartbeat-jitter',
    value: jitter,
    score: rampScore(jitter / f.heartbeatIntervalMs, p.heartbeatJitter),
    at: now,
  };
}

/** value: sessions / capacity. */
export function callUtilisation(f: NodeHealthFacts, now: number, p: SensorPolicy): SensorReading | undefined {
  if (f.capacity <= 0) return undefined;
  const used = f.sessions / f.capacity;
  return { sensor: 'call-utilisation', value: used, score: rampScore(used, p.callUtilisation), at: now };
}

/** value: idle CPU %. */
export function idleCpu(f: NodeHealthFacts, now: number, p: SensorPolicy): SensorReading | undefined {
  if (f.idleCpuPercent === undefined) return undefined;
  return { sensor: 'idle-cpu', value: f.idleCpuPercent, score: rampScore(f.idleCpuPercent, p.idleCpu), at: now };
}

/** value: new sessions in the last second / the configured limit. */
export function sessionRate(f: NodeHealthFacts, now: number, p: SensorPolicy): SensorReading | undefined {
  const { sessionsPerSecond: rate, sessionsPerSecondLimit: limit } = f;
  if (rate === undefined || limit === undefined || limit <= 0) return undefined;
  const used = rate / limit;
  return { sensor: 'session-rate', value: used, score: rampScore(used, p.sessionRate), at: now, detail: `${rate}/${limit} per s` };
}

/** value: 1 when the SIP profile Kamailio sends to is down. A down profile refuses every call. */
export function sipProfile(f: NodeHealthFacts, now: number): SensorReading {
  const down = f.blockers.includes('sip-profile-down');
  return down
    ? { sensor: 'sip-profile', value: 1, score: 0, at: now, detail: 'sip-profile-down' }
    : { sensor: 'sip-profile', value: 0, score: 100, at: now };
}

/** value: the fraction of Kamailios that mark the destination inactive. */
export function kamailioMarks(f: NodeHealthFacts, now: number, p: SensorPolicy): SensorReading | undefined {
  const marks = f.kamailioMarks;
  if (!marks || marks.total <= 0) return undefined;
  const share = marks.inactive / marks.total;
  return {
    sensor: 'kamailio-marks',
    value: share,
    score: rampScore(share, p.kamailioMarks),
    at: now,
    detail: `${marks.inactive}/${marks.total} inactive`,
  };
}

/** Every built-in sensor that has the facts it needs, in BUILT_IN_SENSORS order. */
export function readBuiltInSensors(f: NodeHealthFacts, now: number, p: SensorPolicy): SensorReading[] {
  return [
    heartbeatAge(f, now, p),
    heartbeatJitter(f, now, p),
    callUtilisation(f, now, p),
    idleCpu(f, now, p),
    sessionRate(f, now, p),
    sipProfile(f, now),
    kamailioMarks(f, now, p),
  ].filter((r): r is SensorReading => r !== undefined);
}

export interface NodeScore {
  readonly score: number;
  /** The sensor that set the score (the first of equals); undefined without readings. */
  readonly worst: SensorReading | undefined;
}

/**
 * The node's score is its worst sensor's. Not a weighted mean: one failing sensor is enough
 * to make a node unfit (a down SIP profile refuses every call however idle the CPU), and a
 * mean would let six fine sensors hide it; the reference design's sensor engine acts on a
 * critical level of any sensor. It also keeps custom sensors simple: no weight to tune, and
 * adding a sensor can only lower a score, never dilute another's verdict. No readings: 100.
 */
export function nodeScore(readings: readonly SensorReading[]): NodeScore {
  let worst: SensorReading | undefined;
  for (const r of readings) if (!worst || r.score < worst.score) worst = r;
  return { score: worst?.score ?? 100, worst };
}

export interface HealthStatus {
  readonly state: NodeHealth;
  /** When `state` was entered. */
  readonly since: number;
  /** A step up under way: the score has held at the recover line since `since`, `readings` times. */
  readonly pendingUp?: { readonly to: NodeHealth; readonly since: number; readonly readings: number };
}

const RANK: Record<NodeHealth, number> = { healthy: 0, degraded: 1, critical: 2 };
const ONE_UP: Record<NodeHealth, NodeHealth> = { healthy: 'healthy', degraded: 'healthy', critical: 'degraded' };

/** The state a score falls to. */
export function healthLevel(score: number, p: HealthPolicy): NodeHealth {
  if (score < p.criticalBelow) return 'critical';
  if (score < p.degradedBelow) return 'degraded';
  return 'healthy';
}

/** The best state a score may climb back to: each threshold plus the margin. */
function recoverLevel(score: number, p: HealthPolicy): NodeHealth {
  if (score >= p.degradedBelow + p.recoverMargin) return 'healthy';
  if (score >= p.criticalBelow + p.recoverMargin) return 'degraded';
  return 'critical';
}

/** A new node starts where its first score puts it. */
export function initialHealth(score: number, now: number, p: HealthPolicy): HealthStatus {
  return { state: healthLevel(score, p), since: now };
}

/**
 * Pure: the health after one more score. Down is at once, as far as the score goes (a node
 * whose profile just went down is critical now, not after passing through degraded). Up is
 * one step at a time (critical -> degraded -> healthy), each only after the score has stayed
 * at or above that step's threshold plus `recoverMargin` for `holdMs` and `holdReadings`
 * readings in a row; a reading below the line starts the wait again. So a score wobbling
 * around a threshold moves the node once, not on every reading.
 */
export function nextHealth(prev: HealthStatus, score: number, now: number, p: HealthPolicy): HealthStatus {
  const fallTo = healthLevel(score, p);
  if (RANK[fallTo] > RANK[prev.state]) return { state: fallTo, since: now };
  if (RANK[recoverLevel(score, p)] >= RANK[prev.state]) return { state: prev.state, since: prev.since };

  const to = ONE_UP[prev.state];
  const pending =
    prev.pendingUp?.to === to
      ? { to, since: prev.pendingUp.since, readings: prev.pendingUp.readings + 1 }
      : { to, since: now, readings: 1 };
  if (now - pending.since < p.holdMs || pending.readings < p.holdReadings) {
    return { state: prev.state, since: prev.since, pendingUp: pending };
  }
  // The step is taken; this reading also starts the wait for the next one when it qualifies.
  const climbed: HealthStatus = { state: to, since: now };
  return RANK[recoverLevel(score, p)] < RANK[to]
    ? { ...climbed, pendingUp: { to: ONE_UP[to], since: now, readings: 1 } }
    : climbed;
}

/**
 * FreeSWITCH's HEARTBEAT facts are stale when its last HEARTBEAT event is older than this
 * many of its intervals at the agent's message: its scheduler stopped or the event was lost,
 * and an idle CPU read a minute ago says nothing about now. Stale facts are left out (the
 * heartbeat sensors still see a silent agent).
 */
export const LOAD_STALE_INTERVALS = 3;

/** What the built-in sensors read about one stored node; `marks` from the Kamailios' last lists. */
export function healthFactsOf(n: NodeRecord, marks?: { readonly inactive: number; readonly total: number }): NodeHealthFacts {
  const load = n.load;
  const fresh =
    load === undefined ||
    load.heartbeatEventAt === undefined ||
    load.heartbeatEventIntervalMs === undefined ||
    load.sentAt - load.heartbeatEventAt <= LOAD_STALE_INTERVALS * load.heartbeatEventIntervalMs;
  return {
    heartbeatArrivals: n.heartbeatArrivals ?? [n.lastSeenAt],
    heartbeatIntervalMs: n.heartbeatIntervalMs,
    sessions: n.sessions,
    capacity: n.capacity,
    blockers: n.blockers ?? [],
    ...(fresh && load?.idleCpuPercent !== undefined ? { idleCpuPercent: load.idleCpuPercent } : {}),
    ...(fresh && load?.sessionsPerSecond !== undefined ? { sessionsPerSecond: load.sessionsPerSecond } : {}),
    ...(load?.sessionsPerSecondLimit !== undefined ? { sessionsPerSecondLimit: load.sessionsPerSecondLimit } : {}),
    ...(marks ? { kamailioMarks: marks } : {}),
  };
}

/** One evaluation of a node: its health with the score and readings that led there. */
export interface HealthReport extends HealthStatus {
  readonly score: number;
  /** The sensor that set the score; undefined without readings. */
  readonly worst?: string;
  readonly readings: readonly SensorReading[];
  /** When this evaluation ran. */
  readonly at: number;
}

/** Pure: the report after one more set of readings; a node seen for the first time starts where its score puts it. */
export function assessHealth(prev: HealthStatus | undefined, readings: readonly SensorReading[], now: number, p: HealthPolicy): HealthReport {
  const { score, worst } = nodeScore(readings);
  const status = prev ? nextHealth(prev, score, now, p) : initialHealth(score, now, p);
  return { ...status, score, ...(worst ? { worst: worst.sensor } : {}), readings, at: now };
}

/**
 * The score a degraded node's weight follows, in steps of 10: a weight is part of the row
 * Kamailio loads, so every change is a table write and a reload, and an idle CPU wandering
 * by a percent must not reload Kamailio each time.
 */
export function weightScore(score: number): number {
  return Math.min(100, Math.ceil(Math.max(0, score) / 10) * 10);
}

export interface HealthWeight {
  /** The dispatcher weight (1..100) to use; 0 when the node must get no new calls. */
  readonly weight: number;
  /**
   * False for a critical node: keep its row listed but disabled (DS_FLAG_DISABLED), as for a
   * blocker, so hashed sets keep their size and no other room moves.
   */
  readonly takesNewCalls: boolean;
}

/**
 * What health does to a node's dispatcher weight: healthy keeps it; degraded scales it by the
 * score (a node at 50 gets half its share of new calls), never below 1, which would leave the
 * row without a share; critical takes the node out of new selection.
 */
export function healthWeight(baseWeight: number, state: NodeHealth, score: number): HealthWeight {
  if (state === 'critical') return { weight: 0, takesNewCalls: false };
  if (state === 'healthy') return { weight: baseWeight, takesNewCalls: true };
  const factor = Math.min(100, Math.max(0, score)) / 100;
  return { weight: Math.max(1, Math.round(baseWeight * factor)), takesNewCalls: true };
}

/** The node transitions hooks can run on. */
export const NODE_TRANSITIONS = ['degraded', 'critical', 'recovered', 'drained', 'gone'] as const;
export type NodeTransition = (typeof NODE_TRANSITIONS)[number];

export interface NodeCondition {
  readonly state: NodeState;
  readonly health: NodeHealth;
}

/**
 * Pure: the transitions between two stored views of a node, in NODE_TRANSITIONS order.
 * `recovered` is a return to healthy; critical -> degraded is `degraded` (still not well).
 * A new node (no previous view) has had no transition.
 */
export function nodeTransitions(prev: NodeCondition | undefined, next: NodeCondition): NodeTransition[] {
  if (!prev) return [];
  const out: NodeTransition[] = [];
  if (next.health !== prev.health) {
    if (next.health === 'healthy') out.push('recovered');
    else out.push(next.health);
  }
  if (next.state !== prev.state && (next.state === 'drained' || next.state === 'gone')) out.push(next.state);
  return out.sort((a, b) => NODE_TRANSITIONS.indexOf(a) - NODE_TRANSITIONS.indexOf(b));
}
