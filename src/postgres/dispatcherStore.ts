import type { Pool } from 'pg';
import type { DispatcherRow } from '../core/dispatcher.js';
import { planChanges, type StoredRow } from '../core/planChanges.js';
import { rowDescription } from '../core/rowIdentity.js';
import { fenceCheck } from '../leader/epochTable.js';
import { FencedOutError } from '../leader/fencedOut.js';
import { DispatcherStoreError, type DispatcherStore, type SyncOptions, type SyncResult } from '../ports/dispatcherStore.js';

/** Any constant; shared by every writer of the dispatcher table. */
const DISPATCHER_WRITE_LOCK = 7_264_731_002;

/** How long a fenced write's transaction may sit idle before Postgres ends its session. */
const FENCED_TX_IDLE_TIMEOUT_MS = 5000;

/** The DispatcherStore port on Postgres: Kamailio's own `dispatcher` table (db_postgres reads it). */
export class PgDispatcherStore implements DispatcherStore {
  constructor(
    private readonly pool: Pool,
    private readonly managedSets: ReadonlySet<number>,
  ) {}

  async read(): Promise<StoredRow[]> {
    const res = await this.pool.query<StoredRow>(
      'SELECT id, setid, destination, flags, priority, attrs, description FROM dispatcher WHERE setid = ANY($1::int[]) ORDER BY setid, priority DESC, id',
      [[...this.managedSets]],
    );
    return res.rows;
  }

  async sync(desiredFor: (actual: readonly StoredRow[]) => readonly DispatcherRow[], opts: SyncOptions = {}): Promise<SyncResult> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // One writer at a time, even with several control planes: the plan is computed
      // from rows read under this lock, so two plans can never interleave.
      await client.query('SELECT pg_advisory_xact_lock($1)', [DISPATCHER_WRITE_LOCK]);
      // Under the lock, before reading: a deposed leader that waited for the lock behind
      // its successor must find the new epoch here, not write over its successor's rows.
      if (opts.fenceEpoch !== undefined) {
        // The check's share lock on the epoch row holds a new leader's election until this
        // transaction ends; a writer frozen half-way (SIGSTOP) must not hold it for ever.
        await client.query(`SET LOCAL idle_in_transaction_session_timeout = ${FENCED_TX_IDLE_TIMEOUT_MS}`);
        await fenceCheck(client, opts.fenceEpoch);
      }
      const actual = await client.query<StoredRow>(
        'SELECT id, setid, destination, flags, priority, attrs, description FROM dispatcher WHERE setid = ANY($1::int[])',
        [[...this.managedSets]],
      );
      const desired = desiredFor(actual.rows);
      const changes = planChanges(desired, actual.rows, this.managedSets);
      for (const c of changes) {
        if (c.kind === 'delete') {
          await client.query('DELETE FROM dispatcher WHERE id = $1', [c.id]);
        } else if (c.kind === 'update') {
          await client.query(
            'UPDATE dispatcher SET flags = $2, priority = $3, attrs = $4, description = $5 WHERE id = $1',
            [c.id, c.row.flags, c.row.priority, c.row.attrs, c.row.description],
          );
        } else {
          await client.query(
            'INSERT INTO dispatcher (setid, destination, flags, priority, attrs, description) VALUES ($1, $2, $3, $4, $5, $6)',
            [c.row.setid, c.row.destination, c.row.flags, c.row.priority, c.row.attrs, c.row.description],
          );
        }
      }
      await client.query('COMMIT');
      return { desired, changes };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (err instanceof FencedOutError) throw err;
      throw new DispatcherStoreError('writing the dispatcher table failed; nothing was changed', { cause: err });
    } finally {
      client.release();
    }
  }

  async rowsForSlotOf(nodeId: string, machineId: string): Promise<StoredRow[]> {
    const res = await this.pool.query<StoredRow>(
      `SELECT id, setid, destination, flags, priority, attrs, description FROM dispatcher
        WHERE setid = ANY($1::int[]) AND (description = $2 OR strpos(attrs, $3) > 0 OR strpos(attrs, 'mid=') = 0)`,
      [[...this.managedSets], rowDescription(nodeId), `mid=${machineId}`],
    );
    return res.rows;
  }

  async maxSlot(): Promise<number> {
    const res = await this.pool.query<{ slot: number | null }>(
      'SELECT MAX(priority) AS slot FROM dispatcher WHERE setid = ANY($1::int[])',
      [[...this.managedSets]],
    );
    return res.rows[0]?.slot ?? 0;
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }
}
