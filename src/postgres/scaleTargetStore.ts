import type { Pool } from 'pg';
import type { ScaleTarget } from '../core/scale.js';
import type { ScaleTargetStore } from '../ports/scaleTargetStore.js';

/** Migration 6: one row, the pool's target. */
export const SCALE_TARGET_MIGRATION = {
  id: 6,
  name: 'scale target',
  sql: `
    CREATE TABLE IF NOT EXISTS sbc_scale_target (
      id SMALLINT PRIMARY KEY CHECK (id = 1),
      replicas INTEGER NOT NULL CHECK (replicas BETWEEN 0 AND 10000),
      requested_at TIMESTAMPTZ NOT NULL,
      requested_by TEXT NOT NULL CHECK (char_length(requested_by) <= 256)
    );
  `,
} as const;

interface Row {
  replicas: number;
  requested_at: Date;
  requested_by: string;
}

const toTarget = (r: Row): ScaleTarget => ({ replicas: r.replicas, requestedAt: r.requested_at.getTime(), by: r.requested_by });

/** The scale target in Postgres (`sbc_scale_target`, one row). */
export class PgScaleTargetStore implements ScaleTargetStore {
  constructor(private readonly pool: Pool) {}

  async get(): Promise<ScaleTarget | undefined> {
    const r = (await this.pool.query<Row>('SELECT replicas, requested_at, requested_by FROM sbc_scale_target WHERE id = 1')).rows[0];
    return r && toTarget(r);
  }

  async put(t: ScaleTarget): Promise<ScaleTarget> {
    const r = await this.pool.query<Row>(
      `INSERT INTO sbc_scale_target (id, replicas, requested_at, requested_by) VALUES (1, $1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET replicas = EXCLUDED.replicas, requested_at = EXCLUDED.requested_at, requested_by = EXCLUDED.requested_by
       RETURNING replicas, requested_at, requested_by`,
      [t.replicas, new Date(t.requestedAt), t.by.slice(0, 256)],
    );
    return toTarget(r.rows[0] as Row);
  }
}
