import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InvalidCursorError } from '../../src/ports/callStore.js';
import { OPERATION_KINDS, type OperationEntry, type OperationLog, type StoredOperation } from '../../src/ports/operationLog.js';
import { migrate } from '../../src/postgres/migrations.js';
import { DETAIL_TRUNCATED_KEY, encodeOperationCursor, OPERATION_BOUNDS, OPERATION_INSERT_LOCK_KEY, OPERATIONS_MIGRATION, PgOperationLog } from '../../src/postgres/operationLog.js';
import { InMemoryOperationLog } from '../fakes/inMemoryOperationLog.js';
import { createPostgresDatabase, type Service } from '../support/services.js';

const AT = Date.UTC(2026, 11, 3, 9, 30, 0) + 123;

const entry = (n: number, over: Partial<OperationEntry> = {}): OperationEntry => ({
  kind: 'drain',
  actor: 'api:10.0.0.9',
  target: `fs-${n % 3}`,
  outcome: 'done',
  detail: { n },
  at: AT + n,
  ...over,
});

/** Every page of `filter`, walked with `limit`: the ids of each page. */
async function walk(log: OperationLog, limit: number, filter: { kind?: OperationEntry['kind']; target?: string } = {}): Promise<number[][]> {
  const pages: number[][] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 1000; i++) {
    const page = await log.list({ ...filter, limit, ...(cursor !== undefined ? { cursor } : {}) });
    pages.push(page.operations.map((o) => o.id));
    if (page.next === undefined) return pages;
    cursor = page.next;
  }
  throw new Error('the walk did not end');
}

let db: Service;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createPostgresDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 8 });
  pool.on('error', () => undefined);
  await migrate(pool);
  // Migration 5 once migrations.ts holds it; applied here so this test does not depend on that.
  await pool.query(OPERATIONS_MIGRATION.sql);
});
afterAll(async () => {
  await pool.end();
  await db.stop();
});

