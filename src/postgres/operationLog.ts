import type { Pool } from 'pg';
import { InvalidCursorError } from '../ports/callStore.js';
import {
  OPERATION_KINDS,
  OPERATION_OUTCOMES,
  type OperationEntry,
  type OperationFilter,
  type OperationLog,
  type OperationPage,
  type StoredOperation,
} from '../ports/operationLog.js';

/**
 * The operation log in Postgres (`sbc_operations`): one row per drain, undrain, scale,
 * provisioner action and forced hang-up. Append-only; listed newest first by id, a page at a
 * time (keyset on id, never OFFSET, so a page costs the same however deep it is).
 * Parameterised queries only: actor, target and detail come from API clients.
 */

/**
 * The schema, as migrations.ts declares its entries (migration 5). The CHECK lists are
 * written out rather than built from OPERATION_KINDS: a shipped migration must never change,
 * so a new kind is a new migration that replaces the constraint (the integration test records
 * every kind, so a kind the table refuses fails it).
 */
export const OPERATIONS_MIGRATION = {
  id: 5,
  name: 'operation log',
  sql: `
    CREATE TABLE IF NOT EXISTS sbc_operations (
      id BIGSERIAL PRIMARY KEY,
      at TIMESTAMPTZ NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('drain', 'undrain', 'scale', 'provision', 'hangup', 'pause', 'resume')),
      actor TEXT NOT NULL CHECK (char_length(actor) <= 256),
      target TEXT NOT NULL CHECK (char_length(target) <= 256),
      outcome TEXT NOT NULL CHECK (outcome IN ('requested', 'done', 'failed', 'refused')),
      detail JSONB NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(detail) = 'object')
    );
    CREATE INDEX IF NOT EXISTS sbc_operations_at ON sbc_operations (at DESC, id DESC);
    CREATE INDEX IF NOT EXISTS sbc_operations_target ON sbc_operations (target, id DESC);
    CREATE INDEX IF NOT EXISTS sbc_operations_kind ON sbc_operations (kind, id DESC);
  `,
} as const;

/**
 * The most kept of each free-form field. Cut, never refused: an entry records something that
 * already happened (a node was drained), and losing the record of it over an over-long client
 * address or error text would be worse than keeping a shortened one.
 */
export const OPERATION_BOUNDS = Object.freeze({
  /** Code points (Postgres char_length), like the CHECK. */
  actor: 256,
  target: 256,
  /** UTF-8 bytes of the detail's JSON. */
  detailBytes: 8 * 1024,
  /** Code points of each dropped key named in `_truncated.dropped`. */
  droppedKey: 64,
} as const);

/** The key a cut detail carries: `{bytes, dropped}`, the original size and the top-level keys left out. */
export const DETAIL_TRUNCATED_KEY = '_truncated';

/** A high surrogate not followed by a low one, or a low one not after a high one. */
const LONE_SURROGATES = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Postgres text and jsonb hold neither NUL nor a lone surrogate (jsonb refuses `\u0000` and `\ud800`): both become U+FFFD. */
const clean = (s: string): string => s.replaceAll('\u0000', '\ufffd').replace(LONE_SURROGATES, '\ufffd');

/** Cut to `bound` code points, never splitting a surrogate pair. */
function cut(s: string, bound: number): string {
  const v = clean(s);
  if (v.length <= bound) return v;
  const points = Array.from(v);
  return points.length <= bound ? v : points.slice(0, bound).join('');
}

/** The detail as JSON would carry it (undefined dropped, Dates as strings), every string and key cleaned. */
function cleanJson(value: unknown): unknown {
  const plain: unknown = JSON.parse(JSON.stringify(value) ?? 'null');
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return clean(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [clean(k), walk(x)]));
    return v;
  };
  return walk(plain);
}

const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));

/**
 * A detail within OPERATION_BOUNDS.detailBytes. An over-large one keeps its top-level entries,
 * in order, while they fit, and says what it left out under DETAIL_TRUNCATED_KEY; cutting the
 * JSON text itself would leave something that is not JSON.
 */
function boundedDetail(detail: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const plain = cleanJson(detail);
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) throw new TypeError('an operation detail must be a JSON object');
  const whole = plain as Record<string, unknown>;
  const size = bytes(whole);
  if (size <= OPERATION_BOUNDS.detailBytes) return whole;
  const entries = Object.entries(whole).filter(([k]) => k !== DETAIL_TRUNCATED_KEY);
  const kept: Record<string, unknown> = {};
  const dropped: string[] = [];
  // The marker is sized as if every key were dropped, so whatever is kept still fits with it.
  const marker = (names: readonly string[]) => ({ bytes: size, dropped: names.map((k) => cut(k, OPERATION_BOUNDS.droppedKey)) });
  let names = entries.map(([k]) => k);
  while (bytes({ [DETAIL_TRUNCATED_KEY]: marker(names) }) > OPERATION_BOUNDS.detailBytes / 2) names = names.slice(0, Math.floor(names.length / 2));
  for (const [k, v] of entries) {
    if (bytes({ ...kept, [k]: v, [DETAIL_TRUNCATED_KEY]: marker(names) }) <= OPERATION_BOUNDS.detailBytes) kept[k] = v;
    else dropped.push(k);
  }
  // Names beyond what fits are counted in `bytes` only; the list says which keys, as far as it can.
  const listed = dropped.filter((k) => names.includes(k));
  return { ...kept, [DETAIL_TRUNCATED_KEY]: marker(listed) };
}

