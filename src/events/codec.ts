import { channelChecker, type NodeChannel } from './calls.js';
import { parseSipUri } from './sipUri.js';
import type { Decoded } from './decoded.js';
import { MAX_MESSAGE_BYTES, type MessageKind } from './limits.js';
import { readMessage } from './reading.js';
import { checkers, type ConferenceNodeMessage, type NodeMessage, type ReannounceRequest } from './schemas.js';
import { isConferenceMessageKind, isNodeMessageKind, type Subjects } from './subjects.js';

export { REJECT_REASONS, type Decoded, type RejectReason } from './decoded.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

function parseJson(data: Uint8Array, kind: MessageKind): Decoded<unknown> {
  const limit = MAX_MESSAGE_BYTES[kind];
  if (data.byteLength > limit) {
    return { ok: false, reason: 'too-large', detail: `${data.byteLength} bytes > ${limit} (the ${kind} limit)` };
  }
  try {
    return { ok: true, value: JSON.parse(decoder.decode(data)) as unknown };
  } catch (err) {
    return { ok: false, reason: 'json', detail: (err as Error).message };
  }
}

/**
 * Everything an agent publishes on `{prefix}.node.{nodeId}.{kind}`, by family: `membership`
 * (joined, heartbeat, left: what the registry ingests) or `conference` (conference, rooms:
 * facts about the node's conference rooms, no membership fact; never for the registry's seq).
 */
export type AgentMessage =
  | { readonly family: 'membership'; readonly message: NodeMessage }
  | { readonly family: 'conference'; readonly message: ConferenceNodeMessage };

/**
 * Reads one node message of a membership kind as it arrived: subject, size, JSON, version,
 * the known fields checked strictly (unknown ones dropped), the node id against the subject,
 * the SIP URI. A conference kind is refused as `unknown-kind` here, as by a reader that
 * predates it; decodeAgentMessage reads both families.
 */
export function decodeNodeMessage(subjects: Subjects, subject: string, data: Uint8Array): Decoded<NodeMessage> {
  const split = subjects.splitNodeSubject(subject);
  if (!split) return { ok: false, reason: 'subject', detail: `not a node message subject: ${subject}` };
  if (!isNodeMessageKind(split.kind)) {
    return { ok: false, reason: 'unknown-kind', detail: `node message kind ${JSON.stringify(split.kind)} is not one this reader knows` };
  }
  const kind = split.kind;
  const json = parseJson(data, kind);
  if (!json.ok) return json;
  const read = readMessage(kind, json.value);
  if (!read.ok) return read;
  const msg = read.value;
  if (msg.nodeId !== split.nodeId) {
    return { ok: false, reason: 'node-id-mismatch', detail: `subject names ${split.nodeId}, body ${msg.nodeId}` };
  }
  if ('sipUri' in msg) {
    const uri = parseSipUri(msg.sipUri);
    if (!uri.ok) return { ok: false, reason: 'sip-uri', detail: uri.reason };
    // Store only the normalised form, so equal destinations compare equal everywhere.
    return { ok: true, value: { kind, msg: { ...msg, sipUri: uri.value.uri } } as NodeMessage };
  }
  return { ok: true, value: { kind, msg } as NodeMessage };
}

/**
 * Reads any node message, membership or conference, with the same checks in the same order
 * (same reasons); the result says which family it is, so a consumer routes conference
 * messages away from the registry.
 */
export function decodeAgentMessage(subjects: Subjects, subject: string, data: Uint8Array): Decoded<AgentMessage> {
  const split = subjects.splitNodeSubject(subject);
  if (!split) return { ok: false, reason: 'subject', detail: `not a node message subject: ${subject}` };
  if (!isConferenceMessageKind(split.kind)) {
    const d = decodeNodeMessage(subjects, subject, data);
    return d.ok ? { ok: true, value: { family: 'membership', message: d.value } } : d;
  }
  const kind = split.kind;
  const json = parseJson(data, kind);
  if (!json.ok) return json;
  const read = readMessage(kind, json.value);
  if (!read.ok) return read;
  if (read.value.nodeId !== split.nodeId) {
    return { ok: false, reason: 'node-id-mismatch', detail: `subject names ${split.nodeId}, body ${read.value.nodeId}` };
  }
  return { ok: true, value: { family: 'conference', message: { kind, msg: read.value } as ConferenceNodeMessage } };
}

/**
 * Reads one channel event as it arrived (from the calls stream or a plain subscription):
 * subject `{prefix}.calls.node.{nodeId}.channel`, size, JSON, version, known fields checked
 * strictly, the node id against the subject; the same reasons as every other decoder.
 */
export function decodeNodeChannel(subjects: Subjects, subject: string, data: Uint8Array): Decoded<NodeChannel> {
  const nodeId = subjects.parseChannelSubject(subject);
  if (nodeId === undefined) return { ok: false, reason: 'subject', detail: `not a channel event subject: ${subject}` };
  const json = parseJson(data, 'channel');
  if (!json.ok) return json;
  const read = readMessage('channel', json.value);
  if (!read.ok) return read;
  if (read.value.nodeId !== nodeId) return { ok: false, reason: 'node-id-mismatch', detail: `subject names ${nodeId}, body ${read.value.nodeId}` };
  return read;
}

export function decodeReannounce(data: Uint8Array): Decoded<ReannounceRequest> {
  const json = parseJson(data, 'reannounce');
  if (!json.ok) return json;
  return readMessage('reannounce', json.value);
}

export type Checked = { ok: true; data: Uint8Array } | { ok: false; detail: string };

/**
 * What a writer puts on the bus, checked against the strict schema of its kind (no field
 * the schema does not declare), so a bug cannot reach the bus. Every field is bounded, so
 * a valid message always fits its kind's size limit (a test builds the largest of each).
 */
export function encodeChecked(kind: MessageKind, msg: object): Checked {
  const checker = kind === 'channel' ? channelChecker : checkers[kind];
  if (!checker.Check(msg)) {
    const first = checker.Errors(msg).First();
    return { ok: false, detail: first ? `${first.path || '/'}: ${first.message}` : 'does not match schema' };
  }
  return { ok: true, data: encodeMessage(msg) };
}

/** Unchecked: for tests and benchmarks that must be able to send anything. */
export function encodeMessage(msg: object): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(msg));
}