/** The same behaviour asked of the adapter and of the fake that unit tests trust in its place. */
describe.each([
  ['PgOperationLog (real Postgres)', () => new PgOperationLog(pool) as OperationLog],
  ['InMemoryOperationLog (the fake)', () => new InMemoryOperationLog() as OperationLog],
])('operation log contract: %s', (_name, make) => {
  let log: OperationLog;
  beforeEach(async () => {
    // Each test starts from an empty log whose ids start at 1, like a fresh fake.
    await pool.query('TRUNCATE sbc_operations RESTART IDENTITY');
    log = make();
  });

  it('record returns the stored row: ids from 1 in order, the time to the ms, detail as JSON', async () => {
    const first = await log.record(entry(1, { detail: { deadline: '2026-12-03T10:00:00Z', replicas: [2, 3], nested: { ok: true, n: null } } }));
    const second = await log.record(entry(2, { kind: 'scale', outcome: 'requested', target: 'pool', actor: 'autoscaler' }));
    expect(first).toEqual({
      id: 1, at: AT + 1, kind: 'drain', actor: 'api:10.0.0.9', target: 'fs-1', outcome: 'done',
      detail: { deadline: '2026-12-03T10:00:00Z', replicas: [2, 3], nested: { ok: true, n: null } },
    });
    expect(second).toEqual({ id: 2, at: AT + 2, kind: 'scale', actor: 'autoscaler', target: 'pool', outcome: 'requested', detail: { n: 2 } });
    expect(await log.list({ limit: 10 })).toEqual({ operations: [second, first] });
  });

  it('stores every kind and outcome the port declares', async () => {
    for (const [i, kind] of OPERATION_KINDS.entries()) await log.record(entry(i, { kind, outcome: (['requested', 'done', 'failed', 'refused'] as const)[i % 4]! }));
    const page = await log.list({ limit: 50 });
    expect(page.operations.map((o) => [o.kind, o.outcome])).toEqual(
      OPERATION_KINDS.map((k, i) => [k, ['requested', 'done', 'failed', 'refused'][i % 4]]).reverse(),
    );
  });

  it('pages newest first with no duplicates or gaps; the last page has no next', async () => {
    for (let n = 1; n <= 7; n++) await log.record(entry(n));
    expect(await walk(log, 3)).toEqual([[7, 6, 5], [4, 3, 2], [1]]);
    expect(await walk(log, 7)).toEqual([[7, 6, 5, 4, 3, 2, 1]]);
    const exact = await log.list({ limit: 7 });
    expect(exact.next).toBeUndefined();
    const page1 = await log.list({ limit: 6 });
    expect(page1.next).toBe(encodeOperationCursor(2));
    const page2 = await log.list({ limit: 6, cursor: page1.next! });
    expect([page2.operations.map((o) => o.id), page2.next]).toEqual([[1], undefined]);
  });

  it('a page does not move when newer operations are recorded after it was read', async () => {
    for (let n = 1; n <= 5; n++) await log.record(entry(n));
    const page1 = await log.list({ limit: 2 });
    await log.record(entry(6));
    const page2 = await log.list({ limit: 2, cursor: page1.next! });
    expect([page1.operations.map((o) => o.id), page2.operations.map((o) => o.id)]).toEqual([[5, 4], [3, 2]]);
  });

  it('filters by kind, by target, and by both, paging within the filter', async () => {
    for (let n = 1; n <= 12; n++) await log.record(entry(n, { kind: n % 2 ? 'drain' : 'undrain' }));
    // target fs-(n % 3); kind drain for odd n.
    expect(await walk(log, 2, { kind: 'drain' })).toEqual([[11, 9], [7, 5], [3, 1]]);
    expect(await walk(log, 3, { target: 'fs-0' })).toEqual([[12, 9, 6], [3]]);
    expect(await walk(log, 5, { kind: 'undrain', target: 'fs-1' })).toEqual([[10, 4]]);
    expect(await walk(log, 5, { kind: 'hangup' })).toEqual([[]]);
    expect(await walk(log, 5, { target: 'fs-' })).toEqual([[]]);
  });

  it('cuts actor and target to 256 code points, never splitting a pair, and replaces NUL and lone surrogates', async () => {
    const r = await log.record(entry(1, { actor: `api:${'a'.repeat(400)}`, target: `${'😀'.repeat(300)}`, detail: { 'k\u0000': 'v\u0000\ud800', list: ['\udc00x'] } }));
    expect(r.actor).toBe(`api:${'a'.repeat(OPERATION_BOUNDS.actor - 4)}`);
    expect(r.target).toBe('😀'.repeat(OPERATION_BOUNDS.target));
    expect(r.detail).toEqual({ 'k\ufffd': 'v\ufffd\ufffd', list: ['\ufffdx'] });
    expect((await log.list({ limit: 1 })).operations[0]).toEqual(r);
    const exact = await log.record(entry(2, { actor: 'b'.repeat(256) }));
    expect(exact.actor).toBe('b'.repeat(256));
  });

  it('keeps a detail of 8 KiB whole; a larger one keeps the entries that fit and names what it left out', async () => {
    // {"s":"…"} is 8 bytes around the string.
    const fits = { s: 'x'.repeat(OPERATION_BOUNDS.detailBytes - 8) };
    expect(Buffer.byteLength(JSON.stringify(fits))).toBe(OPERATION_BOUNDS.detailBytes);
    expect((await log.record(entry(1, { detail: fits }))).detail).toEqual(fits);
    const big = { cause: 'timeout', error: 'e'.repeat(20_000), node: 'fs-1', [`${'k'.repeat(100)}`]: 'y'.repeat(9000) };
    const size = Buffer.byteLength(JSON.stringify(big));
    const r = await log.record(entry(2, { detail: big }));
    expect(r.detail).toEqual({ cause: 'timeout', node: 'fs-1', [DETAIL_TRUNCATED_KEY]: { bytes: size, dropped: ['error', 'k'.repeat(OPERATION_BOUNDS.droppedKey)] } });
    expect(Buffer.byteLength(JSON.stringify(r.detail))).toBeLessThanOrEqual(OPERATION_BOUNDS.detailBytes);
    // Multi-byte text counts in bytes: 3000 three-byte characters are over 8 KiB.
    const wide = await log.record(entry(3, { detail: { text: '€'.repeat(3000) } }));
    expect(wide.detail).toEqual({ [DETAIL_TRUNCATED_KEY]: { bytes: 9000 + 11, dropped: ['text'] } });
    expect((await log.list({ limit: 3 })).operations.map((o) => o.detail)).toEqual([wide.detail, r.detail, fits]);
  });

  it('refuses a cursor it did not make', async () => {
    for (let n = 1; n <= 3; n++) await log.record(entry(n));
    const bad = ['abc', '', 'MA', encodeOperationCursor(1).replace(/.$/, 'F'), Buffer.from('-1').toString('base64url'), Buffer.from('01').toString('base64url'), Buffer.from('1e3').toString('base64url'), Buffer.from('x').toString('base64url'), '!!', 'A'.repeat(40)];
    for (const cursor of bad) await expect(log.list({ limit: 2, cursor }), cursor).rejects.toBeInstanceOf(InvalidCursorError);
    // A cursor past the oldest row is a cursor: the page is empty.
    expect(await log.list({ limit: 2, cursor: encodeOperationCursor(1) })).toEqual({ operations: [] });
    expect(await log.list({ limit: 2, cursor: encodeOperationCursor(2 ** 53 - 1) })).toMatchObject({ operations: [{ id: 3 }, { id: 2 }] });
  });

  it('refuses an unknown kind or outcome, a time that is not one, and a limit outside 1..500', async () => {
    await expect(log.record(entry(1, { kind: 'reboot' as OperationEntry['kind'] }))).rejects.toThrow('unknown operation kind "reboot"');
    await expect(log.record(entry(1, { outcome: 'maybe' as OperationEntry['outcome'] }))).rejects.toThrow('unknown operation outcome "maybe"');
    await expect(log.record(entry(1, { at: Number.NaN }))).rejects.toBeInstanceOf(RangeError);
    for (const limit of [0, 501, 1.5]) await expect(log.list({ limit })).rejects.toBeInstanceOf(RangeError);
    expect(await log.list({ limit: 500 })).toEqual({ operations: [] });
  });
});

