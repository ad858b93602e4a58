import type { Pool } from 'pg';
import {
  CallStoreError,
  InvalidCursorError,
  type CallEvent,
  type CallKeys,
  type CallStore,
  type CallSummary,
  type PartitionOutcome,
  type RecentFilter,
  type RecentPage,
  type RouteDetail,
  type TimeWindow,
  type WriteOutcome,
} from '../ports/callStore.js';

/**
 * Call events in Postgres (migration 4, `sbc_call_events`), range-partitioned by day on `at`
 * (`sbc_call_events_YYYYMMDD`, UTC): retention drops whole partitions, never deletes rows, and
 * a lookup's time window only reads the days it spans. Written in one multi-row INSERT per
 * batch (`unnest` of one array per column: one statement and one round trip whatever the
 * batch size), `ON CONFLICT DO NOTHING` on the event id, so a re-sent copy is a duplicate.
 * Parameterised queries only: every value the network sent travels as a parameter.
 */

/** The longest value kept of each text field; a longer one is cut to it and counted. */
export const CALL_EVENT_FIELD_BOUNDS = Object.freeze({
  id: 512,
  nodeId: 64,
  kamailioId: 64,
  uuid: 64,
  callId: 1024,
  otherLeg: 64,
  callUuid: 64,
  caller: 1024,
  callee: 1024,
  room: 1024,
  decision: 128,
  link: 128,
  cause: 64,
  key: 256,
  dst: 256,
} as const);

type TextField = Exclude<keyof typeof CALL_EVENT_FIELD_BOUNDS, 'key' | 'dst'>;
const TEXT_FIELDS: readonly TextField[] = ['id', 'nodeId', 'kamailioId', 'uuid', 'callId', 'otherLeg', 'callUuid', 'caller', 'callee', 'room', 'decision', 'link', 'cause'];

const DAY_MS = 86_400_000;
const PARTITION = /^sbc_call_events_(\d{4})(\d{2})(\d{2})$/;

/** The partition that holds `ms` (UTC day). */
export function partitionName(ms: number): string {
  const d = new Date(Math.floor(ms / DAY_MS) * DAY_MS);
  return `sbc_call_events_${d.toISOString().slice(0, 10).replace(/-/g, '')}`;
}
const dayStart = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS;

/** A high surrogate not followed by a low one, or a low one not after a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

interface Cut {
  readonly truncated: Record<string, number>;
  readonly replaced: Record<string, number>;
}

/** A text value made storable: NUL (which Postgres text cannot hold) and lone surrogates replaced, then cut to its bound by code point. */
function storable(field: string, value: string | undefined, bound: number, cut: Cut): string | null {
  if (value === undefined) return null;
  let v = value;
  // NUL, and a lone surrogate (the driver would write U+FFFD for it without a word).
  if (v.includes('\u0000') || LONE_SURROGATE.test(v)) {
    v = v.replaceAll('\u0000', '\ufffd').replace(LONE_SURROGATES, '\ufffd');
    cut.replaced[field] = (cut.replaced[field] ?? 0) + 1;
  }
  if (v.length > bound) {
    // Never split a surrogate pair.
    const points = Array.from(v);
    if (points.length > bound) {
      v = points.slice(0, bound).join('');
      cut.truncated[field] = (cut.truncated[field] ?? 0) + 1;
    }
  }
  return v;
}

interface Row {
  id: string;
  at_us: string;
  source: 'node' | 'kamailio';
  event: CallEvent['event'];
  node_id: string | null;
  kamailio_id: string | null;
  uuid: string | null;
  call_id: string | null;
  other_leg: string | null;
  call_uuid: string | null;
  direction: 'inbound' | 'outbound' | null;
  caller: string | null;
  callee: string | null;
  room: string | null;
  member_id: number | null;
  decision: string | null;
  link: string | null;
  cause: string | null;
  sip_status: number | null;
  route: RouteDetail | null;
}

const COLUMNS = `id, (floor(extract(epoch from at) * 1000000))::bigint::text AS at_us, source, event, node_id, kamailio_id, uuid, call_id,
  other_leg, call_uuid, direction, caller, callee, room, member_id, decision, link, cause, sip_status, route`;