/** The most one page holds (OperationFilter.limit is 1..this). */
export const OPERATION_PAGE_MAX = 500;

/** RangeError unless `limit` is 1..OPERATION_PAGE_MAX (the route's schema refuses others first). */
export function checkPageLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > OPERATION_PAGE_MAX) throw new RangeError(`page limit ${limit} is not 1..${OPERATION_PAGE_MAX}`);
}

const KINDS: ReadonlySet<string> = new Set(OPERATION_KINDS);
const OUTCOMES: ReadonlySet<string> = new Set(OPERATION_OUTCOMES);

/**
 * The entry as the log stores it: kind and outcome checked (the table's CHECK would refuse
 * them anyway; this names the value), `at` whole ms, actor and target cut, detail bounded.
 * Shared with the in-memory fake, so both store the same thing.
 */
export function storableOperation(entry: OperationEntry): OperationEntry {
  if (!KINDS.has(entry.kind)) throw new TypeError(`unknown operation kind ${JSON.stringify(entry.kind)}`);
  if (!OUTCOMES.has(entry.outcome)) throw new TypeError(`unknown operation outcome ${JSON.stringify(entry.outcome)}`);
  if (!Number.isFinite(entry.at) || entry.at < 0) throw new RangeError(`operation time ${entry.at} is not ms since the epoch`);
  return {
    kind: entry.kind,
    actor: cut(entry.actor, OPERATION_BOUNDS.actor),
    target: cut(entry.target, OPERATION_BOUNDS.target),
    outcome: entry.outcome,
    detail: boundedDetail(entry.detail),
    at: Math.floor(entry.at),
  };
}

/** A page's `next`: base64url of the last id shown. Opaque to clients; only this module reads it. */
export function encodeOperationCursor(id: number): string {
  return Buffer.from(String(id)).toString('base64url');
}

/** The id a cursor names; InvalidCursorError for anything encodeOperationCursor did not make. */
export function decodeOperationCursor(cursor: string): number {
  const text = /^[A-Za-z0-9_-]{1,24}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const id = /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : NaN;
  // Canonical only: base64url decoding forgives stray bits, so a cursor must re-encode to itself.
  if (!Number.isSafeInteger(id) || encodeOperationCursor(id) !== cursor) throw new InvalidCursorError('not one this API made');
  return id;
}

interface Row {
  id: string;
  at_ms: string;
  kind: StoredOperation['kind'];
  actor: string;
  target: string;
  outcome: StoredOperation['outcome'];
  detail: Record<string, unknown>;
}

const COLUMNS = 'id, floor(extract(epoch from at) * 1000)::bigint::text AS at_ms, kind, actor, target, outcome, detail';

const toOperation = (r: Row): StoredOperation => ({
  id: Number(r.id),
  at: Number(r.at_ms),
  kind: r.kind,
  actor: r.actor,
  target: r.target,
  outcome: r.outcome,
  detail: r.detail,
});

/**
 * Held from taking an id to committing it. Ids are then visible in the order they were taken,
 * so a reader paging on `id < cursor` can never pass an id whose row commits later (without
 * it, a slow insert holding id 41 while 42 commits would be skipped by a walk already past 41).
 * Operations are rare (operators and the autoscaler), so writers waiting on each other costs nothing.
 */
export const OPERATION_INSERT_LOCK_KEY = 7_264_731_005;

export class PgOperationLog implements OperationLog {
  constructor(private readonly pool: Pool) {}

  async record(entry: OperationEntry): Promise<StoredOperation> {
    const e = storableOperation(entry);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [OPERATION_INSERT_LOCK_KEY]);
      const r = await client.query<Row>(
        `INSERT INTO sbc_operations (at, kind, actor, target, outcome, detail)
         VALUES (to_timestamp($1::numeric / 1000), $2, $3, $4, $5, $6::jsonb)
         RETURNING ${COLUMNS}`,
        [e.at, e.kind, e.actor, e.target, e.outcome, JSON.stringify(e.detail)],
      );
      await client.query('COMMIT');
      return toOperation(r.rows[0] as Row);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async list(f: OperationFilter): Promise<OperationPage> {
    checkPageLimit(f.limit);
    const params: unknown[] = [f.limit + 1];
    const where: string[] = [];
    const add = (column: string, op: string, value: unknown) => {
      params.push(value);
      where.push(`${column} ${op} $${params.length}`);
    };
    if (f.cursor !== undefined) add('id', '<', decodeOperationCursor(f.cursor));
    if (f.kind !== undefined) add('kind', '=', f.kind);
    if (f.target !== undefined) add('target', '=', f.target);
    const sql = `SELECT ${COLUMNS} FROM sbc_operations ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $1`;
    const rows = (await this.pool.query<Row>(sql, params)).rows.map(toOperation);
    const operations = rows.slice(0, f.limit);
    const last = operations[operations.length - 1];
    return rows.length > f.limit && last ? { operations, next: encodeOperationCursor(last.id) } : { operations };
  }
}
