import type { DispatcherRow } from '../core/dispatcher.js';
import type { Change, StoredRow } from '../core/planChanges.js';

/**
 * Kamailio's own `dispatcher` table, the durable half of routing (Kamailio reads it on
 * every reload). Adapter: postgres/dispatcherStore.ts; fake: test/fakes/.
 */
export interface DispatcherStore {
  /**
   * Makes the managed sets equal what `desiredFor` returns for the rows it reads, in one
   * transaction under a lock, so the decision and the write see the same table. With a
   * fence, the same transaction first checks the leader's epoch, and throws FencedOutError
   * (nothing written) when a newer leader was elected. Rejects with DispatcherStoreError
   * when nothing could be written for any other reason.
   */
  sync(desiredFor: (actual: readonly StoredRow[]) => readonly DispatcherRow[], opts?: SyncOptions): Promise<SyncResult>;
  read(): Promise<StoredRow[]>;
  /**
   * The few rows that can tell a lost node's or machine's slot: the node's own, those whose
   * `mid` attribute names the machine, and rows written before machines (no `mid`; their
   * machine is their address). A superset: the caller decides with machineInTable. One
   * narrow query, so a storm of joins does not read the whole table once per join.
   */
  rowsForSlotOf(nodeId: string, machineId: string): Promise<StoredRow[]>;
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

/** The table could not be written; the transaction was rolled back, nothing changed. */
export class DispatcherStoreError extends Error {
  override readonly name = 'DispatcherStoreError';
}
