import { describe, expect, it } from 'vitest';
import { estimateDrainEnd, pinnedTo, planDrain, resumesDue } from '../../../src/core/drain.js';
import type { MachineIntent } from '../../../src/core/machine.js';
import { node } from './fixtures.js';

const drain = (over: Partial<NonNullable<MachineIntent['drain']>> = {}) => ({ deadline: 10_000, ...over });

describe('planDrain', () => {
  it('a node FreeSWITCH says has no call is drained, whatever else holds; paused too once no room is pinned to it', () => {
    expect(planDrain(drain({ onDeadline: 'hangup' }), { sessions: 0, inboundPaused: false }, 3, 20_000)).toEqual({ steps: [{ kind: 'drained' }], overdue: false });
    expect(planDrain(drain(), { sessions: 0, inboundPaused: false }, 0, 0)).toEqual({ steps: [{ kind: 'pause-inbound', why: 'no-pinned-room' }, { kind: 'drained' }], overdue: false });
    expect(planDrain(drain(), { sessions: 0, inboundPaused: true }, 0, 0).steps).toEqual([{ kind: 'drained' }]);
  });

  it('pauses inbound only once no room is pinned to it, and only when not paused already', () => {
    expect(planDrain(drain(), { sessions: 4, inboundPaused: false }, 1, 0).steps).toEqual([]);
    expect(planDrain(drain(), { sessions: 4, inboundPaused: false }, 0, 0).steps).toEqual([{ kind: 'pause-inbound', why: 'no-pinned-room' }]);
    expect(planDrain(drain(), { sessions: 4, inboundPaused: true }, 0, 0).steps).toEqual([]);
  });

  it('pins not known (the rooms step failed): no pause on a guess', () => {
    expect(planDrain(drain(), { sessions: 4, inboundPaused: false }, undefined, 0).steps).toEqual([]);
  });

  it('at the deadline, hangup pauses inbound (pins or not) then hangs up with the drain\'s cause', () => {
    expect(planDrain(drain({ onDeadline: 'hangup', hangupCause: 'SYSTEM_SHUTDOWN' }), { sessions: 2, inboundPaused: false }, 2, 10_000).steps).toEqual([
      { kind: 'pause-inbound', why: 'deadline' },
      { kind: 'hangup-all', cause: 'SYSTEM_SHUTDOWN' },
    ]);
    expect(planDrain(drain({ onDeadline: 'hangup' }), { sessions: 2, inboundPaused: true }, 0, 10_001).steps).toEqual([{ kind: 'hangup-all', cause: 'MANAGER_REQUEST' }]);
    // One ms before: nothing cut.
    expect(planDrain(drain({ onDeadline: 'hangup' }), { sessions: 2, inboundPaused: true }, 0, 9_999)).toEqual({ steps: [], overdue: false });
  });

  it('at the deadline, keep (and a drain that names no action) cuts nothing and is overdue', () => {
    expect(planDrain(drain({ onDeadline: 'keep' }), { sessions: 2, inboundPaused: true }, 0, 10_000)).toEqual({ steps: [], overdue: true });
    expect(planDrain(drain(), { sessions: 2, inboundPaused: false }, 1, 10_000)).toEqual({ steps: [], overdue: true });
  });
});

describe('pinnedTo', () => {
  it('counts the pins naming the node\'s destination; unknown pins stay unknown', () => {
    const pins = [{ uri: 'sip:10.0.0.1:5080' }, { uri: 'sip:10.0.0.2:5080' }, { uri: 'sip:10.0.0.1:5080' }];
    expect(pinnedTo(node(1), pins)).toBe(2);
    expect(pinnedTo(node(3), pins)).toBe(0);
    expect(pinnedTo(node(1), undefined)).toBeUndefined();
  });
});

describe('resumesDue', () => {
  const m = (id: string, over: Partial<MachineIntent> = {}): MachineIntent => ({ machineId: id, slot: 1, nodeId: 'x', rev: 1, ...over });
  it('machines paused for a drain that was lifted, with their live node; a gone node is not resumed', () => {
    const machines = [m('10.0.0.1:5080', { inboundPaused: true }), m('10.0.0.2:5080', { inboundPaused: true, drain: drain() }), m('10.0.0.3:5080', { inboundPaused: true }), m('10.0.0.4:5080')];
    const nodes = [node(1), node(2), node(3, { state: 'gone' })];
    expect(resumesDue(machines, nodes).map((r) => [r.machine.machineId, r.node?.nodeId])).toEqual([
      ['10.0.0.1:5080', node(1).nodeId],
      ['10.0.0.3:5080', undefined],
    ]);
  });
});

describe('estimateDrainEnd', () => {
  it('extrapolates the rate calls have ended at since the drain began', () => {
    // 100 calls at t=0, 60 left at t=40 s: 1 per second, 60 s to go.
    expect(estimateDrainEnd(drain({ deadline: 1e9, since: 0, startSessions: 100 }), 60, 40_000)).toBe(100_000);
  });
  it('nothing ended yet: no estimate, or the deadline when it hangs up; never past a hangup deadline', () => {
    expect(estimateDrainEnd(drain({ since: 0, startSessions: 10 }), 10, 5000)).toBeUndefined();
    expect(estimateDrainEnd(drain({ since: 0, startSessions: 10, onDeadline: 'hangup' }), 10, 5000)).toBe(10_000);
    expect(estimateDrainEnd(drain({ since: 0, startSessions: 10, onDeadline: 'hangup' }), 9, 1000)).toBe(10_000);
    expect(estimateDrainEnd(drain({ since: 0, startSessions: 10 }), 0, 1234)).toBe(1234);
  });
});
