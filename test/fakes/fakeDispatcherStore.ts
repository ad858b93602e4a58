import type { DispatcherRow } from '../../src/core/dispatcher.js';
import { planChanges, type StoredRow } from '../../src/core/planChanges.js';
import { nodeIdOfDescription } from '../../src/core/rowIdentity.js';
import { FencedOutError } from '../../src/leader/fencedOut.js';
import { DispatcherStoreError, type DispatcherStore, type SyncOptions, type SyncResult } from '../../src/ports/dispatcherStore.js';

/** The dispatcher table in memory; `failing` makes every sync fail as Postgres down would. */
export class FakeStore implements DispatcherStore {
  rows: StoredRow[] = [];
  private nextId = 1;
  syncs = 0;
  failing = false;
  constructor(private readonly managed: ReadonlySet<number>) {}
  /** The cluster's epoch as the table's epoch row holds it (Postgres: sbc_leader_epoch). */
  epoch = 0;
  sync(desiredFor: (actual: readonly StoredRow[]) => readonly DispatcherRow[], opts: SyncOptions = {}): Promise<SyncResult> {
    this.syncs++;
    if (this.failing) return Promise.reject(new DispatcherStoreError('writing the dispatcher table failed; nothing was changed'));
    if (opts.fenceEpoch !== undefined && opts.fenceEpoch !== this.epoch) {
      return Promise.reject(new FencedOutError('postgres', opts.fenceEpoch, this.epoch));
    }
    const desired = desiredFor(this.rows);
    const changes = planChanges(desired, this.rows, this.managed);
    for (const c of changes) {
      if (c.kind === 'delete') this.rows = this.rows.filter((r) => r.id !== c.id);
      else if (c.kind === 'update') this.rows = this.rows.map((r) => (r.id === c.id ? { id: r.id, ...c.row } : r));
      else this.rows.push({ id: this.nextId++, ...c.row });
    }
    return Promise.resolve({ desired, changes });
  }
  read(): Promise<StoredRow[]> {
    return Promise.resolve(this.rows);
  }
  /** The same filter as the Postgres query. */
  rowsForSlotOf(nodeId: string, machineId: string): Promise<StoredRow[]> {
    return Promise.resolve(
      this.rows.filter((r) => nodeIdOfDescription(r.description) === nodeId || r.attrs.includes(`mid=${machineId}`) || !r.attrs.includes('mid=')),
    );
  }
  maxSlot(): Promise<number> {
    return Promise.resolve(Math.max(0, ...this.rows.map((r) => r.priority)));
  }
  ping(): Promise<void> {
    return Promise.resolve();
  }
}
