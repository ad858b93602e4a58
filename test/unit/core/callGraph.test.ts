import { describe, expect, it } from 'vitest';
import { buildCallGraph, callKeysOf, legOf, newKeys, NO_KEYS } from '../../../src/core/callGraph.js';
import type { CallEvent } from '../../../src/ports/callStore.js';
import { bridgedCall, CALL_ID, channelEvent, DECISION, LEG_A, LEG_B, NODE_1 } from '../calls/fixtures.js';

const A = LEG_A;
const B = LEG_B;
const T = 1_764_650_000_000_000;
const ch = channelEvent;
const bridged: CallEvent[] = bridgedCall(T);

describe('call graph', () => {
  it('a leg takes its times from its events and keeps every Channel-Call-UUID it named', () => {
    const leg = legOf(B, bridged.filter((e) => e.uuid === B));
    expect(leg).toMatchObject({ uuid: B, nodeId: NODE_1, direction: 'outbound', callId: B, startedAtUs: T + 2000, answeredAtUs: T + 5000, endedAtUs: T + 9000, cause: 'NORMAL_CLEARING', sipStatus: 200 });
    expect(leg.callUuids).toEqual([A, B].sort());
    expect(leg.events.map((e) => e.event)).toEqual(['create', 'answer', 'hangup']);
  });

  it('a bridged call: both legs, joined by Other-Leg-Unique-ID and Channel-Call-UUID, and the decision with its failover', () => {
    const g = buildCallGraph([...bridged].reverse(), { openEndUs: T + 10_000 });
    expect(g.legs.map((l) => l.uuid)).toEqual([A, B]);
    expect(g.joins).toEqual([
      { a: A, b: B, by: 'call-uuid' },
      { a: A, b: B, by: 'other-leg' },
    ]);
    expect(g.decisions).toHaveLength(1);
    expect(g.decisions[0]).toMatchObject({ id: DECISION, kamailioId: 'kam-a', kind: 'general', pin: 'none', legs: [A] });
    expect(g.decisions[0]!.attempts).toEqual([
      { attempt: 1, atUs: T, set: 1, alg: 4, dst: 'sip:10.0.0.2:5060' },
      { attempt: 2, atUs: T + 900, set: 1, alg: 4, dst: 'sip:10.0.0.1:5060', afterStatus: 503 },
    ]);
    expect(g).toMatchObject({ nodes: [NODE_1], kamailios: ['kam-a'], firstAtUs: T, lastAtUs: T + 9100, truncated: false });
  });

  it('a room joins only legs that were up at the same time', () => {
    const leg = (uuid: string, from: number, to: number) => [
      ch({ event: 'create', uuid, atUs: from, room: '3000' }),
      ch({ event: 'hangup', uuid, atUs: to, room: '3000', cause: 'NORMAL_CLEARING' }),
    ];
    const u = (n: number) => `c0000000-0000-4000-8000-00000000000${n}`;
    const g = buildCallGraph([...leg(u(1), T, T + 100), ...leg(u(2), T + 50, T + 200), ...leg(u(3), T + 300, T + 400)], { openEndUs: T + 1000 });
    expect(g.joins).toEqual([{ a: u(1), b: u(2), by: 'room' }]);
  });

  it('the keys of a set of events, and only those not asked for yet', () => {
    const keys = callKeysOf(bridged);
    expect(keys).toEqual({ uuids: [A, B].sort(), callIds: [B, CALL_ID].sort(), decisions: [DECISION], links: [], rooms: [] });
    expect(newKeys(keys, { ...NO_KEYS, uuids: [A], callIds: [CALL_ID] })).toEqual({ uuids: [B], callIds: [B], decisions: [DECISION], links: [], rooms: [] });
  });

  it('an event seen twice (at-least-once delivery) counts once', () => {
    const g = buildCallGraph([...bridged, ...bridged], { openEndUs: T + 10_000 });
    expect(g.legs.find((l) => l.uuid === A)!.events).toHaveLength(4);
    expect(g.decisions[0]!.attempts).toHaveLength(2);
  });
});
