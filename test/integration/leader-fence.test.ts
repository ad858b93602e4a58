import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { bumpEpoch, fenceCheck } from '../../src/leader/epochTable.js';
import { FencedOutError, fencedOutOf } from '../../src/leader/fencedOut.js';
import { PgDispatcherStore } from '../../src/postgres/dispatcherStore.js';
import { migrate } from '../../src/postgres/migrations.js';
import { createPostgresDatabase, type Service } from '../support/services.js';

const row = (destination: string, priority: number) => ({ setid: 1, destination, flags: 0, priority, attrs: '', description: 'sbc:fence' });

describe('epoch fence in the dispatcher table (real Postgres)', () => {
  let db: Service;
  let pool: pg.Pool;
  let store: PgDispatcherStore;

  beforeAll(async () => {
    db = await createPostgresDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    pool.on('error', () => undefined);
    await migrate(pool);
    store = new PgDispatcherStore(pool, new Set([1]));
  });
  afterAll(async () => {
    await pool.end();
    await db.stop();
  });

  const newEpoch = async (leaderId: string) => {
    const c = await pool.connect();
    try {
      return await bumpEpoch(c, leaderId);
    } finally {
      c.release();
    }
  };
  const destinations = async () => (await store.read()).map((r) => r.destination);

  it('bumpEpoch takes the next epoch and records the leader', async () => {
    const a = await newEpoch('a');
    const b = await newEpoch('b');
    expect(b).toBe(a + 1);
    expect((await pool.query('SELECT epoch::int, leader_id FROM sbc_leader_epoch')).rows).toEqual([{ epoch: b, leader_id: 'b' }]);
  });

  it('writes with the current epoch; refuses a moved epoch with FencedOutError, writing nothing', async () => {
    const old = await newEpoch('old');
    expect((await store.sync(() => [row('sip:10.9.0.1:5060', 1)], { fenceEpoch: old })).changes.map((c) => c.kind)).toEqual(['insert']);
    const current = await newEpoch('new');
    const refused = await store.sync(() => [row('sip:10.9.0.2:5060', 2)], { fenceEpoch: old }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(FencedOutError);
    expect(refused).toMatchObject({ store: 'postgres', epoch: old, currentEpoch: current });
    expect(await destinations()).toEqual(['sip:10.9.0.1:5060']);
    // The new leader's write goes through, and so does an unfenced one (the old behaviour).
    await store.sync(() => [row('sip:10.9.0.3:5060', 3)], { fenceEpoch: current });
    expect(await destinations()).toEqual(['sip:10.9.0.3:5060']);
    await store.sync(() => [row('sip:10.9.0.4:5060', 4)]);
    expect(await destinations()).toEqual(['sip:10.9.0.4:5060']);
  });

  it('a check made inside a transaction holds a new election until that transaction ends', async () => {
    const epoch = await newEpoch('writer');
    const writer = await pool.connect();
    try {
      await writer.query('BEGIN');
      await fenceCheck(writer, epoch);
      let elected: number | undefined;
      const election = newEpoch('successor').then((e) => (elected = e));
      await new Promise((r) => setTimeout(r, 300));
      // The successor's UPDATE of the epoch row waits for the writer's share lock.
      expect(elected).toBeUndefined();
      await writer.query("INSERT INTO dispatcher (setid, destination, description) VALUES (1, 'sip:10.9.0.5:5060', 'sbc:writer')");
      await writer.query('COMMIT');
      expect(await election).toBe(epoch + 1);
      // The writer committed before the new epoch existed; its next check is refused.
      await writer.query('BEGIN');
      const refused = await fenceCheck(writer, epoch).catch((err: unknown) => err);
      await writer.query('ROLLBACK');
      expect(fencedOutOf(refused)?.currentEpoch).toBe(epoch + 1);
    } finally {
      writer.release();
    }
  });

  it('fencedOutOf finds the error behind a wrapper', () => {
    const fenced = new FencedOutError('redis', 1, 2);
    expect(fencedOutOf(new Error('wrapped', { cause: fenced }))).toBe(fenced);
    expect(fencedOutOf(new Error('other'))).toBeUndefined();
  });
});
