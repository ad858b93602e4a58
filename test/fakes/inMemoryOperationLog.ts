import type { OperationEntry, OperationFilter, OperationLog, OperationPage, StoredOperation } from '../../src/ports/operationLog.js';
import { checkPageLimit, decodeOperationCursor, encodeOperationCursor, storableOperation } from '../../src/postgres/operationLog.js';
import { answer } from './answer.js';

/**
 * The operation log in memory, for unit tests of what records or lists operations. Same
 * answers as postgres/operationLog.ts: ids from 1 in insertion order, the same bounds (it
 * stores what storableOperation makes of an entry, as the adapter does), newest-first pages
 * and the same cursors, so a cursor of one is a cursor of the other.
 */
export class InMemoryOperationLog implements OperationLog {
  /** Oldest first, as stored. */
  readonly rows: StoredOperation[] = [];
  /** Fails every call with this error while set (a log that is down). */
  failWith: Error | undefined;

  record(entry: OperationEntry): Promise<StoredOperation> {
    return this.answer(() => {
      const stored: StoredOperation = { id: this.rows.length + 1, ...storableOperation(entry) };
      this.rows.push(stored);
      // A copy, as a row read back is: the caller changing it does not change the log.
      return structuredClone(stored);
    });
  }

  list(f: OperationFilter): Promise<OperationPage> {
    return this.answer(() => {
      checkPageLimit(f.limit);
      const before = f.cursor !== undefined ? decodeOperationCursor(f.cursor) : Number.POSITIVE_INFINITY;
      const matching = this.rows
        .filter((r) => r.id < before && (f.kind === undefined || r.kind === f.kind) && (f.target === undefined || r.target === f.target))
        .reverse();
      const operations = matching.slice(0, f.limit).map((r) => structuredClone(r));
      const last = operations[operations.length - 1];
      return matching.length > f.limit && last ? { operations, next: encodeOperationCursor(last.id) } : { operations };
    });
  }

  private answer<T>(work: () => T): Promise<T> {
    return answer(this.failWith, work);
  }
}
