/**
 * ESL wire format, as FreeSWITCH's mod_event_socket writes it: a block of `Name: value` lines,
 * an empty line, then exactly `Content-Length` bytes of body when that header is present.
 * Lengths count bytes, not characters, so the parser works on Buffers throughout.
 */

export type HeaderList = Array<[name: string, value: string]>;

export interface EslFrame {
  /** Outer headers, in wire order, values as sent. */
  readonly headers: HeaderList;
  /** Body bytes (empty when there is no Content-Length). */
  readonly body: Buffer;
}

export interface EslEvent {
  /** Event headers in order; plain values are URL-decoded, JSON values are as in the object. */
  readonly headers: HeaderList;
  /** Inner body (BACKGROUND_JOB output, …), if the event carries one. */
  readonly body: string | undefined;
}

export function getHeader(headers: HeaderList, name: string): string | undefined {
  for (const [k, v] of headers) if (k === name) return v;
  return undefined;
}

export function contentType(frame: EslFrame): string | undefined {
  return getHeader(frame.headers, 'Content-Type');
}

function parseHeaderBlock(text: string): HeaderList {
  const out: HeaderList = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const i = line.indexOf(': ');
    if (i < 0) out.push([line, '']);
    else out.push([line.slice(0, i), line.slice(i + 2)]);
  }
  return out;
}

/** Incremental frame splitter: feed chunks as they arrive, collect complete frames. */
export class EslFrameParser {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): EslFrame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: EslFrame[] = [];
    for (;;) {
      const end = this.buf.indexOf('\n\n');
      if (end < 0) break;
      const headers = parseHeaderBlock(this.buf.subarray(0, end).toString('utf8'));
      const lenText = getHeader(headers, 'Content-Length');
      const len = lenText === undefined ? 0 : Number.parseInt(lenText, 10);
      if (!Number.isFinite(len) || len < 0) throw new Error(`bad Content-Length: ${lenText}`);
      const start = end + 2;
      if (this.buf.length < start + len) break;
      frames.push({ headers, body: Buffer.from(this.buf.subarray(start, start + len)) });
      this.buf = this.buf.subarray(start + len);
    }
    return frames;
  }

  /** Bytes received that do not yet form a complete frame. */
  get pending(): number {
    return this.buf.length;
  }
}

/** Splits a whole capture; throws if bytes are left over (a truncated or misframed stream). */
export function parseFrames(bytes: Buffer): EslFrame[] {
  const parser = new EslFrameParser();
  const frames = parser.push(bytes);
  if (parser.pending !== 0) throw new Error(`${parser.pending} trailing bytes do not form a frame`);
  return frames;
}

/**
 * `text/event-plain` body: headers with URL-encoded values, then either one empty line or an inner
 * `Content-Length` header, an empty line and that many bytes of body.
 */
export function parsePlainEvent(body: Buffer): EslEvent {
  const end = body.indexOf('\n\n');
  const headText = body.subarray(0, end < 0 ? body.length : end).toString('utf8');
  const raw = parseHeaderBlock(headText);
  const headers: HeaderList = [];
  let inner: string | undefined;
  for (const [k, v] of raw) {
    if (k === 'Content-Length') {
      const len = Number.parseInt(v, 10);
      inner = body.subarray(end + 2, end + 2 + len).toString('utf8');
      continue;
    }
    headers.push([k, decodeURIComponent(v)]);
  }
  return { headers, body: inner };
}

/**
 * `text/event-json` body: one flat object; a body travels as `Content-Length` + `_body` keys.
 * FreeSWITCH (cJSON) writes duplicate keys when a header is added twice (`Hangup-Cause` on
 * CHANNEL_HANGUP_COMPLETE), so the object is read as an ordered list of pairs, not via JSON.parse.
 */
export function parseJsonEvent(body: Buffer): EslEvent {
  const headers: HeaderList = [];
  let inner: string | undefined;
  for (const [k, v] of jsonObjectPairs(body.toString('utf8'))) {
    if (k === '_body') inner = v;
    else if (k !== 'Content-Length') headers.push([k, v]);
  }
  return { headers, body: inner };
}

const JSON_STRING = /"(?:[^"\\]|\\.)*"/y;

/** Top-level key/value pairs of a JSON object in source order; string arrays become `ARRAY::` values. */
export function jsonObjectPairs(text: string): HeaderList {
  const pairs: HeaderList = [];
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text.charAt(i))) i++;
  };
  const expect = (c: string) => {
    ws();
    if (text.charAt(i) !== c) throw new Error(`JSON: expected '${c}' at ${i}`);
    i++;
  };
  const str = (): string => {
    ws();
    JSON_STRING.lastIndex = i;
    const m = JSON_STRING.exec(text);
    if (!m) throw new Error(`JSON: expected a string at ${i}`);
    i += m[0].length;
    return JSON.parse(m[0]) as string;
  };
  const value = (): string => {
    ws();
    if (text.charAt(i) === '"') return str();
    // Arrays (multi-valued headers) and scalars: find the extent by bracket depth outside strings.
    const start = i;
    let depth = 0;
    for (; i < text.length; i++) {
      const c = text.charAt(i);
      if (c === '"') {
        JSON_STRING.lastIndex = i;
        const m = JSON_STRING.exec(text);
        if (!m) throw new Error(`JSON: bad string at ${i}`);
        i += m[0].length - 1;
      } else if (c === '[' || c === '{') depth++;
      else if (c === ']' || c === '}') {
        if (depth === 0) break;
        depth--;
      } else if (c === ',' && depth === 0) break;
    }
    const parsed: unknown = JSON.parse(text.slice(start, i));
    // Multi-valued headers are arrays in JSON and `ARRAY::a|:b` in plain events; use the plain form.
    if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return `ARRAY::${parsed.join('|:')}`;
    return JSON.stringify(parsed);
  };
  expect('{');
  ws();
  if (text.charAt(i) === '}') return pairs;
  for (;;) {
    const k = str();
    expect(':');
    pairs.push([k, value()]);
    ws();
    if (text.charAt(i) === ',') {
      i++;
      continue;
    }
    expect('}');
    return pairs;
  }
}

/** Decodes an event frame of either format; undefined for non-event frames. */
export function parseEventFrame(frame: EslFrame): EslEvent | undefined {
  const type = contentType(frame);
  if (type === 'text/event-plain') return parsePlainEvent(frame.body);
  if (type === 'text/event-json') return parseJsonEvent(frame.body);
  return undefined;
}

/** Event name, with the CUSTOM subclass appended (`CUSTOM conference::maintenance`). */
export function eventKey(ev: EslEvent): string {
  const name = getHeader(ev.headers, 'Event-Name') ?? '?';
  const sub = getHeader(ev.headers, 'Event-Subclass');
  return name === 'CUSTOM' && sub !== undefined ? `CUSTOM ${sub}` : name;
}
