import { describe, expect, it } from 'vitest';
import { OPEN_GATE, reannounceDue, requestReannounce, type ReannounceGate } from '../../../src/agent/reannounce-gate.js';

const WINDOW = 1000;

/** Replays requests (`r`) and timer firings (`t`) at the given times; returns the answer times. */
function replay(events: ReadonlyArray<['r' | 't', number]>): { answers: number[]; gate: ReannounceGate; dueAt: number[] } {
  let gate = OPEN_GATE;
  const answers: number[] = [];
  const dueAt: number[] = [];
  for (const [what, now] of events) {
    if (what === 'r') {
      const v = requestReannounce(gate, now, WINDOW);
      gate = v.gate;
      if (v.verdict === 'answer') answers.push(now);
      if (v.verdict === 'defer') dueAt.push(v.dueAt);
    } else {
      const d = reannounceDue(gate, now, WINDOW);
      gate = d.gate;
      if (d.answer) answers.push(now);
    }
  }
  return { answers, gate, dueAt };
}

describe('reannounce gate', () => {
  it('200 requests in one burst: answered at once and once more at the end of the window; 198 counted', () => {
    const burst: Array<['r', number]> = Array.from({ length: 200 }, (_, i) => ['r', 5000 + i] as ['r', number]);
    const { answers, gate, dueAt } = replay([...burst, ['t', 6000]]);
    expect(answers).toEqual([5000, 6000]);
    expect(dueAt).toEqual([6000]);
    expect(gate).toEqual({ windowEndsAt: 7000, deferred: false, answered: 2, ignored: 198 });
  });

  it('requests further apart than the window are each answered at once', () => {
    expect(replay([['r', 0], ['r', 1000], ['r', 2500]]).answers).toEqual([0, 1000, 2500]);
  });

  it('a request inside the window is never lost: it is answered when the window ends', () => {
    const { answers } = replay([['r', 0], ['r', 999], ['t', 1000]]);
    expect(answers).toEqual([0, 1000]);
  });

  it('the answer at the end of a window opens the next one', () => {
    const { answers, dueAt } = replay([['r', 0], ['r', 10], ['t', 1000], ['r', 1500], ['t', 2000]]);
    expect(answers).toEqual([0, 1000, 2000]);
    expect(dueAt).toEqual([1000, 2000]);
  });

  it('a timer that fires early answers nothing and leaves the request waiting', () => {
    const { answers, gate } = replay([['r', 0], ['r', 10], ['t', 999]]);
    expect(answers).toEqual([0]);
    expect(gate.deferred).toBe(true);
  });

  it('a request after a late timer answers once for both: the late timer then answers nothing', () => {
    const { answers } = replay([['r', 0], ['r', 10], ['r', 1200], ['t', 1201]]);
    expect(answers).toEqual([0, 1200]);
  });

  it('a timer with nothing waiting does nothing', () => {
    expect(replay([['t', 50]]).answers).toEqual([]);
    expect(replay([['r', 0], ['t', 1000]]).answers).toEqual([0]);
  });
});
