import type { ClientBase } from 'pg';
import { LEADER_LOCK } from './session.js';

/**
 * Replica heartbeats, table `sbc_replicas` (migration 2): each replica upserts its row on
 * every renew, so any replica knows which others are live (for the takeover order) and
 * can show the whole cluster (GET /v1/cluster). Ages are computed by the server's clock,
 * so replicas' clocks never need to agree.
 */
export type Role = 'leader' | 'follower';

export interface ReplicaRow {
  readonly replicaId: string;
  readonly order: number | null;
  readonly role: Role;
  /** How long ago the replica last renewed, by the server's clock. */
  readonly lastSeenMsAgo: number;
}

/** What one renew saw, in one round trip. */
export interface Observation {
  /** This session holds the election lock. */
  readonly mine: boolean;
  /** Some session holds it (this one included). */
  readonly held: boolean;
  readonly epoch: number;
  /** Who took the current epoch; meaningful while the lock is held. */
  readonly leaderId: string | null;
  /** Every replica row as it was before this renew's own upsert. */
  readonly replicas: readonly ReplicaRow[];
}

const LOCK_ROWS = `
  FROM pg_locks
  WHERE locktype = 'advisory' AND granted
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND classid = ${LEADER_LOCK.classid} AND objid = ${LEADER_LOCK.objid} AND objsubid = 2`;

// One statement: the heartbeat, the lock, the epoch and the other replicas. Rows silent for
// `retain` ms are deleted by whoever renews, so the table holds recent replicas only.
const OBSERVE_SQL = `
WITH beat AS (
  INSERT INTO sbc_replicas (replica_id, replica_order, role, last_seen) VALUES ($1, $2, $3, now())
  ON CONFLICT (replica_id) DO UPDATE
    SET replica_order = EXCLUDED.replica_order, role = EXCLUDED.role, last_seen = now()
), pruned AS (
  DELETE FROM sbc_replicas WHERE replica_id <> $1 AND last_seen < now() - $4 * interval '1 millisecond'
)
SELECT
  EXISTS (SELECT 1 ${LOCK_ROWS} AND pid = pg_backend_pid()) AS mine,
  EXISTS (SELECT 1 ${LOCK_ROWS}) AS held,
  e.epoch, e.leader_id,
  COALESCE((SELECT json_agg(json_build_object(
      'replicaId', r.replica_id, 'order', r.replica_order, 'role', r.role,
      'lastSeenMsAgo', GREATEST(0, floor(EXTRACT(EPOCH FROM now() - r.last_seen) * 1000)))
      ORDER BY r.replica_order NULLS LAST, r.replica_id)
    FROM sbc_replicas r), '[]'::json) AS replicas
FROM sbc_leader_epoch e WHERE e.id = 1`;

export async function observe(client: ClientBase, me: { replicaId: string; order: number | null; role: Role }, retainMs: number): Promise<Observation> {
  const res = await client.query<{ mine: boolean; held: boolean; epoch: string; leader_id: string | null; replicas: ReplicaRow[] }>(OBSERVE_SQL, [
    me.replicaId,
    me.order,
    me.role,
    retainMs,
  ]);
  const row = res.rows[0];
  if (!row) throw new Error('sbc_leader_epoch has no row (migration 2 not applied?)');
  return { mine: row.mine, held: row.held, epoch: Number(row.epoch), leaderId: row.leader_id, replicas: row.replicas };
}

/** Removes this replica's row on a graceful stop, so the takeover order does not wait for it. */
export async function forgetReplica(client: ClientBase, replicaId: string): Promise<void> {
  await client.query('DELETE FROM sbc_replicas WHERE replica_id = $1', [replicaId]);
}
