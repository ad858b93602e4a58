import type { KamailioDestination, KamailioSnapshot } from '../core/kamailioView.js';
import type { HtableItem, KamailioSocket } from '../ports/kamailioRpc.js';

// Parsers of Kamailio 5.6.3's JSON-RPC answers (captured in test/fixtures/kamailio/).
// Each throws on a shape it does not know rather than guessing, so a changed format
// shows up as an error instead of as a silently empty result.

/**
 * Parses `corex.list_sockets`: [{PROTO, NAME, ADDRLIST: {ADDR} | {ADDR: [..]}, PORT (a string),
 * ADVERTISE ("-" or the host), ...}].
 */
export function parseSocketList(result: unknown): KamailioSocket[] {
  return asArray(result).map((item) => {
    if (!isObj(item) || typeof item.PROTO !== 'string' || typeof item.NAME !== 'string') {
      throw new Error('corex.list_sockets: entry without PROTO/NAME');
    }
    const port = Number(item.PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`corex.list_sockets: bad PORT ${String(item.PORT)}`);
    const listed = isObj(item.ADDRLIST) ? asArray(item.ADDRLIST.ADDR).filter((a): a is string => typeof a === 'string') : [];
    const addresses = [...new Set([item.NAME, ...listed])];
    const advertise = typeof item.ADVERTISE === 'string' && item.ADVERTISE !== '-' && item.ADVERTISE !== '' ? item.ADVERTISE : undefined;
    return { proto: item.PROTO, addresses, port, advertise };
  });
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

/**
 * Parses `dispatcher.list`: {NRSETS, RECORDS: [{SET: {ID, TARGETS: [{DEST: {URI, FLAGS,
 * PRIORITY, ATTRS: {BODY, ...}}}]}}]}.
 */
export function parseDispatcherList(result: unknown): KamailioSnapshot {
  if (!isObj(result)) throw new Error('dispatcher.list: result is not an object');
  const destinations: KamailioDestination[] = [];
  for (const rec of asArray(result.RECORDS)) {
    const set = isObj(rec) ? rec.SET : undefined;
    if (!isObj(set) || typeof set.ID !== 'number') throw new Error('dispatcher.list: record without SET.ID');
    for (const target of asArray(set.TARGETS)) {
      const dest = isObj(target) ? target.DEST : undefined;
      if (!isObj(dest) || typeof dest.URI !== 'string' || typeof dest.FLAGS !== 'string') {
        throw new Error(`dispatcher.list: set ${set.ID} has a target without DEST.URI/FLAGS`);
      }
      const attrs = isObj(dest.ATTRS) && typeof dest.ATTRS.BODY === 'string' ? dest.ATTRS.BODY : '';
      destinations.push({
        setId: set.ID,
        uri: dest.URI,
        flags: dest.FLAGS,
        priority: typeof dest.PRIORITY === 'number' ? dest.PRIORITY : 0,
        attrs,
      });
    }
  }
  return { destinations };
}

/**
 * Parses `htable.dump`: [{entry, size, slot: [{name, value, type: "str" | "int"}]}], one
 * element per non-empty hash bucket; an empty table is [].
 */
export function parseHtableDump(result: unknown): HtableItem[] {
  if (!Array.isArray(result)) throw new Error('htable.dump: result is not a list');
  return result.flatMap((bucket) => {
    if (!isObj(bucket)) throw new Error('htable.dump: bucket is not an object');
    return asArray(bucket.slot).map((item) => {
      if (!isObj(item) || typeof item.name !== 'string' || (typeof item.value !== 'string' && typeof item.value !== 'number')) {
        throw new Error('htable.dump: item without name/value');
      }
      return { key: item.name, value: item.value };
    });
  });
}
