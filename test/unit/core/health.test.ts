import { describe, expect, it } from 'vitest';
import {
  assessHealth,
  callUtilisation,
  healthFactsOf,
  weightScore,
  DEFAULT_HEALTH_POLICY,
  healthLevel,
  healthPolicyProblems,
  healthWeight,
  heartbeatAge,
  heartbeatJitter,
  idleCpu,
  initialHealth,
  kamailioMarks,
  nextHealth,
  nodeScore,
  nodeTransitions,
  rampScore,
  readBuiltInSensors,
  sessionRate,
  sipProfile,
  type HealthStatus,
  type NodeHealthFacts,
  type SensorReading,
} from '../../../src/core/health.js';
import { node } from './fixtures.js';

const P = DEFAULT_HEALTH_POLICY;
const S = P.sensors;
const NOW = 1_000_000;

function facts(over: Partial<NodeHealthFacts> = {}): NodeHealthFacts {
  return {
    heartbeatArrivals: [NOW - 4000, NOW - 2000, NOW],
    heartbeatIntervalMs: 2000,
    sessions: 0,
    capacity: 100,
    blockers: [],
    ...over,
  };
}

const score = (r: SensorReading | undefined): number | undefined => r?.score;

describe('rampScore', () => {
  it('is 100 at and beyond fine, 0 at and beyond fail, linear between, either direction', () => {
    const up = { fine: 10, fail: 20 };
    expect([5, 10, 12.5, 15, 20, 30].map((v) => rampScore(v, up))).toEqual([100, 100, 75, 50, 0, 0]);
    const down = { fine: 20, fail: 10 };
    expect([30, 20, 17.5, 15, 10, 5].map((v) => rampScore(v, down))).toEqual([100, 100, 75, 50, 0, 0]);
  });
});

