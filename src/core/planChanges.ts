import type { DispatcherRow } from './dispatcher.js';
import { rowKey } from './rowIdentity.js';

/** A row as it is stored, with its primary key. */
export interface StoredRow extends DispatcherRow {
  readonly id: number;
}

export type Change =
  | { readonly kind: 'delete'; readonly id: number; readonly row: DispatcherRow }
  | { readonly kind: 'update'; readonly id: number; readonly row: DispatcherRow; readonly before: DispatcherRow }
  | { readonly kind: 'insert'; readonly row: DispatcherRow };

const key = (r: Pick<DispatcherRow, 'setid' | 'destination'>) => rowKey(r.setid, r.destination);

function sameRow(a: DispatcherRow, b: DispatcherRow): boolean {
  return (
    a.flags === b.flags && a.priority === b.priority && a.attrs === b.attrs && a.description === b.description
  );
}

/**
 * Pure: the row changes that turn `actual` into `desired` within the managed sets.
 * Rows of other sets belong to the operator and are never touched. Rows are matched by
 * (set, destination), so a member swapped for another, a changed priority, flag or
 * attribute, a duplicate row and a row edited by hand all show up as changes.
 * Output order: deletes, updates, inserts, each sorted, so plans are deterministic.
 */
export function planChanges(
  desired: readonly DispatcherRow[],
  actual: readonly StoredRow[],
  managedSets: ReadonlySet<number>,
): Change[] {
  const byKey = new Map<string, StoredRow[]>();
  for (const row of actual) {
    if (!managedSets.has(row.setid)) continue;
    const list = byKey.get(key(row)) ?? [];
    list.push(row);
    byKey.set(key(row), list);
  }
  const deletes: Change[] = [];
  const updates: Change[] = [];
  const inserts: Change[] = [];
  const wanted = new Set<string>();
  for (const want of desired) {
    if (!managedSets.has(want.setid)) throw new Error(`desired row in unmanaged set ${want.setid}`);
    const k = key(want);
    if (wanted.has(k)) throw new Error(`desired rows repeat ${want.destination} in set ${want.setid}`);
    wanted.add(k);
    const existing = (byKey.get(k) ?? []).slice().sort((a, b) => a.id - b.id);
    const [keep, ...extra] = existing;
    if (!keep) inserts.push({ kind: 'insert', row: want });
    else if (!sameRow(keep, want)) updates.push({ kind: 'update', id: keep.id, row: want, before: strip(keep) });
    for (const e of extra) deletes.push({ kind: 'delete', id: e.id, row: strip(e) });
  }
  for (const [k, rows] of byKey) {
    if (wanted.has(k)) continue;
    for (const r of rows) deletes.push({ kind: 'delete', id: r.id, row: strip(r) });
  }
  const byId = (a: Change, b: Change) => ('id' in a && 'id' in b ? a.id - b.id : 0);
  deletes.sort(byId);
  updates.sort(byId);
  inserts.sort((a, b) => a.row.setid - b.row.setid || b.row.priority - a.row.priority);
  return [...deletes, ...updates, ...inserts];
}

function strip(r: StoredRow): DispatcherRow {
  const { id: _id, ...row } = r;
  return row;
}
