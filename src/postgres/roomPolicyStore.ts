import type { Pool } from 'pg';
import type { RoomPolicy, RoomPolicyStore } from '../ports/roomPolicyStore.js';

interface Row {
  room: string;
  mode: 'cascade';
  shards: number;
  updated_at: Date;
}

const toPolicy = (r: Row): RoomPolicy => ({ room: r.room, mode: r.mode, shards: r.shards, updatedAt: r.updated_at.getTime() });

/** Room policies in Postgres (migration 3, `sbc_room_policy`). Parameterised queries only. */
export class PgRoomPolicyStore implements RoomPolicyStore {
  constructor(private readonly pool: Pool) {}

  async list(): Promise<RoomPolicy[]> {
    return (await this.pool.query<Row>('SELECT room, mode, shards, updated_at FROM sbc_room_policy ORDER BY room')).rows.map(toPolicy);
  }

  async get(room: string): Promise<RoomPolicy | undefined> {
    const r = (await this.pool.query<Row>('SELECT room, mode, shards, updated_at FROM sbc_room_policy WHERE room = $1', [room])).rows[0];
    return r && toPolicy(r);
  }

  async put(p: Omit<RoomPolicy, 'updatedAt'>): Promise<RoomPolicy> {
    const r = await this.pool.query<Row>(
      `INSERT INTO sbc_room_policy (room, mode, shards, updated_at) VALUES ($1, $2, $3, now())
       ON CONFLICT (room) DO UPDATE SET mode = EXCLUDED.mode, shards = EXCLUDED.shards, updated_at = now()
       RETURNING room, mode, shards, updated_at`,
      [p.room, p.mode, p.shards],
    );
    return toPolicy(r.rows[0] as Row);
  }

  async delete(room: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM sbc_room_policy WHERE room = $1', [room])).rowCount ?? 0) > 0;
  }
}
