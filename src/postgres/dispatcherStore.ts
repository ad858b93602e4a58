import type { Pool } from 'pg';
import type { DispatcherRow } from '../core/dispatcher.js';
import { planChanges, type Change, type StoredRow } from '../core/planChanges.js';
import { fenceCheck } from '../leader/epochTable.js';
import { FencedOutError } from '../leader/fencedOut.js';

export interface DispatcherStore {
  /**
   * Makes the managed sets equal what `desiredFor` returns for the rows it reads, in one
   * transaction under a lock, so the decision and the write see the same table. With a
   * fence, the same transaction first checks the leader's epoch, and throws FencedOutError
   * (nothing written) when a newer leader was elected.
   */
  sync(desiredFor: (actual: readonly StoredRow[]) => readonly DispatcherRow[], opts?: SyncOptions): Promise<SyncResult>;
  read(): Promise<StoredRow[]>;
  /** The priority (slot) this node's rows carry, if the table still has any. */
  slotOf(nodeId: string): Promise<number | undefined>;
  /** The highest priority in the managed sets (0 when empty). */
  maxSlot(): Promise<number>;
  ping(): Promise<void>;
}

export interface SyncResult {
  readonly desired: readonly DispatcherRow[];
  readonly changes: Change[];
}

export interface SyncOptions {
  /** The epoch of the leader making this write (src/leader/); unset: not fenced. */
  readonly fenceEpoch?: number;
}

export class DispatcherStoreError extends Error {
  override readonly name = 'DispatcherStoreError';
}

/** Any constant; shared by every writer of the dispatcher table. */
const DISPATCHER_WRITE_LOCK = 7_264_731_002;

/** How long a fenced write's transaction may sit idle before Postgres ends its session. */
const FENCED_TX_IDLE_TIMEOUT_MS = 5000;

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

  async slotOf(nodeId: string): Promise<number | undefined> {
    const res = await this.pool.query<{ slot: number | null }>(
      'SELECT MAX(priority) AS slot FROM dispatcher WHERE setid = ANY($1::int[]) AND description = $2',
      [[...this.managedSets], `sbc:${nodeId}`],
    );
    return res.rows[0]?.slot ?? undefined;
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
