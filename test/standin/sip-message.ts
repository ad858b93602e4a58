import { randomBytes } from 'node:crypto';
import type { HeaderList } from './esl-frames.js';

/** A SIP message as received: header names canonicalised (compact forms expanded), order kept. */
export interface SipMessage {
  readonly method: string; // '' for responses
  readonly uri: string;
  readonly status: number; // 0 for requests
  readonly reason: string;
  readonly headers: HeaderList;
  readonly body: string;
}

const COMPACT: Record<string, string> = {
  v: 'Via', f: 'From', t: 'To', i: 'Call-ID', m: 'Contact', l: 'Content-Length', c: 'Content-Type',
  k: 'Supported', s: 'Subject', e: 'Content-Encoding',
};
const CANONICAL = new Map(
  ['Via', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'Content-Length', 'Content-Type', 'Record-Route', 'Route',
    'Max-Forwards', 'User-Agent', 'Subject', 'Supported', 'Allow', 'Content-Encoding'].map((n) => [n.toLowerCase(), n]),
);

function canonical(name: string): string {
  const lower = name.trim().toLowerCase();
  return COMPACT[lower] ?? CANONICAL.get(lower) ?? name.trim();
}

/** Splits a header value on top-level commas (Via and Record-Route may be folded into one line). */
export function splitCommas(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charAt(i);
    if (c === '"' && value.charAt(i - 1) !== '\\') quoted = !quoted;
    else if (!quoted && c === '<') depth++;
    else if (!quoted && c === '>') depth--;
    else if (!quoted && depth === 0 && c === ',') {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(value.slice(start).trim());
  return out.filter((s) => s !== '');
}

export function parseSip(data: Buffer): SipMessage | undefined {
  const text = data.toString('utf8');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = text.slice(0, end).split('\r\n');
  const start = lines.shift() ?? '';
  const headers: HeaderList = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line) && headers.length > 0) {
      const last = headers[headers.length - 1]!;
      last[1] += ' ' + line.trim();
      continue;
    }
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = canonical(line.slice(0, i));
    const value = line.slice(i + 1).trim();
    if (name === 'Via' || name === 'Record-Route' || name === 'Route') {
      for (const part of splitCommas(value)) headers.push([name, part]);
    } else headers.push([name, value]);
  }
  const lengthText = headers.find(([k]) => k === 'Content-Length')?.[1];
  const bodyBytes = data.subarray(Buffer.byteLength(text.slice(0, end + 4)));
  const body = (lengthText === undefined ? bodyBytes : bodyBytes.subarray(0, Number.parseInt(lengthText, 10))).toString('utf8');
  const status = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(start);
  if (status) return { method: '', uri: '', status: Number(status[1]), reason: status[2] ?? '', headers, body };
  const request = /^([A-Z]+) (\S+) SIP\/2\.0$/.exec(start);
  if (!request) return undefined;
  return { method: request[1] ?? '', uri: request[2] ?? '', status: 0, reason: '', headers, body };
}

export function header(msg: SipMessage, name: string): string | undefined {
  return msg.headers.find(([k]) => k === name)?.[1];
}

export function headers(msg: SipMessage, name: string): string[] {
  return msg.headers.filter(([k]) => k === name).map(([, v]) => v);
}

export interface SipUri {
  user: string | undefined;
  host: string;
  port: number | undefined;
}

export function parseUri(uri: string): SipUri {
  const m = /^sips?:(?:([^@;]*)@)?([^;:?>]+)(?::(\d+))?/i.exec(uri.trim());
  if (!m) return { user: undefined, host: '', port: undefined };
  return { user: m[1] !== undefined ? decodeURIComponent(m[1]) : undefined, host: m[2] ?? '', port: m[3] ? Number(m[3]) : undefined };
}

/** user@host[:port], as FreeSWITCH writes sip_from_uri, sip_req_uri, … */
export function uriUserHostPort(u: SipUri): string {
  return `${u.user !== undefined ? `${u.user}@` : ''}${u.host}${u.port !== undefined ? `:${u.port}` : ''}`;
}

export interface NameAddr {
  display: string | undefined;
  uri: string;
  params: Map<string, string>;
}

/** `"Name" <sip:u@h>;tag=x`, `Name <sip:u@h>`, or a bare `sip:u@h;tag=x` (params then belong to the header). */
export function parseNameAddr(value: string): NameAddr {
  let display: string | undefined;
  let uri: string;
  let rest: string;
  const lt = value.indexOf('<');
  if (lt >= 0) {
    const gt = value.indexOf('>', lt);
    const d = value.slice(0, lt).trim().replace(/^"(.*)"$/, '$1');
    display = d === '' ? undefined : d;
    uri = value.slice(lt + 1, gt < 0 ? undefined : gt);
    rest = gt < 0 ? '' : value.slice(gt + 1);
  } else {
    const semi = value.indexOf(';');
    uri = semi < 0 ? value.trim() : value.slice(0, semi).trim();
    rest = semi < 0 ? '' : value.slice(semi);
  }
  return { display, uri, params: parseParams(rest) };
}

export function parseParams(text: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const p of text.split(';')) {
    const t = p.trim();
    if (t === '') continue;
    const eq = t.indexOf('=');
    params.set((eq < 0 ? t : t.slice(0, eq)).toLowerCase(), eq < 0 ? '' : t.slice(eq + 1));
  }
  return params;
}

export interface Via {
  transport: string;
  host: string;
  port: number | undefined;
  params: Map<string, string>;
}

export function parseVia(value: string): Via {
  const m = /^SIP\/2\.0\/(\w+)\s+([^;:\s]+|\[[^\]]+\])(?::(\d+))?\s*(.*)$/i.exec(value.trim());
  if (!m) return { transport: '', host: '', port: undefined, params: new Map() };
  return { transport: (m[1] ?? '').toUpperCase(), host: m[2] ?? '', port: m[3] ? Number(m[3]) : undefined, params: parseParams(m[4] ?? '') };
}

/** CSeq `1 INVITE` → [1, 'INVITE']. */
export function parseCSeq(msg: SipMessage): [number, string] {
  const [n, m] = (header(msg, 'CSeq') ?? '').trim().split(/\s+/);
  return [Number(n ?? 0), m ?? ''];
}

export function serialize(startLine: string, hdrs: HeaderList, body = ''): Buffer {
  let out = `${startLine}\r\n`;
  for (const [k, v] of hdrs) out += `${k}: ${v}\r\n`;
  out += `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  return Buffer.from(out);
}

const TAG_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** sofia-sip style tag: 13 alphanumerics (`yyt3rN2rjZSNr` in the capture). */
export function sofiaTag(length = 13): string {
  return Array.from(randomBytes(length), (b) => TAG_CHARS.charAt(b % TAG_CHARS.length)).join('');
}