function toEvent(r: Row): CallEvent {
  const e: Record<string, unknown> = { id: r.id, atUs: Number(r.at_us), source: r.source, event: r.event };
  const optional: [string, unknown][] = [
    ['nodeId', r.node_id], ['kamailioId', r.kamailio_id], ['uuid', r.uuid], ['callId', r.call_id], ['otherLeg', r.other_leg],
    ['callUuid', r.call_uuid], ['direction', r.direction], ['caller', r.caller], ['callee', r.callee], ['room', r.room],
    ['memberId', r.member_id], ['decision', r.decision], ['link', r.link], ['cause', r.cause], ['sipStatus', r.sip_status], ['route', r.route],
  ];
  for (const [k, v] of optional) if (v !== null && v !== undefined) e[k] = v;
  return e as unknown as CallEvent;
}

/** `at` as Postgres reads it exactly: µs since the epoch, through to_timestamp of an exact decimal. */
const micros = (us: number) => `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}`;

export interface PgCallStoreOptions {
  readonly retentionMs: number;
  /** Days after today whose partitions are made ahead (default 2). */
  readonly daysAhead?: number;
  readonly now?: () => number;
}

export class PgCallStore implements CallStore {
  readonly retentionMs: number;
  private readonly daysAhead: number;
  private readonly now: () => number;

  constructor(
    private readonly pool: Pool,
    opts: PgCallStoreOptions,
  ) {
    this.retentionMs = opts.retentionMs;
    this.daysAhead = opts.daysAhead ?? 2;
    this.now = opts.now ?? Date.now;
  }

  async append(events: readonly CallEvent[]): Promise<WriteOutcome> {
    const cut: Cut = { truncated: {}, replaced: {} };
    const nowMs = this.now();
    const oldestUs = (nowMs - this.retentionMs) * 1000;
    const newestUs = (nowMs + DAY_MS) * 1000;
    let outOfWindow = 0;
    let duplicates = 0;
    const seen = new Set<string>();
    const rows: CallEvent[] = [];
    for (const e of events) {
      if (e.atUs < oldestUs || e.atUs > newestUs) {
        outOfWindow++;
        continue;
      }
      if (seen.has(e.id)) {
        duplicates++;
        continue;
      }
      seen.add(e.id);
      rows.push(e);
    }
    if (rows.length === 0) return { inserted: 0, duplicates, truncated: cut.truncated, replaced: cut.replaced, outOfWindow };
    const cols: (string | number | null)[][] = Array.from({ length: 20 }, () => []);
    for (const e of rows) {
      const text = Object.fromEntries(TEXT_FIELDS.map((f) => [f, storable(f, e[f], CALL_EVENT_FIELD_BOUNDS[f], cut)]));
      const route = e.route
        ? JSON.stringify({
            ...e.route,
            ...(e.route.key !== undefined ? { key: storable('key', e.route.key, CALL_EVENT_FIELD_BOUNDS.key, cut) } : {}),
            ...(e.route.dst !== undefined ? { dst: storable('dst', e.route.dst, CALL_EVENT_FIELD_BOUNDS.dst, cut) } : {}),
          })
        : null;
      const values = [
        text.id ?? '', micros(e.atUs), e.source, e.event, text.nodeId, text.kamailioId, text.uuid, text.callId, text.otherLeg, text.callUuid,
        e.direction ?? null, text.caller, text.callee, text.room, e.memberId ?? null, text.decision, text.link, text.cause, e.sipStatus ?? null, route,
      ];
      values.forEach((v, i) => cols[i]!.push(v ?? null));
    }
    const insert = `INSERT INTO sbc_call_events (id, at, source, event, node_id, kamailio_id, uuid, call_id, other_leg, call_uuid,
        direction, caller, callee, room, member_id, decision, link, cause, sip_status, route)
      SELECT id, to_timestamp(at_s::numeric), source, event, node_id, kamailio_id, uuid, call_id, other_leg, call_uuid,
        direction, caller, callee, room, member_id, decision, link, cause, sip_status, route::jsonb
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
        $11::text[], $12::text[], $13::text[], $14::text[], $15::int[], $16::text[], $17::text[], $18::text[], $19::int[], $20::text[])
        AS t(id, at_s, source, event, node_id, kamailio_id, uuid, call_id, other_leg, call_uuid,
          direction, caller, callee, room, member_id, decision, link, cause, sip_status, route)
      ON CONFLICT DO NOTHING`;
    let inserted: number;
    try {
      inserted = (await this.pool.query(insert, cols)).rowCount ?? 0;
    } catch (err) {
      // 23514: no partition of the relation for the row (maintainPartitions has not run yet
      // for that day): make the days this batch needs, then once more.
      if ((err as { code?: string }).code !== '23514') throw new CallStoreError('call events could not be written', { cause: err });
      try {
        for (const day of new Set(rows.map((e) => dayStart(e.atUs / 1000)))) await this.ensurePartition(day);
        inserted = (await this.pool.query(insert, cols)).rowCount ?? 0;
      } catch (again) {
        throw new CallStoreError('call events could not be written', { cause: again });
      }
    }
    return { inserted, duplicates: duplicates + rows.length - inserted, truncated: cut.truncated, replaced: cut.replaced, outOfWindow };
  }

