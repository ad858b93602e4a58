import { DS_FLAG_DISABLED, type DispatcherRow } from './dispatcher.js';
import { rowKey } from './rowIdentity.js';

/** One destination as Kamailio's `dispatcher.list` reports it. */
export interface KamailioDestination {
  readonly setId: number;
  readonly uri: string;
  /** State letters: A/I/T/D, then P (probing) or X. */
  readonly flags: string;
  readonly priority: number;
  readonly attrs: string;
}

export interface KamailioSnapshot {
  readonly destinations: readonly KamailioDestination[];
}

/** Kamailio skips inactive and disabled destinations when it selects. */
export function isSelectable(d: KamailioDestination): boolean {
  const state = d.flags.charAt(0);
  return state !== 'I' && state !== 'D';
}

export interface KamailioDrift {
  readonly inSync: boolean;
  /** Desired rows Kamailio does not hold. */
  readonly missing: readonly DispatcherRow[];
  /** Destinations Kamailio holds that are not desired (e.g. a node that left). */
  readonly extra: readonly KamailioDestination[];
  /** Held with the wrong priority, attributes or enabled state, or held twice. */
  readonly changed: readonly KamailioDestination[];
  /**
   * Destinations Kamailio could select now that must not get new calls: the ones a
   * `dispatcher.set_state` takes out at once, before the next reload removes them.
   */
  readonly toDeselect: readonly KamailioDestination[];
}

/**
 * Pure: how a Kamailio's loaded sets differ from the desired rows, within managed sets.
 * Runtime state counts as drift: a destination someone set inactive by RPC is "changed",
 * because the next reload (which rebuilds from the database) is what repairs it.
 */
export function compareWithKamailio(
  desired: readonly DispatcherRow[],
  snapshot: KamailioSnapshot,
  managedSets: ReadonlySet<number>,
): KamailioDrift {
  const want = new Map(desired.map((r) => [rowKey(r.setid, r.destination), r]));
  const seen = new Set<string>();
  const extra: KamailioDestination[] = [];
  const changed: KamailioDestination[] = [];
  const toDeselect: KamailioDestination[] = [];
  for (const d of snapshot.destinations) {
    if (!managedSets.has(d.setId)) continue;
    const k = rowKey(d.setId, d.uri);
    const row = want.get(k);
    if (!row) {
      extra.push(d);
      if (isSelectable(d)) toDeselect.push(d);
      continue;
    }
    const wantDisabled = (row.flags & DS_FLAG_DISABLED) !== 0;
    const duplicate = seen.has(k);
    seen.add(k);
    const stateOk = wantDisabled ? d.flags.charAt(0) === 'D' : isSelectable(d);
    if (duplicate || !stateOk || d.priority !== row.priority || d.attrs !== row.attrs) {
      changed.push(d);
      if (wantDisabled && isSelectable(d)) toDeselect.push(d);
    }
  }
  const missing = desired.filter((r) => !seen.has(rowKey(r.setid, r.destination)));
  const inSync = missing.length === 0 && extra.length === 0 && changed.length === 0;
  return { inSync, missing, extra, changed, toDeselect };
}
