import type { DispatcherRow } from '../core/dispatcher.js';
import type { Change, StoredRow } from '../core/planChanges.js';

/**
 * Kamailio's own `dispatcher` table, the durable half of routing (Kamailio reads it on
 * every reload). Adapter: postgres/dispatcherStore.ts; fake: test/fakes/.
 */
export interface DispatcherStore {
  /**
   * Makes the managed sets equal what `desiredFor` returns for the rows it reads, in one
   * transaction under a lock, so the decision and the write see the same table.
   * Rejects with DispatcherStoreError when nothing could be written.
   */
  sync(desiredFor: (actual: readonly StoredRow[]) => readonly DispatcherRow[]): Promise<SyncResult>;
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

/** The table could not be written; the transaction was rolled back, nothing changed. */
export class DispatcherStoreError extends Error {
  override readonly name = 'DispatcherStoreError';
}
