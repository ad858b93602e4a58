import type { Pool, PoolClient } from 'pg';
import { OPERATIONS_MIGRATION } from './operationLog.js';
import { SCALE_TARGET_MIGRATION } from './scaleTargetStore.js';
import { TOKENS_MIGRATION } from './tokenStore.js';

/**
 * Ordered, append-only schema changes. Never edit a migration that has shipped; add one.
 * The `dispatcher` and `version` tables follow Kamailio's own schema (dispatcher table
 * version 4), so Kamailio's db_postgres reads them unchanged.
 */
export interface Migration {
  readonly id: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'kamailio dispatcher and version tables',
    sql: `
      CREATE TABLE IF NOT EXISTS version (
        id SERIAL PRIMARY KEY NOT NULL,
        table_name VARCHAR(32) NOT NULL,
        table_version INTEGER DEFAULT 0 NOT NULL,
        CONSTRAINT version_table_name_idx UNIQUE (table_name)
      );
      CREATE TABLE IF NOT EXISTS dispatcher (
        id SERIAL PRIMARY KEY NOT NULL,
        setid INTEGER DEFAULT 0 NOT NULL,
        destination VARCHAR(192) DEFAULT '' NOT NULL,
        flags INTEGER DEFAULT 0 NOT NULL,
        priority INTEGER DEFAULT 0 NOT NULL,
        attrs VARCHAR(128) DEFAULT '' NOT NULL,
        description VARCHAR(64) DEFAULT '' NOT NULL
      );
      INSERT INTO version (table_name, table_version) VALUES ('dispatcher', 4)
        ON CONFLICT (table_name) DO UPDATE SET table_version = 4;
    `,
  },
  {
    id: 2,
    name: 'leader epoch and replica heartbeats',
    // One row, epoch 0 until the first leader: a new leader increments it in a transaction
    // right after winning the election lock, and every fenced write checks it (src/leader/).
    // sbc_replicas: one row per live replica, upserted on each renew (GET /v1/cluster).
    sql: `
      CREATE TABLE IF NOT EXISTS sbc_leader_epoch (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        epoch BIGINT NOT NULL,
        leader_id TEXT,
        elected_at TIMESTAMPTZ
      );
      INSERT INTO sbc_leader_epoch (id, epoch) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
      CREATE TABLE IF NOT EXISTS sbc_replicas (
        replica_id TEXT PRIMARY KEY,
        replica_order INTEGER,
        role TEXT NOT NULL,
        last_seen TIMESTAMPTZ NOT NULL
      );
    `,
  },
  {
    id: 3,
    name: 'room policies',
    // An operator's wish for one room (PUT /v1/rooms/{room}/policy): cascade it over `shards`
    // nodes. Durable like the dispatcher table; the control plane pushes it into every
    // Kamailio's `cascade` htable.
    sql: `
      CREATE TABLE IF NOT EXISTS sbc_room_policy (
        room TEXT PRIMARY KEY,
        mode TEXT NOT NULL CHECK (mode IN ('cascade')),
        shards INTEGER NOT NULL CHECK (shards BETWEEN 2 AND 64),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
      );
    `,
  },
  {
    id: 4,
    name: 'call events',
    // One row per call event (a node's channel event, a Kamailio decision's attempt), by day:
    // the partitions (sbc_call_events_YYYYMMDD) are made and dropped by the leader's
    // call-partitions step (postgres/callStore.ts), so retention never deletes rows. The
    // primary key holds `at` because a partitioned table's unique keys must hold its
    // partition key: an event's id fixes its time, so (id, at) is as unique as id.
    sql: `
      CREATE TABLE IF NOT EXISTS sbc_call_events (
        id TEXT NOT NULL,
        at TIMESTAMPTZ NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('node', 'kamailio')),
        event TEXT NOT NULL,
        node_id TEXT,
        kamailio_id TEXT,
        uuid TEXT,
        call_id TEXT,
        other_leg TEXT,
        call_uuid TEXT,
        direction TEXT,
        caller TEXT,
        callee TEXT,
        room TEXT,
        member_id INTEGER,
        decision TEXT,
        link TEXT,
        cause TEXT,
        sip_status INTEGER,
        route JSONB,
        received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (id, at)
      ) PARTITION BY RANGE (at);
      CREATE INDEX IF NOT EXISTS sbc_call_events_uuid ON sbc_call_events (uuid, at);
      CREATE INDEX IF NOT EXISTS sbc_call_events_call_id ON sbc_call_events (call_id, at);
      CREATE INDEX IF NOT EXISTS sbc_call_events_other_leg ON sbc_call_events (other_leg, at) WHERE other_leg IS NOT NULL;
      CREATE INDEX IF NOT EXISTS sbc_call_events_call_uuid ON sbc_call_events (call_uuid, at) WHERE call_uuid IS NOT NULL;
      CREATE INDEX IF NOT EXISTS sbc_call_events_decision ON sbc_call_events (decision, at) WHERE decision IS NOT NULL;
      CREATE INDEX IF NOT EXISTS sbc_call_events_link ON sbc_call_events (link, at) WHERE link IS NOT NULL;
      CREATE INDEX IF NOT EXISTS sbc_call_events_room ON sbc_call_events (room, at) WHERE room IS NOT NULL;
      CREATE INDEX IF NOT EXISTS sbc_call_events_node ON sbc_call_events (node_id, at) WHERE event = 'create';
      CREATE INDEX IF NOT EXISTS sbc_call_events_created ON sbc_call_events (at, uuid) WHERE event = 'create';
    `,
  },
  // The audit log of drains, scales, provisioner actions and forced hang-ups (postgres/operationLog.ts).
  OPERATIONS_MIGRATION,
  // The pool's size as last asked (POST /v1/scale; postgres/scaleTargetStore.ts).
  SCALE_TARGET_MIGRATION,
  // API tokens, hashed, and the operation kinds token-create / token-revoke (postgres/tokenStore.ts).
  TOKENS_MIGRATION,
];

/** Any constant works; it only has to be the same for every control plane replica. */
const MIGRATION_LOCK_KEY = 7_264_731_001;

/** Applies pending migrations once, under an advisory lock so replicas cannot race. */
export async function migrate(pool: Pool): Promise<number[]> {
  const client: PoolClient = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS sbc_schema_migrations (
      id INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )`);
    const done = await client.query<{ id: number }>('SELECT id FROM sbc_schema_migrations');
    const applied = new Set(done.rows.map((r) => r.id));
    const ran: number[] = [];
    for (const m of MIGRATIONS) {
      if (applied.has(m.id)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO sbc_schema_migrations (id, name) VALUES ($1, $2)', [m.id, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${m.id} (${m.name}) failed`, { cause: err });
      }
      ran.push(m.id);
    }
    return ran;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
}