  async eventsByKeys(keys: CallKeys, window: TimeWindow, limit: number): Promise<CallEvent[]> {
    const params: unknown[] = [micros(Math.max(0, window.fromUs)), micros(Math.max(0, window.toUs)), limit];
    const ors: string[] = [];
    const any = (column: string, values: readonly string[] | undefined) => {
      if (!values || values.length === 0) return;
      params.push(values);
      ors.push(`${column} = ANY($${params.length}::text[])`);
    };
    any('uuid', keys.uuids);
    any('other_leg', keys.uuids);
    any('call_uuid', keys.uuids);
    any('call_id', keys.callIds);
    any('decision', keys.decisions);
    any('link', keys.links);
    any('room', keys.rooms);
    if (ors.length === 0) return [];
    const sql = `SELECT ${COLUMNS} FROM sbc_call_events
      WHERE at BETWEEN to_timestamp($1::numeric) AND to_timestamp($2::numeric) AND (${ors.join(' OR ')})
      ORDER BY at, id LIMIT $3`;
    try {
      return (await this.pool.query<Row>(sql, params)).rows.map(toEvent);
    } catch (err) {
      throw new CallStoreError('call events could not be read', { cause: err });
    }
  }

  async recent(f: RecentFilter): Promise<RecentPage> {
    const after = f.cursor !== undefined ? decodeCursor(f.cursor) : undefined;
    const params: unknown[] = [f.limit + 1];
    const where = ["c.event = 'create'", 'c.uuid IS NOT NULL'];
    const add = (sql: (n: number) => string, value: unknown) => {
      params.push(value);
      where.push(sql(params.length));
    };
    if (f.nodeId !== undefined) add((n) => `c.node_id = $${n}`, f.nodeId);
    if (f.fromUs !== undefined) add((n) => `c.at >= to_timestamp($${n}::numeric)`, micros(f.fromUs));
    if (f.toUs !== undefined) add((n) => `c.at <= to_timestamp($${n}::numeric)`, micros(f.toUs));
    if (f.room !== undefined) add((n) => `(c.room = $${n} OR EXISTS (SELECT 1 FROM sbc_call_events r WHERE r.uuid = c.uuid AND r.room = $${n}))`, f.room);
    if (f.cause !== undefined) add((n) => `EXISTS (SELECT 1 FROM sbc_call_events h WHERE h.uuid = c.uuid AND h.event = 'hangup' AND h.cause = $${n})`, f.cause);
    if (after) {
      params.push(micros(after.atUs), after.uuid);
      where.push(`(c.at, c.uuid) < (to_timestamp($${params.length - 1}::numeric), $${params.length})`);
    }
    const sql = `SELECT c.uuid, c.node_id, c.direction, c.caller, c.callee, c.decision,
        (floor(extract(epoch from c.at) * 1000000))::bigint::text AS started_us,
        (SELECT (floor(extract(epoch from min(a.at)) * 1000000))::bigint::text FROM sbc_call_events a WHERE a.uuid = c.uuid AND a.event = 'answer') AS answered_us,
        h.ended_us, h.cause,
        coalesce(h.call_id, c.call_id) AS call_id, coalesce(h.room, c.room) AS room
      FROM sbc_call_events c
      LEFT JOIN LATERAL (SELECT (floor(extract(epoch from x.at) * 1000000))::bigint::text AS ended_us, x.cause, x.call_id, x.room
        FROM sbc_call_events x WHERE x.uuid = c.uuid AND x.event = 'hangup' ORDER BY x.at DESC LIMIT 1) h ON true
      WHERE ${where.join(' AND ')}
      ORDER BY c.at DESC, c.uuid DESC LIMIT $1`;
    let rows: Record<string, string | null>[];
    try {
      rows = (await this.pool.query<Record<string, string | null>>(sql, params)).rows;
    } catch (err) {
      throw new CallStoreError('recent calls could not be read', { cause: err });
    }
    const legs = rows.slice(0, f.limit).map((r): CallSummary => {
      const s: Record<string, unknown> = { uuid: r.uuid, nodeId: r.node_id ?? '', startedAtUs: Number(r.started_us) };
      const optional: [string, unknown][] = [
        ['direction', r.direction], ['callId', r.call_id], ['caller', r.caller], ['callee', r.callee], ['room', r.room], ['decision', r.decision],
        ['answeredAtUs', r.answered_us === null ? null : Number(r.answered_us)], ['endedAtUs', r.ended_us === null ? null : Number(r.ended_us)], ['cause', r.cause],
      ];
      for (const [k, v] of optional) if (v !== null && v !== undefined) s[k] = v;
      return s as unknown as CallSummary;
    });
    const last = legs[legs.length - 1];
    return rows.length > f.limit && last ? { legs, next: encodeCursor(last.startedAtUs, last.uuid) } : { legs };
  }

