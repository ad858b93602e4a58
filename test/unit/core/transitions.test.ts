import { describe, expect, it } from 'vitest';
import { expiryAt, nextDeadline } from '../../../src/core/lifecycle.js';
import type { MachineIntent } from '../../../src/core/machine.js';
import { transitionsDue } from '../../../src/core/transitions.js';
import { node } from './fixtures.js';

const brief = (due: ReturnType<typeof transitionsDue>) => due.map((d) => `${d.nodeId.slice(-2)} ${d.to} ${d.reason}`);

describe('transitionsDue: every stored node change due now, from the records and what routing observed', () => {
  it('a live node past its deadline expires; a gone one is left alone', () => {
    const due = transitionsDue([node(1, { expiresAt: 5000 }), node(2, { expiresAt: 9000 }), node(3, { state: 'gone', expiresAt: 1 })], 5000);
    expect(brief(due)).toEqual(['01 gone expired']);
  });

  it('of two live nodes at one address, the one that stopped holding it is superseded', () => {
    const old = node(1, { lastSeenAt: 1000, joinedAt: 1000 });
    const fresh = node(2, { sipUri: old.sipUri, lastSeenAt: 9000, joinedAt: 8000, expiresAt: 20_000 });
    expect(brief(transitionsDue([{ ...old, expiresAt: 20_000 }, fresh], 9000))).toEqual(['01 gone superseded']);
  });

  it('joining -> active only with an observation that every Kamailio holds the sets', () => {
    const nodes = [node(1, { state: 'joining' }), node(2)];
    expect(brief(transitionsDue(nodes, 2000))).toEqual([]);
    expect(brief(transitionsDue(nodes, 2000, { observed: { inEveryKamailio: false } }))).toEqual([]);
    expect(brief(transitionsDue(nodes, 2000, { observed: { inEveryKamailio: true } }))).toEqual(['01 active in-every-kamailio']);
  });

  it('a joining node that is also expiring is not promoted', () => {
    expect(brief(transitionsDue([node(1, { state: 'joining', expiresAt: 1500 })], 2000, { observed: { inEveryKamailio: true } }))).toEqual(['01 gone expired']);
  });

  it('each transition re-checks its condition on the latest record: a heartbeat that landed since cancels an expiry', () => {
    const listed = node(1, { expiresAt: 5000 });
    const [expire] = transitionsDue([listed], 5000);
    expect(expire?.apply({ ...listed, expiresAt: 11_000, rev: 2 }, 5001)).toBeUndefined();
    expect(expire?.apply(listed, 5001)).toMatchObject({ state: 'gone', goneReason: 'expired' });
    const [promote] = transitionsDue([node(2, { state: 'joining' })], 2000, { observed: { inEveryKamailio: true } });
    expect(promote?.apply(node(2, { state: 'gone' }), 2001)).toBeUndefined();
    expect(promote?.apply(node(2, { state: 'joining' }), 2001)).toMatchObject({ state: 'active', stateChangedAt: 2001 });
  });

  it('a silence that may be this replica\'s own (cut off from NATS) takes no node for dead: expiry waits for a whole window of hearing', () => {
    // Heartbeat window 3 s: last seen at 1000, deadline 4000.
    const silent = node(1, { lastSeenAt: 1000, expiresAt: 4000 });
    expect(brief(transitionsDue([silent], 9000, { heardSince: null }))).toEqual([]);
    // Heard again from 8000 on: the node has until 11000 to be heard.
    expect(brief(transitionsDue([silent], 10_999, { heardSince: 8000 }))).toEqual([]);
    expect(brief(transitionsDue([silent], 11_000, { heardSince: 8000 }))).toEqual(['01 gone expired']);
    // Hearing all along (or since before it was last seen): its own deadline.
    expect(brief(transitionsDue([silent], 4000, { heardSince: 500 }))).toEqual(['01 gone expired']);
    expect(brief(transitionsDue([silent], 4000))).toEqual(['01 gone expired']);
  });

  it('the next deadline follows the held expiry, and there is none while nothing is heard', () => {
    const silent = node(1, { lastSeenAt: 1000, expiresAt: 4000 });
    expect(nextDeadline([silent], 8000)).toBe(11_000);
    expect(nextDeadline([silent], null)).toBeUndefined();
    expect(nextDeadline([silent, node(2, { lastSeenAt: 9000, expiresAt: 12_000 })], 8000)).toBe(11_000);
    expect(expiryAt(silent, 0)).toBe(4000);
  });

  describe('drains, from each machine\'s intent', () => {
    const intent = (n: number, over: Partial<MachineIntent> = {}): MachineIntent => ({ machineId: `10.0.0.${n}:5080`, slot: n, nodeId: node(n).nodeId, rev: 1, ...over });
    const machines = (...m: MachineIntent[]) => new Map(m.map((x) => [x.machineId, x]));
    const draining = { drain: { deadline: 99_000 } };

    it('a node on a draining machine goes draining (a joining one too: a FreeSWITCH restarted there); its calls at 0, drained', () => {
      const nodes = [
        node(1, { sessions: 4 }),
        node(2, { state: 'joining' }),
        node(3, { state: 'draining', sessions: 0, lastSeenAt: 1500 }),
        node(4, { state: 'draining', sessions: 2, lastSeenAt: 1500 }),
        // 0 calls, but as reported before it went draining: not proof.
        node(6, { state: 'draining', sessions: 0, lastSeenAt: 1000, stateChangedAt: 1000 }),
        node(5),
      ];
      const m = machines(intent(1, draining), intent(2, draining), intent(3, draining), intent(4, draining), intent(5), intent(6, draining));
      expect(brief(transitionsDue(nodes, 2000, { machines: m }))).toEqual(['01 draining drain-requested', '02 draining drain-requested', '03 drained calls-ended']);
    });

    it('undrained: a draining or drained node whose machine no longer drains is active again; a cordon alone changes no state', () => {
      const nodes = [node(1, { state: 'draining', sessions: 3 }), node(2, { state: 'drained' }), node(3)];
      expect(brief(transitionsDue(nodes, 2000, { machines: machines(intent(1), intent(3, { cordoned: true })) }))).toEqual(['01 active undrained', '02 active undrained']);
    });

    it('a call that reached the draining node before the write keeps it draining; an expiring node only expires', () => {
      const [due] = transitionsDue([node(1, { state: 'draining', sessions: 0, lastSeenAt: 1500 })], 2000, { machines: machines(intent(1, draining)) });
      expect(due?.apply(node(1, { state: 'draining', sessions: 1, lastSeenAt: 1900 }), 2001)).toBeUndefined();
      expect(due?.apply(node(1, { state: 'draining', sessions: 0, lastSeenAt: 1900 }), 2001)).toMatchObject({ state: 'drained', stateChangedAt: 2001 });
      expect(brief(transitionsDue([node(1, { expiresAt: 1500 })], 2000, { machines: machines(intent(1, draining)) }))).toEqual(['01 gone expired']);
    });
  });
});