describe('PgOperationLog (real Postgres): what only the table shows', () => {
  let log: PgOperationLog;
  beforeEach(async () => {
    await pool.query('TRUNCATE sbc_operations RESTART IDENTITY');
    log = new PgOperationLog(pool);
  });

  it('the migration can run again, and the table refuses rows the log would not write', async () => {
    await pool.query(OPERATIONS_MIGRATION.sql);
    const refused = async (sql: string) => (await pool.query(sql).then(() => undefined, (e: { code?: string }) => e.code));
    expect(await refused(`INSERT INTO sbc_operations (at, kind, actor, target, outcome) VALUES (now(), 'reboot', 'a', 't', 'done')`)).toBe('23514');
    expect(await refused(`INSERT INTO sbc_operations (at, kind, actor, target, outcome) VALUES (now(), 'drain', 'a', 't', 'maybe')`)).toBe('23514');
    expect(await refused(`INSERT INTO sbc_operations (at, kind, actor, target, outcome) VALUES (now(), 'drain', repeat('a', 257), 't', 'done')`)).toBe('23514');
    expect(await refused(`INSERT INTO sbc_operations (at, kind, actor, target, outcome, detail) VALUES (now(), 'drain', 'a', 't', 'done', '[1]')`)).toBe('23514');
    const indexes = await pool.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE tablename = 'sbc_operations' ORDER BY indexname");
    expect(indexes.rows.map((r) => r.indexdef.replace(/^.* USING /, ''))).toEqual(['btree (at DESC, id DESC)', 'btree (kind, id DESC)', 'btree (id)', 'btree (target, id DESC)']);
  });

  it('holds exactly the rows recorded: the cut fields and the time as a timestamptz', async () => {
    await log.record(entry(1, { actor: 'x'.repeat(300), detail: { a: 1 } }));
    const rows = await pool.query<{ at: Date; actor_len: number; detail: unknown }>('SELECT at, char_length(actor) AS actor_len, detail FROM sbc_operations');
    expect(rows.rows).toEqual([{ at: new Date(AT + 1), actor_len: 256, detail: { a: 1 } }]);
  });

  it('a walk while others record sees every row committed before it began, each once, newest first', async () => {
    for (let n = 1; n <= 30; n++) await log.record(entry(n));
    let writing = true;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      let n = 0;
      // Bounded: the walk ends long before, then `writing` stops the rest.
      while (writing && n < 200) await log.record(entry(1000 * (w + 1) + n++, { kind: 'hangup' }));
      return n;
    });
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await log.list({ limit: 4, ...(cursor !== undefined ? { cursor } : {}) });
      seen.push(...page.operations.map((o) => o.id));
      cursor = page.next;
      // Let the writers in between pages.
      await new Promise((r) => setTimeout(r, 2));
    } while (cursor !== undefined);
    writing = false;
    const written = (await Promise.all(writers)).reduce((a, b) => a + b, 0);
    expect(written).toBeGreaterThan(0);
    const all = (await pool.query<{ id: string }>('SELECT id FROM sbc_operations ORDER BY id DESC')).rows.map((r) => Number(r.id));
    expect(all.length).toBe(30 + written);
    // Strictly decreasing: no duplicates. Equal to the table below the first id seen: no gaps.
    expect(seen).toEqual(all.filter((id) => id <= seen[0]!));
    expect(seen.length).toBeGreaterThanOrEqual(30);
  });
});

