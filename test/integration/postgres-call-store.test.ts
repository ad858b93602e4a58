import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceCall } from '../../src/calls/traceCall.js';
import { CALL_EVENT_FIELD_BOUNDS, partitionName, PgCallStore } from '../../src/postgres/callStore.js';
import { migrate } from '../../src/postgres/migrations.js';
import { InvalidCursorError } from '../../src/ports/callStore.js';
import { createPostgresDatabase, type Service } from '../support/services.js';
import { bridgedCall, CALL_ID, channelEvent, LEG_A, LEG_B, NODE_1, NODE_2 } from '../unit/calls/fixtures.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 2, 12, 0, 0);
/** An odd µs value: the store must give back exactly this. */
const T = (NOW - 60_000) * 1000 + 123_457;

describe('PgCallStore (real Postgres)', () => {
  let db: Service;
  let pool: pg.Pool;
  let clock = NOW;
  let store: PgCallStore;

  beforeAll(async () => {
    db = await createPostgresDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    pool.on('error', () => undefined);
    await migrate(pool);
    store = new PgCallStore(pool, { retentionMs: 3 * DAY, now: () => clock });
  });
  afterAll(async () => {
    await pool.end();
    await db.stop();
  });

  it('makes partitions from yesterday to two days ahead, once', async () => {
    const r = await store.maintainPartitions(NOW);
    expect(r).toEqual({ created: [-1, 0, 1, 2].map((d) => partitionName(NOW + d * DAY)), dropped: [] });
    expect(await store.maintainPartitions(NOW)).toEqual({ created: [], dropped: [] });
    expect(await store.partitions()).toEqual(r.created);
  });

  it('writes a call once: a re-sent copy, in the same batch or later, is a duplicate; times come back to the µs', async () => {
    const call = bridgedCall(T);
    expect(await store.append([...call, call[3]!])).toEqual({ inserted: 9, duplicates: 1, truncated: {}, replaced: {}, outOfWindow: 0 });
    expect(await store.append(call)).toMatchObject({ inserted: 0, duplicates: 9 });
    const back = await store.eventsByKeys({ uuids: [LEG_A] }, { fromUs: T - 1, toUs: T + 10_000_000 }, 100);
    // LEG_A's own events, and LEG_B's that name it as other leg or call uuid.
    expect(back.map((e) => [e.uuid, e.event])).toEqual([
      [LEG_A, 'create'], [LEG_B, 'create'], [LEG_B, 'answer'], [LEG_A, 'answer'], [LEG_A, 'bridge'], [LEG_B, 'hangup'], [LEG_A, 'hangup'],
    ]);
    expect(back[0]).toEqual(call[2]);
    expect(back[0]!.atUs).toBe(T + 1000);
    const route = await store.eventsByKeys({ callIds: [CALL_ID] }, { fromUs: T, toUs: T }, 100);
    expect(route).toEqual([call[0]]);
  });

  it('finds the whole call from either leg through the store', async () => {
    const g = await traceCall(store, LEG_B, { nowMs: NOW });
    expect(g?.legs.map((l) => l.uuid)).toEqual([LEG_A, LEG_B]);
    expect(g?.decisions[0]?.attempts.map((a) => a.afterStatus ?? null)).toEqual([null, 503]);
  });

  it('cuts over-long fields and replaces NUL, counting both, and never refuses the event', async () => {
    const uuid = 'e0000000-0000-4000-8000-000000000001';
    const long = 'x'.repeat(CALL_EVENT_FIELD_BOUNDS.caller + 5);
    const r = await store.append([channelEvent({ event: 'create', uuid, atUs: T + 50, caller: long, callee: 'a\u0000b', room: 'r\ud800', callId: `${'😀'.repeat(CALL_EVENT_FIELD_BOUNDS.callId)}z` })]);
    expect(r).toEqual({ inserted: 1, duplicates: 0, truncated: { caller: 1, callId: 1 }, replaced: { callee: 1, room: 1 }, outOfWindow: 0 });
    const [e] = await store.eventsByKeys({ uuids: [uuid] }, { fromUs: T, toUs: T + 100 }, 10);
    expect([e?.caller?.length, e?.callee, e?.room, Array.from(e?.callId ?? '').length]).toEqual([CALL_EVENT_FIELD_BOUNDS.caller, 'a\ufffdb', 'r\ufffd', CALL_EVENT_FIELD_BOUNDS.callId]);
  });

  it('does not write events older than retention or over a day ahead (counted)', async () => {
    const uuid = 'e0000000-0000-4000-8000-000000000002';
    const r = await store.append([
      channelEvent({ event: 'create', uuid, atUs: (NOW - 4 * DAY) * 1000 }),
      channelEvent({ event: 'answer', uuid, atUs: (NOW + 2 * DAY) * 1000 }),
    ]);
    expect(r).toMatchObject({ inserted: 0, outOfWindow: 2 });
  });

  it('makes the partition of a day not made yet when an event for it arrives', async () => {
    const fresh = new PgCallStore(pool, { retentionMs: 3 * DAY, now: () => NOW - 2 * DAY });
    const uuid = 'e0000000-0000-4000-8000-000000000003';
    expect(await fresh.append([channelEvent({ event: 'create', uuid, atUs: (NOW - 2 * DAY) * 1000 })])).toMatchObject({ inserted: 1 });
    expect(await store.partitions()).toContain(partitionName(NOW - 2 * DAY));
  });

  it('lists recent legs newest first through filters and pages, each leg once', async () => {
    const legs = Array.from({ length: 25 }, (_, i) => {
      const uuid = `d0000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      const at = T + 1_000_000 + i * 1000;
      const node = i % 2 ? NODE_2 : NODE_1;
      return [
        channelEvent({ event: 'create', uuid, atUs: at, nodeId: node, callId: `r${i}@h` }),
        channelEvent({ event: 'answer', uuid, atUs: at + 100, nodeId: node, callId: `r${i}@h`, ...(i < 5 ? { room: '3100' } : {}) }),
        channelEvent({ event: 'hangup', uuid, atUs: at + 500, nodeId: node, callId: `r${i}@h`, cause: i % 5 === 0 ? 'USER_BUSY' : 'NORMAL_CLEARING' }),
      ];
    }).flat();
    await store.append(legs);
    const from = T + 1_000_000;
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const p = await store.recent({ limit: 10, fromUs: from, ...(cursor ? { cursor } : {}) });
      seen.push(...p.legs.map((l) => l.callId ?? '?'));
      if (!p.next) break;
      cursor = p.next;
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `r${24 - i}@h`));
    const [first] = (await store.recent({ limit: 1, fromUs: from })).legs;
    expect(first).toEqual({ uuid: 'd0000000-0000-4000-8000-000000000024', nodeId: NODE_1, direction: 'inbound', callId: 'r24@h', startedAtUs: from + 24_000, answeredAtUs: from + 24_100, endedAtUs: from + 24_500, cause: 'NORMAL_CLEARING' });
    const ids = async (f: Parameters<PgCallStore['recent']>[0]) => (await store.recent(f)).legs.map((l) => l.callId);
    expect(await ids({ limit: 100, fromUs: from, nodeId: NODE_2, cause: 'USER_BUSY' })).toEqual(['r15@h', 'r5@h']);
    expect(await ids({ limit: 100, room: '3100' })).toEqual(['r4@h', 'r3@h', 'r2@h', 'r1@h', 'r0@h']);
    expect(await ids({ limit: 100, fromUs: from + 3000, toUs: from + 5000 })).toEqual(['r5@h', 'r4@h', 'r3@h']);
    await expect(store.recent({ limit: 10, cursor: 'bm90LWEtY3Vyc29y' })).rejects.toBeInstanceOf(InvalidCursorError);
  });

  it('drops whole days older than retention, and only partitions it made', async () => {
    await pool.query('CREATE TABLE sbc_call_events_operator PARTITION OF sbc_call_events FOR VALUES FROM (\'2000-01-01\') TO (\'2000-01-02\')');
    clock = NOW + 5 * DAY;
    const r = await store.maintainPartitions(clock);
    // Retention 3 days from NOW+5d: days before NOW+2d go (NOW-2d .. NOW+1d).
    expect(r.dropped).toEqual([-2, -1, 0, 1].map((d) => partitionName(NOW + d * DAY)));
    expect(r.created).toEqual([4, 5, 6, 7].map((d) => partitionName(NOW + d * DAY)));
    expect(await store.partitions()).toEqual([...[2, 4, 5, 6, 7].map((d) => partitionName(NOW + d * DAY)), 'sbc_call_events_operator'].sort());
    expect(await store.eventsByKeys({ uuids: [LEG_A] }, { fromUs: 0, toUs: Number.MAX_SAFE_INTEGER }, 10)).toEqual([]);
  });
});
