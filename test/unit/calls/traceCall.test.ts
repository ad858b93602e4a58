import { describe, expect, it } from 'vitest';
import { traceCall } from '../../../src/calls/traceCall.js';
import { InMemoryCallStore } from '../../fakes/inMemoryCallStore.js';
import { bridgedCall, CALL_ID, channelEvent, DECISION, LEG_A, LEG_B, NODE_2 } from './fixtures.js';

const NOW = Date.UTC(2026, 11, 2, 5, 0, 0);
const T = (NOW - 60_000) * 1000;
const uuid = (n: number) => `c0000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

const storeWith = async (...events: Parameters<InMemoryCallStore['append']>[0][]) => {
  const store = new InMemoryCallStore({ now: () => NOW });
  for (const e of events) await store.append(e);
  return store;
};

describe('trace a call by any of its ids', () => {
  it('the A leg, the B leg, either Call-ID and the decision id all find the same whole call', async () => {
    const store = await storeWith(bridgedCall(T));
    const graphs = await Promise.all([LEG_A, LEG_B, CALL_ID, DECISION].map((id) => traceCall(store, id, { nowMs: NOW })));
    for (const g of graphs) {
      expect(g?.legs.map((l) => l.uuid)).toEqual([LEG_A, LEG_B]);
      expect(g?.decisions.map((d) => [d.id, d.attempts.length])).toEqual([[DECISION, 2]]);
    }
  });

  it('an unknown id finds nothing', async () => {
    const store = await storeWith(bridgedCall(T));
    expect(await traceCall(store, 'nobody@nowhere', { nowMs: NOW })).toBeUndefined();
  });

  it('a conference joins the participants that were in it at the same time, and their own other legs', async () => {
    const leg = (n: number, from: number, to: number, over = {}) => [
      channelEvent({ event: 'create', uuid: uuid(n), atUs: from, callId: `p${n}@h`, ...over }),
      channelEvent({ event: 'hangup', uuid: uuid(n), atUs: to, callId: `p${n}@h`, room: '3000', cause: 'NORMAL_CLEARING', ...over }),
    ];
    const store = await storeWith(
      leg(1, T, T + 1000),
      leg(2, T + 500, T + 3000),
      // The link leg on the other node, carrying the cascade link id on both ends.
      leg(3, T + 600, T + 2900, { link: 'lnk1', nodeId: NODE_2 }),
      leg(4, T + 700, T + 2800, { link: 'lnk1' }),
      // Room 3000 again an hour later: another meeting.
      leg(5, T + 3_600_000_000, T + 3_601_000_000),
    );
    const g = await traceCall(store, 'p1@h', { nowMs: NOW + 3_700_000 });
    expect(g?.legs.map((l) => l.uuid)).toEqual([uuid(1), uuid(2), uuid(3), uuid(4)]);
    expect(g?.links).toEqual(['lnk1']);
    expect(g?.joins.filter((j) => j.by === 'link')).toEqual([{ a: uuid(3), b: uuid(4), by: 'link' }]);
  });

  it('stops at its bound of events and says so', async () => {
    const legs = Array.from({ length: 30 }, (_, i) => [
      channelEvent({ event: 'create', uuid: uuid(i), atUs: T + i, room: '3001' }),
      channelEvent({ event: 'hangup', uuid: uuid(i), atUs: T + 10_000 + i, room: '3001', cause: 'NORMAL_CLEARING' }),
    ]).flat();
    const store = await storeWith(legs);
    const g = await traceCall(store, uuid(0), { nowMs: NOW, maxEvents: 20 });
    expect(g?.truncated).toBe(true);
    expect(g!.legs.length).toBeLessThanOrEqual(20);
    expect((await traceCall(store, uuid(0), { nowMs: NOW }))?.legs).toHaveLength(30);
  });

  it('a Call-ID a phone used again two days later: the newest use is the call', async () => {
    const old = bridgedCall(T - 2 * 86_400_000_000).map((e) => ({ ...e, id: `old-${e.id}` }));
    const store = await storeWith(old, bridgedCall(T));
    const g = await traceCall(store, CALL_ID, { nowMs: NOW });
    expect(g?.legs.map((l) => l.startedAtUs)).toEqual([T + 1000, T + 2000]);
  });
});
