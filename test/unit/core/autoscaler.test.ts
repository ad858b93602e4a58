import { describe, expect, it } from 'vitest';
import { desiredReplicas, mayApply } from '../../../src/core/autoscaler.js';
import { node } from './fixtures.js';

const policy = { targetUtilisation: 0.5, minReplicas: 2, maxReplicas: 10 };
const pool = (sessions: number[], capacity = 100) => sessions.map((s, i) => node(i + 1, { sessions: s, capacity }));

describe('desiredReplicas: N+1 headroom', () => {
  it('the two-node rule: two nodes of 100 carry 50 calls (either alone at 50 %), not 51', () => {
    expect(desiredReplicas(pool([25, 25]), policy).replicas).toBe(2);
    expect(desiredReplicas(pool([26, 25]), policy).replicas).toBe(3);
  });

  it('generalised: 240 calls at 50 % need 480 sessions besides the largest node: 5 of 100, plus one', () => {
    expect(desiredReplicas(pool([80, 80, 80]), policy)).toMatchObject({ replicas: 6, calls: 240 });
  });

  it('uneven nodes: the largest is the one assumed lost; new nodes are as large as the median', () => {
    // 200 + 100 + 100: losing the 200 leaves 200 = 100 calls at 50 %.
    const nodes = [node(1, { capacity: 200, sessions: 50 }), node(2, { capacity: 100, sessions: 25 }), node(3, { capacity: 100, sessions: 25 })];
    expect(desiredReplicas(nodes, policy).replicas).toBe(3);
    const busier = nodes.map((n) => ({ ...n, sessions: n.sessions + 10 }));
    // 130 calls need 260 besides the 200: 100 + 100 + one more median 100.
    expect(desiredReplicas(busier, policy).replicas).toBe(4);
  });

  it('draining nodes\' calls count, gone ones do not; min and max bound it', () => {
    const nodes = [...pool([40, 40]), node(3, { state: 'draining', sessions: 40 }), node(4, { state: 'gone', sessions: 90 })];
    expect(desiredReplicas(nodes, policy)).toMatchObject({ calls: 120, replicas: 4 });
    expect(desiredReplicas(pool([0, 0, 0]), policy).replicas).toBe(2);
    expect(desiredReplicas(pool([0]), { ...policy, minReplicas: 3 }).replicas).toBe(3);
    expect(desiredReplicas(pool([100, 100, 100]), { ...policy, maxReplicas: 4 }).replicas).toBe(4);
  });
});

describe('mayApply: cooldowns', () => {
  const cd = { upMs: 60_000, downMs: 600_000 };
  it('up after the up cooldown, down after the longer down cooldown, nothing when already the target', () => {
    const last = { last: { replicas: 3, at: 0 } };
    expect(mayApply(3, 3, last, 1e9, cd)).toMatchObject({ ok: false, why: 'already the target' });
    expect(mayApply(4, 3, last, 59_999, cd)).toMatchObject({ ok: false });
    expect(mayApply(4, 3, last, 60_000, cd)).toEqual({ ok: true, why: 'scale up' });
    expect(mayApply(2, 3, last, 60_000, cd)).toMatchObject({ ok: false, why: 'cooldown: 540 s left of the scale-down cooldown' });
    expect(mayApply(2, 3, last, 600_000, cd)).toEqual({ ok: true, why: 'scale down' });
    expect(mayApply(2, undefined, {}, 0, cd)).toEqual({ ok: true, why: 'scale up' });
  });
});