describe('sensors', () => {
  it('heartbeat-age: 100 up to 1.5 intervals, 0 from 3 intervals (when lifecycle expires the node)', () => {
    const at = (age: number) => heartbeatAge(facts({ heartbeatArrivals: [NOW - age] }), NOW, S);
    expect(at(3000)).toEqual({ sensor: 'heartbeat-age', value: 3000, score: 100, at: NOW });
    expect([0, 2999, 3000, 3600, 4500, 5400, 6000, 9000].map((a) => score(at(a)))).toEqual([100, 100, 100, 80, 50, 20, 0, 0]);
    // An arrival stamped after `now` (another worker's clock) is age 0, not negative.
    expect(heartbeatAge(facts({ heartbeatArrivals: [NOW + 50] }), NOW, S)).toEqual({ sensor: 'heartbeat-age', value: 0, score: 100, at: NOW });
    expect(heartbeatAge(facts({ heartbeatArrivals: [] }), NOW, S)).toBeUndefined();
  });

  it('heartbeat-jitter: mean |gap - interval|, 100 up to 10 % of the interval, 0 at a whole interval', () => {
    const gaps = (...g: number[]) => {
      const arrivals = g.reduce<number[]>((a, d) => [...a, a.at(-1)! + d], [0]);
      return heartbeatJitter(facts({ heartbeatArrivals: arrivals }), NOW, S);
    };
    expect(gaps(2000, 2000)).toEqual({ sensor: 'heartbeat-jitter', value: 0, score: 100, at: NOW });
    expect(gaps(2200, 1800)).toEqual({ sensor: 'heartbeat-jitter', value: 200, score: 100, at: NOW });
    expect(score(gaps(2400, 1600))).toBe(89);
    expect(gaps(4000, 2000)).toEqual({ sensor: 'heartbeat-jitter', value: 1000, score: 56, at: NOW });
    expect(score(gaps(4000, 4000))).toBe(0);
    // One gap is just a late heartbeat, which heartbeat-age already scores.
    expect(gaps(4000)).toBeUndefined();
  });

  it('call-utilisation: the 50 % rule: 100 up to half the capacity, 0 when full', () => {
    const at = (sessions: number) => callUtilisation(facts({ sessions, capacity: 100 }), NOW, S);
    expect(at(75)).toEqual({ sensor: 'call-utilisation', value: 0.75, score: 50, at: NOW });
    expect([0, 50, 51, 65, 66, 85, 86, 100, 120].map((s) => score(at(s)))).toEqual([100, 100, 98, 70, 68, 30, 28, 0, 0]);
    expect(callUtilisation(facts({ capacity: 0 }), NOW, S)).toBeUndefined();
  });

  it('idle-cpu: 100 from 30 % idle, 0 at 5 % idle and below', () => {
    const at = (idle: number) => idleCpu(facts({ idleCpuPercent: idle }), NOW, S);
    expect(at(17.5)).toEqual({ sensor: 'idle-cpu', value: 17.5, score: 50, at: NOW });
    expect([98.1, 30, 29, 17.5, 6, 5, 0].map((i) => score(at(i)))).toEqual([100, 100, 96, 50, 4, 0, 0]);
    expect(idleCpu(facts(), NOW, S)).toBeUndefined();
  });

  it('session-rate: new sessions per second against the configured limit, 100 up to half, 0 at the limit', () => {
    const at = (rate: number, limit = 30) =>
      sessionRate(facts({ sessionsPerSecond: rate, sessionsPerSecondLimit: limit }), NOW, S);
    expect(at(24)).toEqual({ sensor: 'session-rate', value: 0.8, score: 40, at: NOW, detail: '24/30 per s' });
    expect([0, 15, 16, 24, 30, 45].map((r) => score(at(r)))).toEqual([100, 100, 93, 40, 0, 0]);
    expect(at(5, 0)).toBeUndefined();
    expect(sessionRate(facts({ sessionsPerSecond: 5 }), NOW, S)).toBeUndefined();
    expect(sessionRate(facts({ sessionsPerSecondLimit: 30 }), NOW, S)).toBeUndefined();
  });

  it('sip-profile: a down profile scores 0; other blockers are not its concern', () => {
    expect(sipProfile(facts({ blockers: ['sip-profile-down'] }), NOW)).toEqual({
      sensor: 'sip-profile',
      value: 1,
      score: 0,
      at: NOW,
      detail: 'sip-profile-down',
    });
    expect(sipProfile(facts({ blockers: ['inbound-paused'] }), NOW)).toEqual({ sensor: 'sip-profile', value: 0, score: 100, at: NOW });
  });

  it('kamailio-marks: the share of Kamailios marking the destination inactive; all of them is degraded, never critical', () => {
    const at = (inactive: number, total: number) => kamailioMarks(facts({ kamailioMarks: { inactive, total } }), NOW, S);
    expect(at(1, 2)).toEqual({ sensor: 'kamailio-marks', value: 0.5, score: 75, at: NOW, detail: '1/2 inactive' });
    expect([at(0, 2), at(1, 3), at(2, 2), at(1, 1)].map(score)).toEqual([100, 83, 50, 50]);
    expect(at(0, 0)).toBeUndefined();
    expect(kamailioMarks(facts(), NOW, S)).toBeUndefined();
  });

  it('readBuiltInSensors: every sensor with its facts, in a fixed order', () => {
    const all = readBuiltInSensors(
      facts({
        sessions: 60,
        idleCpuPercent: 80,
        sessionsPerSecond: 3,
        sessionsPerSecondLimit: 30,
        kamailioMarks: { inactive: 0, total: 2 },
      }),
      NOW,
      S,
    );
    expect(all.map((r) => [r.sensor, r.score])).toEqual([
      ['heartbeat-age', 100],
      ['heartbeat-jitter', 100],
      ['call-utilisation', 80],
      ['idle-cpu', 100],
      ['session-rate', 100],
      ['sip-profile', 100],
      ['kamailio-marks', 100],
    ]);
    const few = readBuiltInSensors(facts({ heartbeatArrivals: [NOW] }), NOW, S);
    expect(few.map((r) => r.sensor)).toEqual(['heartbeat-age', 'call-utilisation', 'sip-profile']);
  });
});

