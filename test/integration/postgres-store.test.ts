import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { PgDispatcherStore } from '../../src/postgres/dispatcherStore.js';
import { migrate, MIGRATIONS } from '../../src/postgres/migrations.js';
import { desiredSets, flattenSets } from '../../src/core/dispatcher.js';
import { createPostgresDatabase, type Service } from '../support/services.js';
import { node, policy } from '../unit/core/fixtures.js';

describe('PgDispatcherStore (real Postgres)', () => {
  let db: Service;
  let pool: pg.Pool;
  let store: PgDispatcherStore;

  beforeAll(async () => {
    db = await createPostgresDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    // A client still closing when the database is dropped gets terminated (57P01).
    pool.on('error', () => undefined);
    store = new PgDispatcherStore(pool, new Set([1, 2, 3]));
  });
  afterAll(async () => {
    await pool.end();
    await db.stop();
  });

  it('migrates once, creating Kamailio\'s tables with the dispatcher version row', async () => {
    expect(await migrate(pool)).toEqual(MIGRATIONS.map((m) => m.id));
    expect(await migrate(pool)).toEqual([]);
    const v = await pool.query("SELECT table_version FROM version WHERE table_name = 'dispatcher'");
    expect(v.rows).toEqual([{ table_version: 4 }]);
    const cols = await pool.query("SELECT column_name, data_type, character_maximum_length FROM information_schema.columns WHERE table_name = 'dispatcher' ORDER BY ordinal_position");
    expect(cols.rows.map((c: { column_name: string }) => c.column_name)).toEqual(['id', 'setid', 'destination', 'flags', 'priority', 'attrs', 'description']);
  });

  it('runs concurrent migrations safely (advisory lock)', async () => {
    const again = await Promise.all([migrate(pool), migrate(pool)]);
    expect(again).toEqual([[], []]);
  });

  it('writes the desired rows, then repairs hand edits, leaving other sets alone', async () => {
    await pool.query("INSERT INTO dispatcher (setid, destination, description) VALUES (9, 'sip:192.0.2.9:5060', 'operator')");
    const desired = flattenSets(desiredSets([node(1), node(2)], policy));
    expect((await store.sync(() => desired)).changes.map((c) => c.kind)).toEqual(Array(6).fill('insert'));
    expect(await store.sync(() => desired)).toEqual({ desired, changes: [] });
    await pool.query("UPDATE dispatcher SET priority = 0 WHERE setid = 2 AND destination = 'sip:10.0.0.1:5080'");
    await pool.query("INSERT INTO dispatcher (setid, destination) VALUES (1, 'sip:203.0.113.1:5060')");
    const repaired = (await store.sync(() => desired)).changes;
    expect(repaired.map((c) => `${c.kind} ${c.row.setid} ${c.row.destination}`)).toEqual(['delete 1 sip:203.0.113.1:5060', 'update 2 sip:10.0.0.1:5080']);
    const rows = await store.read();
    expect(rows.map((r) => [r.setid, r.destination, r.priority])).toEqual([
      [1, 'sip:10.0.0.2:5080', 2], [1, 'sip:10.0.0.1:5080', 1],
      [2, 'sip:10.0.0.2:5080', 2], [2, 'sip:10.0.0.1:5080', 1],
      [3, 'sip:10.0.0.2:5080', 2], [3, 'sip:10.0.0.1:5080', 1],
    ]);
    const operator = await pool.query('SELECT destination FROM dispatcher WHERE setid = 9');
    expect(operator.rows).toEqual([{ destination: 'sip:192.0.2.9:5060' }]);
  });

  it("finds the few rows that can tell a node's or a machine's slot, and the highest slot in the managed sets", async () => {
    const slotsIn = async (nodeId: string, machineId: string) => (await store.rowsForSlotOf(nodeId, machineId)).map((r) => `${r.setid} ${r.priority}`).sort();
    expect(await slotsIn(node(1).nodeId, 'nowhere')).toEqual(['1 1', '2 1', '3 1']);
    expect(await slotsIn('11111111-1111-4111-8111-111111111111', node(2).machineId)).toEqual(['1 2', '2 2', '3 2']);
    expect(await slotsIn('11111111-1111-4111-8111-111111111111', 'nowhere')).toEqual([]);
    // A row written before machines (no mid) may be anyone's machine: it is returned for the caller to decide.
    await pool.query("INSERT INTO dispatcher (setid, destination, priority, attrs, description) VALUES (1, 'sip:10.0.0.7:5080', 7, 'duid=x;weight=1', 'sbc:x')");
    expect(await slotsIn('11111111-1111-4111-8111-111111111111', 'nowhere')).toEqual(['1 7']);
    await pool.query("DELETE FROM dispatcher WHERE description = 'sbc:x'");
    expect(await store.maxSlot()).toBe(2);
  });

  it('decides on the rows it read inside the transaction', async () => {
    let seen: string[] = [];
    const { desired, changes } = await store.sync((actual) => {
      seen = actual.map((r) => `${r.setid} ${r.destination}`);
      return actual.map(({ id: _id, ...row }) => row); // keep exactly what is there
    });
    expect(seen).toHaveLength(6);
    expect(desired).toHaveLength(6);
    expect(changes).toEqual([]);
  });

  it('changes nothing when a write fails half-way (one transaction)', async () => {
    const before = await store.read();
    // The delete of node 2 and the inserts for node 3 come first; the destination longer
    // than VARCHAR(192) then fails, and every earlier statement must be rolled back.
    const desired = flattenSets(desiredSets([node(1), node(3), node(4, { sipUri: `sip:${'a'.repeat(200)}.example` })], policy));
    await expect(store.sync(() => desired)).rejects.toThrow(/nothing was changed/);
    expect(await store.read()).toEqual(before);
  });

  it('serialises concurrent syncs so the table ends as the last plan says', async () => {
    const a = flattenSets(desiredSets([node(1), node(4)], policy));
    const b = flattenSets(desiredSets([node(1), node(5)], policy));
    await Promise.all([store.sync(() => a), store.sync(() => b), store.sync(() => a), store.sync(() => b)]);
    const rows = await store.read();
    expect(rows).toHaveLength(6);
    expect(new Set(rows.map((r) => `${r.setid} ${r.destination}`)).size).toBe(6);
  });
});
