import { describe, expect, it } from 'vitest';
import { precedes, rankAmong, takeoverDelayMs } from '../../../src/leader/replicaOrder.js';

const r = (replicaId: string, order: number | null) => ({ replicaId, order });

describe('replica takeover order', () => {
  it('the lowest live order goes first; the others wait a step per replica before them', () => {
    const live = [r('c', 3), r('a', 1), r('b', 2)];
    expect(live.map((me) => [me.replicaId, takeoverDelayMs(me, live, 100)])).toEqual([['c', 200], ['a', 0], ['b', 100]]);
  });

  it('replicas that are not live do not delay anyone', () => {
    expect(rankAmong(r('b', 2), [r('b', 2), r('c', 3)])).toBe(0);
  });

  it('unordered replicas come after every ordered one and race each other', () => {
    const live = [r('a', null), r('b', null), r('c', 5)];
    expect(rankAmong(r('a', null), live)).toBe(1);
    expect(rankAmong(r('b', null), live)).toBe(1);
    expect(rankAmong(r('c', 5), live)).toBe(0);
    expect(precedes(r('a', null), r('b', null))).toBe(false);
  });

  it('equal orders race: neither waits for the other', () => {
    expect(rankAmong(r('a', 1), [r('a', 1), r('b', 1)])).toBe(0);
    expect(rankAmong(r('b', 1), [r('a', 1), r('b', 1)])).toBe(0);
  });
});