describe('nodeScore', () => {
  const r = (sensor: string, s: number): SensorReading => ({ sensor, value: 0, score: s, at: NOW });

  it('is the worst sensor, the first of equals', () => {
    const readings = [r('a', 90), r('b', 40), r('c', 100), r('d', 40)];
    expect(nodeScore(readings)).toEqual({ score: 40, worst: readings[1] });
  });

  it('one failing sensor decides however many are fine', () => {
    const readings = [...['a', 'b', 'c', 'd', 'e', 'f'].map((n) => r(n, 100)), r('sip-profile', 0)];
    expect(nodeScore(readings).score).toBe(0);
    expect(healthLevel(nodeScore(readings).score, P)).toBe('critical');
  });

  it('without readings is 100 with no worst sensor', () => {
    expect(nodeScore([])).toEqual({ score: 100, worst: undefined });
  });
});

describe('nextHealth', () => {
  /** Feeds scores one per `step` ms from `start`; returns every status. */
  function replay(first: HealthStatus, scores: readonly number[], start: number, step = 5000): HealthStatus[] {
    const out: HealthStatus[] = [];
    let s = first;
    scores.forEach((sc, i) => {
      s = nextHealth(s, sc, start + i * step, P);
      out.push(s);
    });
    return out;
  }

  it('initialHealth: a new node starts at its first score level', () => {
    expect([initialHealth(70, 5, P), initialHealth(69, 5, P), initialHealth(29, 5, P)]).toEqual([
      { state: 'healthy', since: 5 },
      { state: 'degraded', since: 5 },
      { state: 'critical', since: 5 },
    ]);
  });

  it('falls at once, as far as the score goes: below 70 degraded, below 30 critical', () => {
    const healthy: HealthStatus = { state: 'healthy', since: 0 };
    expect(nextHealth(healthy, 70, 10, P)).toEqual({ state: 'healthy', since: 0 });
    expect(nextHealth(healthy, 69, 10, P)).toEqual({ state: 'degraded', since: 10 });
    expect(nextHealth(healthy, 29, 10, P)).toEqual({ state: 'critical', since: 10 });
    const degraded: HealthStatus = { state: 'degraded', since: 0 };
    expect(nextHealth(degraded, 30, 10, P)).toEqual({ state: 'degraded', since: 0 });
    expect(nextHealth(degraded, 29, 10, P)).toEqual({ state: 'critical', since: 10 });
  });

  it('a score oscillating around the degraded threshold moves the node once, not on every reading', () => {
    const states = replay({ state: 'healthy', since: 0 }, [71, 69, 71, 68, 75, 69, 79, 70, 79, 71, 69, 79], 5000);
    expect(states.map((s) => s.state)).toEqual(['healthy', ...Array<string>(11).fill('degraded')]);
    expect(states.at(-1)).toEqual({ state: 'degraded', since: 10_000 });
  });

  it('a score oscillating around the recover line never completes the hold', () => {
    const states = replay({ state: 'degraded', since: 0 }, [80, 80, 80, 79, 80, 80, 80, 80, 80, 79, 85, 85, 79], 5000);
    expect(states.every((s) => s.state === 'degraded' && s.since === 0)).toBe(true);
    expect(states[2]).toEqual({ state: 'degraded', since: 0, pendingUp: { to: 'healthy', since: 5000, readings: 3 } });
    expect(states[3]).toEqual({ state: 'degraded', since: 0 });
  });

  it('a drop to critical, then a sustained recovery, comes back through degraded to healthy, one hold each', () => {
    // t = 5000: 10; then 90 every 5 s from t = 10000.
    const states = replay({ state: 'healthy', since: 0 }, [10, ...Array<number>(13).fill(90)], 5000);
    const at = (t: number) => states[(t - 5000) / 5000];
    expect(at(5000)).toEqual({ state: 'critical', since: 5000 });
    expect(at(10_000)).toEqual({ state: 'critical', since: 5000, pendingUp: { to: 'degraded', since: 10_000, readings: 1 } });
    expect(at(35_000)).toEqual({ state: 'critical', since: 5000, pendingUp: { to: 'degraded', since: 10_000, readings: 6 } });
    expect(at(40_000)).toEqual({ state: 'degraded', since: 40_000, pendingUp: { to: 'healthy', since: 40_000, readings: 1 } });
    expect(at(65_000)).toEqual({ state: 'degraded', since: 40_000, pendingUp: { to: 'healthy', since: 40_000, readings: 6 } });
    expect(at(70_000)).toEqual({ state: 'healthy', since: 70_000 });
    expect(states.map((s) => s.state)).toEqual([
      ...Array<string>(7).fill('critical'),
      ...Array<string>(6).fill('degraded'),
      'healthy',
    ]);
  });

  it('a recovery to between the lines climbs only to degraded', () => {
    const states = replay({ state: 'critical', since: 0 }, Array<number>(20).fill(50), 5000);
    expect(states.at(-1)).toEqual({ state: 'degraded', since: 35_000 });
  });

  it('a reading below the recover line starts the wait again', () => {
    // One reading every 5 s from t = 10000; the 39 comes at t = 40000.
    const states = replay({ state: 'critical', since: 0 }, [90, 90, 90, 90, 90, 90, 39, 90, 90, 90, 90, 90, 90, 90], 10_000);
    expect(states[5]).toEqual({ state: 'critical', since: 0, pendingUp: { to: 'degraded', since: 10_000, readings: 6 } });
    expect(states[6]).toEqual({ state: 'critical', since: 0 });
    expect(states[12]).toEqual({ state: 'critical', since: 0, pendingUp: { to: 'degraded', since: 45_000, readings: 6 } });
    expect(states[13]).toEqual({ state: 'degraded', since: 75_000, pendingUp: { to: 'healthy', since: 75_000, readings: 1 } });
  });

  it('the hold needs its readings too: two readings far apart are not a trend', () => {
    const critical: HealthStatus = { state: 'critical', since: 0 };
    const a = nextHealth(critical, 90, 10_000, P);
    const b = nextHealth(a, 90, 60_000, P);
    expect(b).toEqual({ state: 'critical', since: 0, pendingUp: { to: 'degraded', since: 10_000, readings: 2 } });
    expect(nextHealth(b, 90, 61_000, P)).toEqual({
      state: 'degraded',
      since: 61_000,
      pendingUp: { to: 'healthy', since: 61_000, readings: 1 },
    });
  });

  it('a fall during a pending recovery drops the pending step', () => {
    const pending: HealthStatus = { state: 'degraded', since: 0, pendingUp: { to: 'healthy', since: 5000, readings: 4 } };
    expect(nextHealth(pending, 20, 25_000, P)).toEqual({ state: 'critical', since: 25_000 });
  });

  it('is deterministic: the same inputs give the same statuses', () => {
    const scores = [90, 10, 50, 85, 85, 85, 85, 85, 85, 85, 85, 20, 95];
    expect(replay({ state: 'healthy', since: 0 }, scores, 0)).toEqual(replay({ state: 'healthy', since: 0 }, scores, 0));
  });
});

