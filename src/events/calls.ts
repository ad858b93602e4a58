import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { FsUuid, NodeId, SCHEMA_VERSION } from './schemas.js';

/**
 * What an agent tells about each channel of its FreeSWITCH (issue 8, "What to capture"), one
 * message per CHANNEL_CREATE, CHANNEL_ANSWER, CHANNEL_BRIDGE and CHANNEL_HANGUP_COMPLETE, on
 * `{prefix}.calls.node.{nodeId}.channel`, published into the calls JetStream stream
 * (src/nats/callsStream.ts). The control plane joins a call's legs by callId, otherLeg and
 * callUuid, and Kamailio's routing decision by `decision`.
 *
 * Strict like every other schema (a writer cannot send a field it does not declare), with one
 * difference in spirit: FreeSWITCH headers are the caller's to choose (caller id, Call-ID, X-
 * headers), so free text has generous bounds the agent truncates to, and an id that does not fit
 * its pattern is left out by the agent (and counted) rather than losing the whole event.
 */
export const CHANNEL_EVENTS = ['create', 'answer', 'bridge', 'hangup'] as const;
export type ChannelEvent = (typeof CHANNEL_EVENTS)[number];

/** The FreeSWITCH event each channel event is read from. */
export const CHANNEL_EVENT_OF: Readonly<Record<string, ChannelEvent>> = Object.freeze({
  CHANNEL_CREATE: 'create',
  CHANNEL_ANSWER: 'answer',
  CHANNEL_BRIDGE: 'bridge',
  CHANNEL_HANGUP_COMPLETE: 'hangup',
});

/** Bound of every free-text field (caller, callee); the agent truncates longer values to it. */
export const MAX_CHANNEL_TEXT = 1024;
/** Printable ASCII without spaces, for ids (SIP Call-ID, conference names). */
export const PRINTABLE_ID_PATTERN = `^[!-~]{1,${MAX_CHANNEL_TEXT}}$`;
/** Kamailio's routing decision id, as it stamps it in X-SBC-Decision. */
export const DECISION_ID_PATTERN = '^[A-Za-z0-9._-]{1,96}$';
/** A cascade link id (same as schemas.ts LINK_ID_PATTERN, repeated here to keep this module's bounds in one place). */
export const CHANNEL_LINK_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
export const HANGUP_CAUSE_PATTERN = '^[A-Z0-9_]{1,64}$';

/**
 * Free text without control characters or lone surrogates: JSON writes each of those as a
 * six-byte escape, and the size limit (limits.ts) is worked out on at most three bytes per
 * UTF-16 unit. The agent replaces them (truncateText in src/agent/channels.ts).
 */
export const FREE_TEXT_PATTERN = '^(?:[^\\u0000-\\u001f\\u007f\\ud800-\\udfff]|[\\ud800-\\udbff][\\udc00-\\udfff])*$';

const Printable = (description: string) => Type.String({ pattern: PRINTABLE_ID_PATTERN, description });
const FreeText = (description: string) => Type.String({ maxLength: MAX_CHANNEL_TEXT, pattern: FREE_TEXT_PATTERN, description });

export const NodeChannel = Type.Object(
  {
    v: Type.Literal(SCHEMA_VERSION),
    nodeId: NodeId,
    seq: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'From the agent’s one seq counter (one node’s messages in order); the Nats-Msg-Id is channelEventId (below)' }),
    sentAt: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Sender wall clock, ms since the epoch (when it was first queued)' }),
    event: Type.Union(CHANNEL_EVENTS.map((e) => Type.Literal(e))),
    atUs: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Event-Date-Timestamp: FreeSWITCH’s clock, µs since the epoch' }),
    uuid: FsUuid,
    direction: Type.Union([Type.Literal('inbound'), Type.Literal('outbound')], { description: 'Call-Direction' }),
    callId: Type.Optional(Printable('variable_sip_call_id; an outbound leg carries it only from answer on (its own UUID with outbound-use-uuid-as-callid)')),
    otherLeg: Type.Optional(FsUuid),
    callUuid: Type.Optional(FsUuid),
    caller: Type.Optional(FreeText('Caller-Caller-ID-Number')),
    callee: Type.Optional(FreeText('Caller-Destination-Number')),
    room: Type.Optional(Printable('variable_conference_name, else variable_sip_h_X-SBC-Room')),
    memberId: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, description: 'variable_conference_member_id' })),
    decision: Type.Optional(Type.String({ pattern: DECISION_ID_PATTERN, description: 'variable_sip_h_X-SBC-Decision' })),
    link: Type.Optional(Type.String({ pattern: CHANNEL_LINK_PATTERN, description: 'variable_sip_h_X-SBC-Cascade: the cascade link this leg carries (either side)' })),
    cause: Type.Optional(Type.String({ pattern: HANGUP_CAUSE_PATTERN, description: 'Hangup-Cause (hangup only)' })),
    sipStatus: Type.Optional(Type.Integer({ minimum: 100, maximum: 699, description: 'variable_sip_term_status' })),
  },
  { additionalProperties: false, $id: 'NodeChannelV1' },
);
export type NodeChannel = Static<typeof NodeChannel>;

export const channelChecker = TypeCompiler.Compile(NodeChannel);

/**
 * The identity of one FreeSWITCH channel event: its node, channel, kind and FreeSWITCH's own
 * microsecond timestamp. Sent as `Nats-Msg-Id` (the stream drops a re-send within its
 * duplicate window) and stored as the event's id (the store drops any later copy). Not the
 * agent's seq: a restarted agent starts its seq at its start time in ms, which a busy agent
 * (over one message per ms since it started) may already have used.
 */
export function channelEventId(msg: Pick<NodeChannel, 'nodeId' | 'uuid' | 'event' | 'atUs'>): string {
  return `${msg.nodeId}:${msg.uuid}:${msg.event}:${msg.atUs}`;
}
