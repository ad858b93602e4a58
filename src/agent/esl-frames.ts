/**
 * The Event Socket wire format as FreeSWITCH's mod_event_socket writes it in inbound mode, as a
 * pure parser: `Name: value` header lines, an empty line, then exactly `Content-Length` bytes of
 * body when that header is present (auth/request and command/reply have none). Lengths count
 * bytes, not characters, so framing works on Buffers and text is decoded only once a frame is
 * whole (a UTF-8 character may straddle two reads).
 *
 * Strict on purpose: FreeSWITCH writes `\n` line ends, `Name: value` headers and a decimal
 * Content-Length. Anything else means the byte stream is out of step (or not FreeSWITCH), and
 * guessing would pair replies with the wrong commands, so the caller must drop the connection.
 */

export interface EslFrame {
  /** Outer headers as sent (values are not URL-encoded at this level). */
  readonly headers: ReadonlyMap<string, string>;
  /** Exactly Content-Length bytes; empty without that header. */
  readonly body: Buffer;
}

/** The byte stream cannot be ESL: the connection is out of step and must be dropped. */
export class EslProtocolError extends Error {
  override readonly name = 'EslProtocolError';
}

/** A header block longer than this is not FreeSWITCH (its largest outer block is ~100 bytes). */
export const MAX_HEADER_BYTES = 64 * 1024;
/** Large `show channels as json` outputs are a few MB; this bounds memory per frame. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

const LF_LF = Buffer.from('\n\n');

function parseHeaderBlock(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of block.split('\n')) {
    const colon = line.indexOf(': ');
    if (colon <= 0) throw new EslProtocolError(`not a header line: ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon);
    // First one wins; FreeSWITCH never repeats an outer header.
    if (!headers.has(name)) headers.set(name, line.slice(colon + 2));
  }
  return headers;
}

function contentLength(headers: ReadonlyMap<string, string>): number {
  const text = headers.get('Content-Length');
  if (text === undefined) return 0;
  if (!/^\d{1,10}$/.test(text)) throw new EslProtocolError(`bad Content-Length ${JSON.stringify(text)}`);
  const length = Number(text);
  if (length > MAX_BODY_BYTES) throw new EslProtocolError(`Content-Length ${length} over ${MAX_BODY_BYTES}`);
  return length;
}

export interface FrameSplit {
  readonly frames: readonly EslFrame[];
  /** Bytes of a frame not complete yet; feed them again with what arrives next. */
  readonly rest: Buffer;
  /** When known: the total size `rest` must reach before another frame can complete. */
  readonly needed: number | undefined;
}

/** Splits bytes into every complete frame; throws EslProtocolError on bytes that cannot be ESL. */
export function splitFrames(bytes: Buffer): FrameSplit {
  const frames: EslFrame[] = [];
  let at = 0;
  for (;;) {
    const end = bytes.indexOf(LF_LF, at);
    if (end < 0) {
      if (bytes.length - at > MAX_HEADER_BYTES) throw new EslProtocolError(`no end of headers within ${MAX_HEADER_BYTES} bytes`);
      return { frames, rest: bytes.subarray(at), needed: undefined };
    }
    if (end === at) throw new EslProtocolError('empty header block');
    if (end - at > MAX_HEADER_BYTES) throw new EslProtocolError(`header block over ${MAX_HEADER_BYTES} bytes`);
    const headers = parseHeaderBlock(bytes.subarray(at, end).toString('utf8'));
    const start = end + 2;
    const length = contentLength(headers);
    if (bytes.length < start + length) return { frames, rest: bytes.subarray(at), needed: start - at + length };
    // A copy, so a frame kept by the caller does not pin the whole read buffer.
    frames.push({ headers, body: Buffer.from(bytes.subarray(start, start + length)) });
    at = start + length;
  }
}

/**
 * Incremental use of splitFrames for a socket: push each read, get the frames it completed.
 * Reads of a long body are kept as a list until the body is whole, so a large frame arriving
 * in many small reads is copied once, not once per read.
 */
export class EslFrameReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private needed: number | undefined;

  push(chunk: Buffer): readonly EslFrame[] {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.needed !== undefined && this.size < this.needed) return [];
    const split = splitFrames(this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.size));
    this.chunks = split.rest.length > 0 ? [split.rest] : [];
    this.size = split.rest.length;
    this.needed = split.needed;
    return split.frames;
  }

  /** Bytes received that do not form a complete frame yet. */
  get pending(): number {
    return this.size;
  }
}