describe('healthWeight', () => {
  it('healthy keeps the weight; degraded scales it by the score, at least 1; critical takes new calls away', () => {
    expect(healthWeight(60, 'healthy', 100)).toEqual({ weight: 60, takesNewCalls: true });
    expect(healthWeight(60, 'healthy', 72)).toEqual({ weight: 60, takesNewCalls: true });
    expect(healthWeight(60, 'degraded', 50)).toEqual({ weight: 30, takesNewCalls: true });
    expect(healthWeight(100, 'degraded', 69)).toEqual({ weight: 69, takesNewCalls: true });
    expect(healthWeight(1, 'degraded', 40)).toEqual({ weight: 1, takesNewCalls: true });
    expect(healthWeight(100, 'degraded', 0)).toEqual({ weight: 1, takesNewCalls: true });
    expect(healthWeight(60, 'critical', 10)).toEqual({ weight: 0, takesNewCalls: false });
  });
});

describe('nodeTransitions', () => {
  it('names health changes and the drained and gone states', () => {
    const v = (state: 'active' | 'draining' | 'drained' | 'gone', health: 'healthy' | 'degraded' | 'critical') => ({ state, health });
    expect(nodeTransitions(v('active', 'healthy'), v('active', 'degraded'))).toEqual(['degraded']);
    expect(nodeTransitions(v('active', 'degraded'), v('active', 'critical'))).toEqual(['critical']);
    expect(nodeTransitions(v('active', 'critical'), v('active', 'degraded'))).toEqual(['degraded']);
    expect(nodeTransitions(v('active', 'critical'), v('active', 'healthy'))).toEqual(['recovered']);
    expect(nodeTransitions(v('draining', 'healthy'), v('drained', 'healthy'))).toEqual(['drained']);
    expect(nodeTransitions(v('draining', 'healthy'), v('gone', 'critical'))).toEqual(['critical', 'gone']);
    expect(nodeTransitions(v('active', 'healthy'), v('draining', 'healthy'))).toEqual([]);
    expect(nodeTransitions(v('gone', 'healthy'), v('gone', 'healthy'))).toEqual([]);
    expect(nodeTransitions(undefined, v('active', 'critical'))).toEqual([]);
  });
});

