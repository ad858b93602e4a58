import { describe, expect, it } from 'vitest';
import { expiryAt, nextDeadline } from '../../../src/core/lifecycle.js';
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
    expect(brief(transitionsDue(nodes, 2000, { inEveryKamailio: false }))).toEqual([]);
    expect(brief(transitionsDue(nodes, 2000, { inEveryKamailio: true }))).toEqual(['01 active in-every-kamailio']);
  });

  it('a joining node that is also expiring is not promoted', () => {
    expect(brief(transitionsDue([node(1, { state: 'joining', expiresAt: 1500 })], 2000, { inEveryKamailio: true }))).toEqual(['01 gone expired']);
  });

  it('each transition re-checks its condition on the latest record: a heartbeat that landed since cancels an expiry', () => {
    const listed = node(1, { expiresAt: 5000 });
    const [expire] = transitionsDue([listed], 5000);
    expect(expire?.apply({ ...listed, expiresAt: 11_000, rev: 2 }, 5001)).toBeUndefined();
    expect(expire?.apply(listed, 5001)).toMatchObject({ state: 'gone', goneReason: 'expired' });
    const [promote] = transitionsDue([node(2, { state: 'joining' })], 2000, { inEveryKamailio: true });
    expect(promote?.apply(node(2, { state: 'gone' }), 2001)).toBeUndefined();
    expect(promote?.apply(node(2, { state: 'joining' }), 2001)).toMatchObject({ state: 'active', stateChangedAt: 2001 });
  });

  it('a silence that may be this replica\'s own (cut off from NATS) takes no node for dead: expiry waits for a whole window of hearing', () => {
    // Heartbeat window 3 s: last seen at 1000, deadline 4000.
    const silent = node(1, { lastSeenAt: 1000, expiresAt: 4000 });
    expect(brief(transitionsDue([silent], 9000, undefined, null))).toEqual([]);
    // Heard again from 8000 on: the node has until 11000 to be heard.
    expect(brief(transitionsDue([silent], 10_999, undefined, 8000))).toEqual([]);
    expect(brief(transitionsDue([silent], 11_000, undefined, 8000))).toEqual(['01 gone expired']);
    // Hearing all along (or since before it was last seen): its own deadline.
    expect(brief(transitionsDue([silent], 4000, undefined, 500))).toEqual(['01 gone expired']);
    expect(brief(transitionsDue([silent], 4000))).toEqual(['01 gone expired']);
  });

  it('the next deadline follows the held expiry, and there is none while nothing is heard', () => {
    const silent = node(1, { lastSeenAt: 1000, expiresAt: 4000 });
    expect(nextDeadline([silent], 8000)).toBe(11_000);
    expect(nextDeadline([silent], null)).toBeUndefined();
    expect(nextDeadline([silent, node(2, { lastSeenAt: 9000, expiresAt: 12_000 })], 8000)).toBe(11_000);
    expect(expiryAt(silent, 0)).toBe(4000);
  });
});
