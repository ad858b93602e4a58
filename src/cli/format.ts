/**
 * Plain-text layouts for a terminal: columns padded to their widest cell, two spaces apart,
 * no trailing blanks; `key: value` blocks aligned on their values. Pure, so every command's
 * output is a function of the API's answer alone.
 */

export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    headers
      .map((_, i) => (i === headers.length - 1 ? (cells[i] ?? '') : (cells[i] ?? '').padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

export function keyValues(pairs: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(0, ...pairs.map(([k]) => k.length + 1));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${v}`.trimEnd());
}

/** The length at which node ids are shown unless two of them would look the same. */
export const SHORT_ID_LENGTH = 8;

/**
 * One prefix length for every id shown together (so the column stays aligned): the shortest
 * from SHORT_ID_LENGTH on at which no two different ids look the same, as git shortens hashes.
 */
export function shortIds(ids: Iterable<string>): (id: string) => string {
  const distinct = [...new Set(ids)];
  let n = SHORT_ID_LENGTH;
  const clash = (len: number) => new Set(distinct.map((id) => id.slice(0, len))).size < distinct.length;
  while (clash(n) && distinct.some((id) => id.length > n)) n += 1;
  return (id) => id.slice(0, n);
}

/** How much of a JSON detail (an operation's) a table cell shows; --json shows all of it. */
export const DETAIL_WIDTH = 60;

/** `{"deadline":"…","onDeadline":"keep"}`: one line, cut at `width` with an ellipsis; `-` when empty. */
export function compactJson(detail: Readonly<Record<string, unknown>>, width = DETAIL_WIDTH): string {
  if (Object.keys(detail).length === 0) return '-';
  const s = JSON.stringify(detail);
  return s.length > width ? `${s.slice(0, width - 1)}…` : s;
}