describe('healthPolicyProblems', () => {
  it('accepts the defaults and lists every problem of a broken policy', () => {
    expect(healthPolicyProblems(P)).toEqual([]);
    const broken = {
      ...P,
      degradedBelow: 95,
      criticalBelow: 96,
      recoverMargin: 10,
      holdReadings: 0,
      sensors: { ...S, idleCpu: { fine: 5, fail: 5 } },
    };
    expect(healthPolicyProblems(broken)).toEqual([
      'criticalBelow (96) must be above 0 and below degradedBelow (95)',
      'degradedBelow + recoverMargin (105) must not exceed 100, or no node recovers',
      'holdReadings (0) must be an integer >= 1',
      'sensors.idleCpu: fine and fail must differ',
    ]);
  });
});

describe('healthFactsOf', () => {
  it("reads a stored node's arrivals, calls, blockers and fresh load facts", () => {
    const n = node(1, {
      sessions: 7,
      capacity: 50,
      blockers: ['inbound-paused'],
      heartbeatArrivals: [1, 2],
      load: { idleCpuPercent: 40, sessionsPerSecond: 3, sessionsPerSecondLimit: 30, heartbeatEventAt: 10_000, heartbeatEventIntervalMs: 5000, sentAt: 25_000 },
    });
    expect(healthFactsOf(n, { inactive: 1, total: 2 })).toEqual({
      heartbeatArrivals: [1, 2],
      heartbeatIntervalMs: 2000,
      sessions: 7,
      capacity: 50,
      blockers: ['inbound-paused'],
      idleCpuPercent: 40,
      sessionsPerSecond: 3,
      sessionsPerSecondLimit: 30,
      kamailioMarks: { inactive: 1, total: 2 },
    });
  });

  it('leaves out what a HEARTBEAT event older than three of its intervals said; a record without arrivals has its last message', () => {
    const stale = node(1, { load: { idleCpuPercent: 1, sessionsPerSecond: 99, sessionsPerSecondLimit: 30, heartbeatEventAt: 9_999, heartbeatEventIntervalMs: 5000, sentAt: 25_000 } });
    const f = healthFactsOf(stale);
    expect(f.idleCpuPercent).toBeUndefined();
    expect(f.sessionsPerSecond).toBeUndefined();
    expect(f.sessionsPerSecondLimit).toBe(30);
    expect(f.heartbeatArrivals).toEqual([stale.lastSeenAt]);
  });
});

describe('assessHealth', () => {
  const reading = (sensor: string, s: number): SensorReading => ({ sensor, value: s, score: s, at: NOW });
  it('names the worst sensor and keeps the readings; a first assessment starts where the score puts it', () => {
    const r = assessHealth(undefined, [reading('a', 90), reading('b', 20), reading('c', 20)], NOW, P);
    expect(r).toEqual({ state: 'critical', since: NOW, score: 20, worst: 'b', readings: [reading('a', 90), reading('b', 20), reading('c', 20)], at: NOW });
    expect(assessHealth(r, [reading('a', 100)], NOW + 1, P)).toMatchObject({ state: 'critical', since: NOW, score: 100, pendingUp: { to: 'degraded', readings: 1 } });
    expect(assessHealth(undefined, [], NOW, P)).toEqual({ state: 'healthy', since: NOW, score: 100, readings: [], at: NOW });
  });
});

describe('weightScore', () => {
  it('rounds up to steps of 10 within 0..100', () => {
    expect([-5, 0, 1, 10, 41, 49, 50, 99, 100, 130].map(weightScore)).toEqual([0, 0, 10, 10, 50, 50, 50, 100, 100, 100]);
  });
});
