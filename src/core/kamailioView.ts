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
  /**
   * Desired selectable, held exactly as desired except that Kamailio marked it inactive
   * itself (state `I`, not probing): routing.lua's failure route does that to a node that did
   * not answer an INVITE. A sensor reading, not drift: it is not in `changed` and does not
   * make `inSync` false; the caller decides how long to respect it.
   */
  readonly marked: readonly KamailioDestination[];
}

/** Kamailio's own inactive mark (`ds_mark_dst_state("i")`): FLAGS `IX`. */
export function isKamailioMark(d: KamailioDestination): boolean {
  return d.flags.charAt(0) === 'I' && d.flags.charAt(1) !== 'P';
}

/**
 * Pure: how a Kamailio's loaded sets differ from the desired rows, within managed sets.
 * Runtime state counts as drift (a destination someone disabled or set probing by RPC is
 * "changed": the next reload, which rebuilds from the database, repairs it), except a plain
 * inactive mark on a destination that should be selectable: that is how Kamailio reports a
 * node that failed a call (see `marked`).
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
  const marked: KamailioDestination[] = [];
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
    const sameRow = !duplicate && d.priority === row.priority && d.attrs === row.attrs;
    if (sameRow && !wantDisabled && isKamailioMark(d)) {
      marked.push(d);
      continue;
    }
    const stateOk = wantDisabled ? d.flags.charAt(0) === 'D' : isSelectable(d);
    if (!sameRow || !stateOk) {
      changed.push(d);
      if (wantDisabled && isSelectable(d)) toDeselect.push(d);
    }
  }
  const missing = desired.filter((r) => !seen.has(rowKey(r.setid, r.destination)));
  const inSync = missing.length === 0 && extra.length === 0 && changed.length === 0;
  return { inSync, missing, extra, changed, toDeselect, marked };
}