  async maintainPartitions(nowMs: number): Promise<PartitionOutcome> {
    const today = dayStart(nowMs);
    const created: string[] = [];
    for (let day = today - DAY_MS; day <= today + this.daysAhead * DAY_MS; day += DAY_MS) {
      if (await this.ensurePartition(day)) created.push(partitionName(day));
    }
    const oldestKept = dayStart(nowMs - this.retentionMs);
    const dropped: string[] = [];
    for (const name of await this.partitions()) {
      const m = PARTITION.exec(name);
      if (!m) continue;
      const day = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
      // Its whole day is older than retention: every row in it has expired.
      if (day + DAY_MS <= oldestKept) {
        // The name matched the pattern above; identifiers cannot be parameters.
        await this.pool.query(`DROP TABLE IF EXISTS ${name}`);
        dropped.push(name);
      }
    }
    return { created, dropped: dropped.sort() };
  }

  /** The partitions of sbc_call_events, by name. */
  async partitions(): Promise<string[]> {
    const r = await this.pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
       WHERE p.relname = 'sbc_call_events' ORDER BY 1`,
    );
    return r.rows.map((x) => x.name);
  }

  /** Makes the day's partition; false when it was there. Two replicas at once: one makes it, the other finds it. */
  private async ensurePartition(day: number): Promise<boolean> {
    const name = partitionName(day);
    const exists = await this.pool.query('SELECT 1 FROM pg_class WHERE relname = $1', [name]);
    if ((exists.rowCount ?? 0) > 0) return false;
    const from = new Date(day).toISOString();
    const to = new Date(day + DAY_MS).toISOString();
    try {
      // Names and bounds come from a number, never from input.
      await this.pool.query(`CREATE TABLE IF NOT EXISTS ${name} PARTITION OF sbc_call_events FOR VALUES FROM ('${from}') TO ('${to}')`);
    } catch (err) {
      // 42P07 duplicate table / 23505 on pg_type: another replica made it in between.
      const code = (err as { code?: string }).code;
      if (code === '42P07' || code === '23505') return false;
      throw err;
    }
    return true;
  }
}

function encodeCursor(atUs: number, uuid: string): string {
  return Buffer.from(JSON.stringify([atUs, uuid])).toString('base64url');
}

function decodeCursor(cursor: string): { atUs: number; uuid: string } {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError('not one this API made');
  }
  if (!Array.isArray(v) || v.length !== 2 || !Number.isSafeInteger(v[0]) || (v[0] as number) < 0 || typeof v[1] !== 'string' || v[1].length > 64) {
    throw new InvalidCursorError('not one this API made');
  }
  return { atUs: v[0] as number, uuid: v[1] };
}
