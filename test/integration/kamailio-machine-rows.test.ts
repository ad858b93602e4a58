import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { desiredSets, flattenSets } from '../../src/core/dispatcher.js';
import { migrate } from '../../src/postgres/migrations.js';
import { policy, node } from '../unit/core/fixtures.js';
import { startKamailio, type KamailioInstance } from '../support/kamailio.js';
import { dsHash, hashedDestination } from '../support/kamailioHash.js';
import { createPostgresDatabase, type Service } from '../support/services.js';

/**
 * What the unit tests' room-remap claim rests on, checked against the real Kamailio: the
 * rows with the machine in their attrs (`mid=`) load as they are, and test/support's
 * dispatcher hash is Kamailio's own (`dispatcher.hash`).
 */
describe('dispatcher rows that name their machine, in the real Kamailio', () => {
  let db: Service;
  let pool: pg.Pool;
  let kam: KamailioInstance;
  const rows = flattenSets(desiredSets([node(1), node(2, { machineId: '[2001:db8::2]:5080' }), node(3, { machineId: 'rack4-fs3' })], policy));

  beforeAll(async () => {
    db = await createPostgresDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    await migrate(pool);
    kam = await startKamailio({ dbUrl: db.url });
    for (const r of rows) {
      await pool.query(
        'INSERT INTO dispatcher (setid, destination, flags, priority, attrs, description) VALUES ($1, $2, $3, $4, $5, $6)',
        [r.setid, r.destination, r.flags, r.priority, r.attrs, r.description],
      );
    }
    await kam.reloadDispatcher();
  });

  afterAll(async () => {
    await kam?.stop();
    await pool?.end();
    await db?.stop();
  });

  it('loads every row, attrs with mid unchanged, in priority order', async () => {
    const listed = (await kam.rpc('dispatcher.list')) as { RECORDS: { SET: { ID: number; TARGETS: { DEST: { URI: string; PRIORITY: number; ATTRS: { BODY: string; DUID: string } } }[] } }[] };
    const set2 = listed.RECORDS.map((r) => r.SET).find((s) => s.ID === 2)!;
    const expected = rows.filter((r) => r.setid === 2);
    expect(set2.TARGETS.map((t) => [t.DEST.URI, t.DEST.PRIORITY, t.DEST.ATTRS.BODY, t.DEST.ATTRS.DUID])).toEqual(
      expected.map((r) => [r.destination, r.priority, r.attrs, /duid=([^;]+)/.exec(r.attrs)![1]]),
    );
    expect(set2.TARGETS[1]!.DEST.ATTRS.BODY).toContain(';mid=[2001:db8::2]:5080');
  });

  it("the test helper's hash is Kamailio's, so its room placement is Kamailio's", async () => {
    const set2 = rows.filter((r) => r.setid === 2);
    for (let room = 3000; room < 3030; room++) {
      const h = (await kam.rpc('dispatcher.hash', [set2.length, String(room)])) as { hashid: number; slot: number };
      expect(h, `room ${room}`).toEqual({ hashid: dsHash(String(room)), slot: dsHash(String(room)) % set2.length });
      expect(hashedDestination(set2, String(room))).toBe([...set2].sort((a, b) => b.priority - a.priority)[h.slot]!.destination);
    }
  });
});
