import { describe, expect, it } from 'vitest';
import { Lease, leaseTimings } from '../../../src/leader/lease.js';

describe('leader lease', () => {
  it('timings: the server frees a silent holder\'s lock only after the holder stepped down', () => {
    for (const [lease, renew] of [[5000, 1000], [1000, 500], [1500, 300], [60_000, 10_000]] as const) {
      const t = leaseTimings(lease, renew);
      expect(t.serverTimeoutMs).toBeGreaterThan(t.leaseMs);
      expect(t.serverTimeoutMs - t.leaseMs).toBeGreaterThanOrEqual(1000);
      // TCP keepalives never end the session before idle_session_timeout does.
      expect((t.keepalive.idleS + t.keepalive.intervalS * t.keepalive.count) * 1000).toBeGreaterThan(t.serverTimeoutMs);
      expect(t.statementTimeoutMs).toBeLessThanOrEqual(t.leaseMs / 2);
    }
    expect(leaseTimings(5000, 1000)).toMatchObject({ serverTimeoutMs: 7500, orderStepMs: 2000, keepalive: { idleS: 8, intervalS: 1, count: 3 } });
  });

  it('timings: refuses a lease shorter than two renews', () => {
    expect(() => leaseTimings(1000, 600)).toThrow(RangeError);
    expect(() => leaseTimings(1000, 0)).toThrow(RangeError);
  });

  it('runs leaseMs from when the last good renew was sent', () => {
    const l = Lease.from(1000, 0);
    expect(l.valid(999)).toBe(true);
    expect(l.valid(1000)).toBe(false);
    const renewed = l.renewed(600)!;
    expect(renewed.valid(1599)).toBe(true);
    expect(renewed.msLeft(1100)).toBe(500);
    expect(l.deadline).toBe(1000); // a value: renewing makes a new lease
  });

  it('an answer to a renew sent after the deadline (a process resumed from a freeze) does not revive it', () => {
    const l = Lease.from(1000, 0);
    expect(l.renewed(1000)).toBeUndefined();
    expect(l.renewed(5000)).toBeUndefined();
  });

  it('a late answer to an older renew never moves the deadline back', () => {
    const l = Lease.from(1000, 0).renewed(800)!;
    expect(l.renewed(200)?.deadline).toBe(1800);
  });
});
