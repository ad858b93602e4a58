import { describe, expect, it } from 'vitest';
import { decideRooms, type ConferenceHalf, type RoomRecord } from '../../../src/core/rooms.js';

const A = { nodeId: 'node-a', uri: 'sip:127.0.0.1:5080' };
const B = { nodeId: 'node-b', uri: 'sip:127.0.0.1:5082' };
const NOW = 1_000_000;
const GRACE = 10_000;

const half = (nodeId: string, members: number, links = 0): ConferenceHalf => ({ nodeId, conferenceUuid: `c-${nodeId}`, members, links, updatedAt: NOW });
const pinTo = (uri: string, at = NOW - 100) => ({ key: '3000', uri, at, by: 'kam-a' });
const room = (r: Partial<RoomRecord>): RoomRecord => ({ room: '3000', halves: [], splitsRepaired: 0, ...r });
const decide = (r: RoomRecord, nodes = [A, B]) => decideRooms({ rooms: [r], nodes, now: NOW, pinGraceMs: GRACE })[0]!;

describe('decideRooms', () => {
  it('keeps a pin its conference confirms, and records the confirmation', () => {
    const d = decide(room({ pin: pinTo(A.uri), halves: [half('node-a', 3)] }));
    expect(d.pin?.uri).toBe(A.uri);
    expect(d.confirmedAt).toBe(NOW);
    expect(d.ended).toBeUndefined();
  });

  it('keeps a young unconfirmed pin, ends one older than the grace', () => {
    expect(decide(room({ pin: pinTo(A.uri, NOW - 500) })).pin?.uri).toBe(A.uri);
    const old = decide(room({ pin: pinTo(A.uri, NOW - GRACE - 1) }));
    expect(old).toMatchObject({ pin: undefined, ended: 'unconfirmed' });
  });

  it('ends the pin when its conference is over', () => {
    expect(decide(room({ pin: pinTo(A.uri), confirmedAt: NOW - 5000, halves: [] }))).toMatchObject({ pin: undefined, ended: 'destroyed' });
    // A conference holding only its link member is over for routing too.
    expect(decide(room({ pin: pinTo(A.uri), confirmedAt: NOW - 5000, halves: [half('node-a', 1, 1)] }))).toMatchObject({ pin: undefined, ended: 'destroyed' });
  });

  it('ends the pin of a node that is gone; a conference elsewhere takes the room over', () => {
    expect(decide(room({ pin: pinTo(A.uri), confirmedAt: NOW - 1 }), [B])).toMatchObject({ pin: undefined, ended: 'node-gone' });
    const moved = decide(room({ pin: pinTo(A.uri), confirmedAt: NOW - 1, halves: [half('node-a', 4), half('node-b', 2)] }), [B]);
    expect(moved).toMatchObject({ ended: 'node-gone', pin: { uri: B.uri, by: 'control', at: NOW } });
  });

  it('finds a split, points the pin at the larger half', () => {
    const d = decide(room({ pin: pinTo(A.uri), halves: [half('node-a', 2), half('node-b', 5)] }));
    expect(d.split).toEqual(['node-b', 'node-a']);
    expect(d.pin).toMatchObject({ uri: B.uri, by: 'control' });
    // Already pointing at the larger half: only reported.
    const kept = decide(room({ pin: pinTo(B.uri), halves: [half('node-a', 2), half('node-b', 5)] }));
    expect(kept.split).toEqual(['node-b', 'node-a']);
    expect(kept.pin?.by).toBe('kam-a');
  });

  it('a cascaded room on several nodes is no split', () => {
    expect(decide(room({ cascaded: true, halves: [half('node-a', 2), half('node-b', 5)] })).split).toBeUndefined();
  });

  it('gives a pin back to a room whose conference outlived it (a Kamailio restarted)', () => {
    expect(decide(room({ halves: [half('node-a', 3)] })).pin).toMatchObject({ key: '3000', uri: A.uri, by: 'control' });
  });
});

describe('decideRooms: spill-over', () => {
  const C = { nodeId: 'node-c', uri: 'sip:127.0.0.1:5084' };
  const spill = (max: number, nearlyFull: string[] = []) => ({ maxMembersPerNode: max, accepting: [A, B, C], nearlyFull: new Set(nearlyFull) });
  const run = (r: RoomRecord, s = spill(3)) => decideRooms({ rooms: [r], nodes: [A, B, C], now: NOW, pinGraceMs: GRACE, spill: s })[0]!;

  it('a room under the limit stays where it is', () => {
    const d = run(room({ pin: pinTo(A.uri), halves: [half('node-a', 2)] }));
    expect(d.pin?.uri).toBe(A.uri);
    expect(d.spilled).toBeUndefined();
  });

  it('a room at the limit sends its new callers to another node and is spilled (not a split) from then on', () => {
    const d = run(room({ pin: pinTo(A.uri), halves: [half('node-a', 3)] }));
    expect(d).toMatchObject({ spilled: true, pin: { by: 'control', at: NOW } });
    expect(d.pin?.uri).not.toBe(A.uri);
    const later = run(room({ spilled: true, pin: d.pin!, halves: [half('node-a', 3), half(d.pin!.uri === B.uri ? 'node-b' : 'node-c', 1)] }));
    expect(later.split).toBeUndefined();
    expect(later.pin?.uri).toBe(d.pin?.uri);
    expect(later.spilled).toBe(true);
  });

  it('prefers a node already hosting the room with room to spare; a nearly full node spills and takes nothing', () => {
    const d = run(room({ spilled: true, pin: pinTo(B.uri), halves: [half('node-a', 1), half('node-b', 3)] }));
    expect(d.pin?.uri).toBe(A.uri);
    const full = run(room({ pin: pinTo(A.uri), halves: [half('node-a', 1)] }), spill(100, ['node-a', 'node-b']));
    expect(full.pin?.uri).toBe(C.uri);
  });
});