/** Event headers as the agent reads them: a JSON event's object, or a plain event's decoded lines. */
export type EventHeaders = Readonly<Record<string, unknown>>;

export interface EslEvent {
  /** Event-Name, with the subclass for CUSTOM events left in the headers. */
  readonly name: string;
  readonly headers: EventHeaders;
  /** The event's own body (BACKGROUND_JOB: the command's output), if it carries one. */
  readonly body: string | undefined;
}

/** What one frame means to an inbound client. */
export type EslMessage =
  | { readonly kind: 'auth-request' }
  /** The answer to a command other than `api` (auth, event, bgapi, exit, ...), in order. */
  | { readonly kind: 'command-reply'; readonly replyText: string; readonly jobUuid: string | undefined }
  /** The answer to `api`: the command's output exactly as written. */
  | { readonly kind: 'api-response'; readonly output: string }
  | { readonly kind: 'event'; readonly event: EslEvent }
  /** A subscribed event whose body cannot be read; the framing is intact, the event is lost. */
  | { readonly kind: 'unreadable-event'; readonly detail: string }
  /** Sent before FreeSWITCH closes the socket (after exit, a failed auth, or on shutdown). */
  | { readonly kind: 'disconnect-notice'; readonly text: string }
  /** Sent instead of auth/request when the event socket ACL refuses the client. */
  | { readonly kind: 'rude-rejection'; readonly text: string }
  | { readonly kind: 'other'; readonly contentType: string };

/**
 * `text/event-plain` body: header lines with URL-encoded values, then either one empty line or
 * an inner Content-Length, an empty line and that many bytes of body. A repeated header keeps
 * its last value, as JSON.parse does with a JSON event's repeated key.
 */
export function readPlainEvent(body: Buffer): EslEvent {
  const end = body.indexOf(LF_LF);
  const block = body.subarray(0, end < 0 ? body.length : end).toString('utf8');
  const headers: Record<string, string> = {};
  let inner: string | undefined;
  for (const line of block.split('\n')) {
    if (line === '') continue;
    const colon = line.indexOf(': ');
    if (colon <= 0) throw new EslProtocolError(`not an event header: ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon);
    const value = line.slice(colon + 2);
    if (name === 'Content-Length' && end >= 0) {
      if (!/^\d{1,10}$/.test(value)) throw new EslProtocolError(`bad inner Content-Length ${JSON.stringify(value)}`);
      inner = body.subarray(end + 2, end + 2 + Number(value)).toString('utf8');
      continue;
    }
    headers[name] = decodeURIComponent(value);
  }
  return { name: typeof headers['Event-Name'] === 'string' ? headers['Event-Name'] : '', headers, body: inner };
}

/** `text/event-json` body: one flat object; an event's own body travels as `Content-Length` + `_body`. */
export function readJsonEvent(body: Buffer): EslEvent {
  const parsed: unknown = JSON.parse(body.toString('utf8'));
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new EslProtocolError('JSON event is not an object');
  const { _body: inner, ...rest } = parsed as Record<string, unknown>;
  const headers: Record<string, unknown> = rest;
  if (inner !== undefined) delete headers['Content-Length'];
  const name = headers['Event-Name'];
  return { name: typeof name === 'string' ? name : '', headers, body: typeof inner === 'string' ? inner : undefined };
}

/** Pure: what a complete frame says, by its Content-Type. */
export function readMessage(frame: EslFrame): EslMessage {
  const type = frame.headers.get('Content-Type') ?? '';
  switch (type) {
    case 'auth/request':
      return { kind: 'auth-request' };
    case 'command/reply':
      return { kind: 'command-reply', replyText: frame.headers.get('Reply-Text') ?? '', jobUuid: frame.headers.get('Job-UUID') };
    case 'api/response':
      return { kind: 'api-response', output: frame.body.toString('utf8') };
    case 'text/event-json':
    case 'text/event-plain':
      try {
        return { kind: 'event', event: type === 'text/event-json' ? readJsonEvent(frame.body) : readPlainEvent(frame.body) };
      } catch (err) {
        return { kind: 'unreadable-event', detail: `${type}: ${err instanceof Error ? err.message : String(err)}` };
      }
    case 'text/disconnect-notice':
      return { kind: 'disconnect-notice', text: frame.body.toString('utf8') };
    case 'text/rude-rejection':
      return { kind: 'rude-rejection', text: frame.body.toString('utf8') };
    default:
      return { kind: 'other', contentType: type };
  }
}