describe('PgOperationLog (real Postgres): an id taken but not yet committed', () => {
  it('a walk never passes it: a later record waits for it to commit, so no walk sees the later one without it', async () => {
    await pool.query('TRUNCATE sbc_operations RESTART IDENTITY');
    const log = new PgOperationLog(pool);
    for (let n = 1; n <= 3; n++) await log.record(entry(n));
    // Another replica's record, paused between taking id 4 and committing it.
    const other = await pool.connect();
    let pending: Promise<StoredOperation> | undefined;
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock($1)', [OPERATION_INSERT_LOCK_KEY]);
      const held = await other.query<{ id: string }>(
        "INSERT INTO sbc_operations (at, kind, actor, target, outcome) VALUES (now(), 'drain', 'leader:cp-b', 'fs-9', 'done') RETURNING id",
      );
      expect(held.rows[0]!.id).toBe('4');
      let settled = false;
      pending = log.record(entry(5));
      void pending.finally(() => (settled = true)).catch(() => undefined);
      // Until this record is blocked on the lock (or, were it not to take it, has committed).
      const waiting = async () =>
        (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")).rows[0]!.n;
      for (let i = 0; i < 500 && !settled && (await waiting()) === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const walked = (await walk(log, 2)).flat();
      await other.query('COMMIT');
      expect((await pending).id).toBe(5);
      const all = (await pool.query<{ id: string }>('SELECT id FROM sbc_operations ORDER BY id DESC')).rows.map((r) => Number(r.id));
      expect(all).toEqual([5, 4, 3, 2, 1]);
      expect(walked).toEqual([3, 2, 1]);
    } finally {
      await other.query('ROLLBACK').catch(() => undefined);
      other.release();
      await pending?.catch(() => undefined);
    }
  });
});

describe('PgOperationLog and the fake give the same page for the same records', () => {
  it('same rows, same cursors', async () => {
    await pool.query('TRUNCATE sbc_operations RESTART IDENTITY');
    const pgLog = new PgOperationLog(pool);
    const fake = new InMemoryOperationLog();
    const entries = Array.from({ length: 9 }, (_, n) => entry(n, { kind: n % 2 ? 'pause' : 'resume', detail: { n, big: n === 4 ? 'z'.repeat(9000) : 'small' } }));
    const stored: StoredOperation[][] = [[], []];
    for (const e of entries) {
      stored[0]!.push(await pgLog.record(e));
      stored[1]!.push(await fake.record(e));
    }
    expect(stored[0]).toEqual(stored[1]);
    const a = await pgLog.list({ limit: 4, kind: 'resume' });
    const b = await fake.list({ limit: 4, kind: 'resume' });
    expect(a).toEqual(b);
    expect(await pgLog.list({ limit: 4, cursor: b.next! })).toEqual(await fake.list({ limit: 4, cursor: a.next! }));
  });
});
