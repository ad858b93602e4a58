import type { TSchema } from '@sinclair/typebox';
import type { TypeCheck } from '@sinclair/typebox/compiler';
import { parseSipUri } from './sipUri.js';
import { checkers, type NodeMessage, type ReannounceRequest } from './schemas.js';
import type { Subjects } from './subjects.js';

/** Why a message was refused; also the `reason` label of the rejection metric. */
export type RejectReason = 'subject' | 'json' | 'schema' | 'sip-uri' | 'node-id-mismatch' | 'too-large';

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: RejectReason; detail: string };

/** Far above any valid message; a larger payload is refused before JSON parsing. */
export const MAX_MESSAGE_BYTES = 4096;

const decoder = new TextDecoder('utf-8', { fatal: true });

function parseJson(data: Uint8Array): Decoded<unknown> {
  if (data.byteLength > MAX_MESSAGE_BYTES) {
    return { ok: false, reason: 'too-large', detail: `${data.byteLength} bytes > ${MAX_MESSAGE_BYTES}` };
  }
  try {
    return { ok: true, value: JSON.parse(decoder.decode(data)) as unknown };
  } catch (err) {
    return { ok: false, reason: 'json', detail: (err as Error).message };
  }
}

function check<T extends TSchema>(checker: TypeCheck<T>, value: unknown): Decoded<T['static']> {
  if (checker.Check(value)) return { ok: true, value };
  const first = checker.Errors(value).First();
  const detail = first ? `${first.path || '/'}: ${first.message}` : 'does not match schema';
  return { ok: false, reason: 'schema', detail };
}

/** Validates one node message exactly as it arrived: subject, bytes, schema, SIP URI. */
export function decodeNodeMessage(subjects: Subjects, subject: string, data: Uint8Array): Decoded<NodeMessage> {
  const where = subjects.parseNodeSubject(subject);
  if (!where) return { ok: false, reason: 'subject', detail: `not a node message subject: ${subject}` };
  const json = parseJson(data);
  if (!json.ok) return json;
  const checker = checkers[where.kind] as TypeCheck<TSchema>;
  const checked = check(checker, json.value) as Decoded<NodeMessage['msg']>;
  if (!checked.ok) return checked;
  const msg = checked.value;
  if (msg.nodeId !== where.nodeId) {
    return { ok: false, reason: 'node-id-mismatch', detail: `subject names ${where.nodeId}, body ${msg.nodeId}` };
  }
  if ('sipUri' in msg) {
    const uri = parseSipUri(msg.sipUri);
    if (!uri.ok) return { ok: false, reason: 'sip-uri', detail: uri.reason };
    // Store only the normalised form, so equal destinations compare equal everywhere.
    return { ok: true, value: { kind: where.kind, msg: { ...msg, sipUri: uri.value.uri } } as NodeMessage };
  }
  return { ok: true, value: { kind: where.kind, msg } as NodeMessage };
}

export function decodeReannounce(data: Uint8Array): Decoded<ReannounceRequest> {
  const json = parseJson(data);
  if (!json.ok) return json;
  return check(checkers.reannounce, json.value);
}

export function encodeMessage(msg: object): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(msg));
}
