import type { DispatcherRow } from '../../src/core/dispatcher.js';
import { DS_FLAG_DISABLED, DS_FLAG_INACTIVE } from '../../src/core/dispatcher.js';

/**
 * Kamailio dispatcher's `ds_get_hash(x, y)` (dispatch.c, the same mix as the core's
 * `core_hash`), in unsigned 32-bit arithmetic: each key is taken four bytes at a time, then
 * the tail, and each word is folded in as `v ^ (v >> 3)`. ASCII keys only (C's `char` is
 * signed, which would matter above 0x7f). `dispatcher.hash` (RPC) answers the same number.
 */
export function dsHash(x: string, y?: string): number {
  let h = 0;
  const fold = (v: number) => {
    h = (h + ((v ^ (v >>> 3)) >>> 0)) >>> 0;
  };
  for (const key of y === undefined ? [x] : [x, y]) {
    const b = Buffer.from(key, 'latin1');
    let p = 0;
    for (; p + 4 <= b.length; p += 4) fold(((b[p]! << 24) + (b[p + 1]! << 16) + (b[p + 2]! << 8) + b[p + 3]!) >>> 0);
    let v = 0;
    for (; p < b.length; p++) v = ((v << 8) + b[p]!) >>> 0;
    fold(v);
  }
  h = (h + (h >>> 11) + (h >>> 13) + (h >>> 23)) >>> 0;
  return h === 0 ? 1 : h;
}

/**
 * The destination Kamailio's hash algorithms (0 to 3) pick for `key`: `hash % nr` over the
 * set's list, highest priority first, every entry counted; a disabled or inactive pick goes
 * to the next entry (wrapping). kamailio.cfg sets dispatcher `flags` 1 (hash the user part
 * only), so for rooms (alg 2, the To URI) the key is the room number alone.
 */
export function hashedDestination(rows: readonly DispatcherRow[], key: string): string | undefined {
  const list = [...rows].sort((a, b) => b.priority - a.priority);
  if (list.length === 0) return undefined;
  let index = dsHash(key) % list.length;
  for (let tried = 0; tried < list.length; tried++, index = (index + 1) % list.length) {
    const row = list[index]!;
    if ((row.flags & (DS_FLAG_DISABLED | DS_FLAG_INACTIVE)) === 0) return row.destination;
  }
  return undefined;
}
