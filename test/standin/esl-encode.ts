import type { HeaderList } from './esl-frames.js';

/**
 * switch_url_encode(): every byte outside printable ASCII and every byte of
 * `\r\n "#%&+:;<=>?@[\]^`{|}` becomes %XX (upper-case hex); `/`, `,`, `(`, `)`, `'`, `!`, `*`, `~`,
 * `$` and `-._` stay as they are. Checked byte-for-byte against every plain event in the captures.
 */
const UNSAFE = new Set(Array.from('\r\n "#%&+:;<=>?@[\\]^`{|}', (c) => c.charCodeAt(0)));

export function fsUrlEncode(value: string): string {
  let out = '';
  for (const b of Buffer.from(value, 'utf8')) {
    if (b < 0x20 || b > 0x7e || UNSAFE.has(b)) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
    else out += String.fromCharCode(b);
  }
  return out;
}

/**
 * switch_event_serialize(): `Name: url-encoded value` lines; then either one empty line, or (event
 * with a body) an inner `Content-Length`, an empty line and the raw body.
 */
export function serializePlain(headers: HeaderList, body?: string): string {
  let out = '';
  for (const [k, v] of headers) out += `${k}: ${fsUrlEncode(v)}\n`;
  if (body !== undefined) out += `Content-Length: ${Buffer.byteLength(body)}\n\n${body}`;
  else out += '\n';
  return out;
}

/**
 * switch_event_serialize_json(): one flat cJSON object, keys in header order (duplicates kept), the
 * body as `Content-Length` (a string) and `_body`. No trailing newline.
 */
export function serializeJson(headers: HeaderList, body?: string): string {
  const parts = headers.map(([k, v]) => `${JSON.stringify(k)}:${jsonValue(v)}`);
  if (body !== undefined) {
    parts.push(`"Content-Length":${JSON.stringify(String(Buffer.byteLength(body)))}`);
    parts.push(`"_body":${JSON.stringify(body)}`);
  }
  return `{${parts.join(',')}}`;
}

/** A multi-valued header (`ARRAY::a|:b` in plain events) is a JSON array of strings. */
function jsonValue(v: string): string {
  return JSON.stringify(v.startsWith('ARRAY::') ? v.slice(7).split('|:') : v);
}

export type EventFormat = 'plain' | 'json';

/** Event frame: Content-Length first, then Content-Type (mod_event_socket's order for events). */
export function eventFrame(format: EventFormat, headers: HeaderList, body?: string): Buffer {
  const payload = Buffer.from(format === 'plain' ? serializePlain(headers, body) : serializeJson(headers, body));
  return Buffer.concat([
    Buffer.from(`Content-Length: ${payload.length}\nContent-Type: text/event-${format}\n\n`),
    payload,
  ]);
}

/** api/response: Content-Type first, then Content-Length, then the command's output verbatim. */
export function apiResponseFrame(output: string): Buffer {
  const body = Buffer.from(output);
  return Buffer.concat([Buffer.from(`Content-Type: api/response\nContent-Length: ${body.length}\n\n`), body]);
}

export function commandReplyFrame(replyText: string, extra: HeaderList = []): Buffer {
  let out = `Content-Type: command/reply\nReply-Text: ${replyText}\n`;
  for (const [k, v] of extra) out += `${k}: ${v}\n`;
  return Buffer.from(out + '\n');
}

export function disconnectNoticeFrame(text: string): Buffer {
  const body = Buffer.from(text);
  return Buffer.concat([Buffer.from(`Content-Type: text/disconnect-notice\nContent-Length: ${body.length}\n\n`), body]);
}

export const AUTH_REQUEST = Buffer.from('Content-Type: auth/request\n\n');
/** 67 bytes, sent after `exit` and after a failed `auth`. */
export const GOODBYE = 'Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n';
/** 31 bytes, sent to every connection when the switch shuts down. */
export const SHUTTING_DOWN = 'The system is being shut down.\n';
