import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { Decoded } from './decoded.js';
import { MAX_COMMAND_BYTES } from './limits.js';
import { FsUuid, LINK_ID_PATTERN, LinkId, MAX_ROOMS_PER_SNAPSHOT, NodeBlocker, NodeId, RoomName, RoomSnapshot, ROOM_NAME_PATTERN } from './schemas.js';

/**
 * Commands from the control plane to one agent, by NATS request/reply on
 * `{prefix}.cmd.{nodeId}` (subjects.ts), and the agent's replies. Both sides import this
 * module and validate what they receive: the agent every request, the control plane every
 * reply. A command names the node it is for in its body too; the agent refuses one that
 * names another node than its own (`wrong-node`), so a request that reaches the wrong agent
 * (a subscription left over from a FreeSWITCH that restarted) is never answered with the
 * facts of another node.
 */
export const COMMAND_SCHEMA_VERSION = 1 as const;

/** What an agent can be asked. A request for anything else is answered `unknown-command`. */
export const AGENT_COMMANDS = ['status'] as const;
export type AgentCommandName = (typeof AGENT_COMMANDS)[number];

export const COMMAND_ERROR_CODES = ['bad-request', 'wrong-node', 'unknown-command', 'not-ready', 'timeout', 'freeswitch-error'] as const;
/**
 * Why an agent did not carry a command out:
 * - `bad-request`: the request does not match the schema (or is not JSON);
 * - `wrong-node`: it names another node than the one this agent serves now;
 * - `unknown-command`: the agent does not know the command;
 * - `not-ready`: the node is not announced now (FreeSWITCH lost, restarting) or the agent is stopping;
 * - `timeout`: FreeSWITCH did not answer within the agent's ESL timeout;
 * - `freeswitch-error`: FreeSWITCH answered with something the agent cannot read.
 */
export type CommandErrorCode = (typeof COMMAND_ERROR_CODES)[number];

const SentAt = Type.Integer({ minimum: 0, description: 'Sender wall clock, ms since the epoch.' });
const COMMAND_ID = /^[A-Za-z0-9_-]{1,64}$/;
const CommandId = Type.String({ pattern: COMMAND_ID.source, description: 'Chosen by the requester; echoed in the reply.' });

export const AgentCommandRequest = Type.Object(
  {
    v: Type.Literal(COMMAND_SCHEMA_VERSION),
    id: CommandId,
    nodeId: NodeId,
    // Any well-formed name: an unknown one is `unknown-command`, not `bad-request`.
    command: Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }),
    sentAt: SentAt,
  },
  { additionalProperties: false, $id: 'AgentCommandRequestV1' },
);
export type AgentCommandRequest = Static<typeof AgentCommandRequest>;

const Count = Type.Integer({ minimum: 0, maximum: 10_000_000 });

/** Live facts of one FreeSWITCH, read through ESL when the request arrived. */
export const StatusResult = Type.Object(
  {
    coreUuid: NodeId,
    version: Type.String({ minLength: 1, maxLength: 128, description: 'From `version`' }),
    uptimeMs: Type.Integer({ minimum: 0, description: 'From the UP line of `status`' }),
    ready: Type.Boolean({ description: '`status` says the core is ready (it is not while new sessions are paused in both directions)' }),
    sessions: Count,
    maxSessions: Count,
    sessionsSinceStartup: Count,
    sessionsPeak: Count,
    sipProfile: Type.Object(
      {
        name: Type.String({ minLength: 1, maxLength: 64 }),
        running: Type.Boolean(),
        sipUri: Type.Optional(Type.String({ minLength: 1, maxLength: 192, description: 'Where the profile takes calls; absent while it is not running' })),
      },
      { additionalProperties: false },
    ),
    inboundPaused: Type.Boolean({ description: '`fsctl pause_check inbound`' }),
    blockers: Type.Array(NodeBlocker, { maxItems: 4, uniqueItems: true, description: 'What stops new calls, as heartbeats say it' }),
    readAt: SentAt,
  },
  { additionalProperties: false },
);
export type StatusResult = Static<typeof StatusResult>;

export const StatusReply = Type.Object(
  {
    v: Type.Literal(COMMAND_SCHEMA_VERSION),
    id: CommandId,
    nodeId: NodeId,
    ok: Type.Literal(true),
    command: Type.Literal('status'),
    result: StatusResult,
  },
  { additionalProperties: false, $id: 'AgentStatusReplyV1' },
);
export type StatusReply = Static<typeof StatusReply>;

export const CommandErrorReply = Type.Object(
  {
    v: Type.Literal(COMMAND_SCHEMA_VERSION),
    /** Absent only when the request was too malformed to carry a usable id. */
    id: Type.Optional(CommandId),
    /** The node this agent serves, when it serves one. */
    nodeId: Type.Optional(NodeId),
    ok: Type.Literal(false),
    error: Type.Object(
      {
        code: Type.Union(COMMAND_ERROR_CODES.map((c) => Type.Literal(c))),
        message: Type.String({ minLength: 1, maxLength: 512 }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, $id: 'AgentCommandErrorV1' },
);
export type CommandErrorReply = Static<typeof CommandErrorReply>;

export const AgentCommandReply = Type.Union([StatusReply, CommandErrorReply]);
export type AgentCommandReply = Static<typeof AgentCommandReply>;

const checkRequest = TypeCompiler.Compile(AgentCommandRequest);
const checkReply = TypeCompiler.Compile(AgentCommandReply);

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Same limits and reasons as the node messages' decoder (codec.ts). */
function decode<T extends TSchema>(checker: TypeCheck<T>, data: Uint8Array, limit: number): Decoded<Static<T>> & { readonly json?: unknown } {
  if (data.byteLength > limit) return { ok: false, reason: 'too-large', detail: `${data.byteLength} bytes > ${limit}` };
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch (err) {
    return { ok: false, reason: 'json', detail: (err as Error).message };
  }
  if (checker.Check(json)) return { ok: true, value: json };
  const first = checker.Errors(json).First();
  return { ok: false, reason: 'schema', detail: first ? `${first.path || '/'}: ${first.message}` : 'does not match schema', json };
}

export type DecodedCommand =
  | { readonly ok: true; readonly value: AgentCommandRequest | V2CommandRequest }
  | {
      readonly ok: false;
      readonly detail: string;
      readonly id?: string;
      /** 2 when the request is a v2 one (answered with a v2 refusal); absent: v1. */
      readonly v?: typeof CONFERENCE_COMMAND_VERSION;
      /** Absent: `bad-request`. */
      readonly code?: CommandErrorCode;
    };

/**
 * Validates one request as it arrived, v1 (`status`) or v2 (the conference commands); a
 * refusal keeps the request's id when it has a usable one, and says whether it was v2.
 */
export function decodeCommandRequest(data: Uint8Array): DecodedCommand {
  const peek = decode(checkAnyJson, data, MAX_COMMAND_BYTES.request);
  const json = peek.ok ? peek.value : peek.json;
  const rawId = (json as { id?: unknown } | null | undefined)?.id;
  const id = typeof rawId === 'string' && COMMAND_ID.test(rawId) ? { id: rawId } : {};
  if (!peek.ok) return { ok: false, detail: `${peek.reason}: ${peek.detail}`, ...id };
  const v = (json as { v?: unknown } | null | undefined)?.v;
  if (v === CONFERENCE_COMMAND_VERSION) return decodeV2(json, id);
  const d = decode(checkRequest, data, MAX_COMMAND_BYTES.request);
  return d.ok ? d : { ok: false, detail: `${d.reason}: ${d.detail}`, ...id };
}

function decodeV2(json: unknown, id: { id?: string }): DecodedCommand {
  const refuse = (detail: string, code?: CommandErrorCode): DecodedCommand => ({ ok: false, detail, ...id, v: CONFERENCE_COMMAND_VERSION, ...(code ? { code } : {}) });
  if (!checkEnvelopeV2.Check(json)) return refuse(`schema: ${firstError(checkEnvelopeV2, json)}`);
  const checker = Object.hasOwn(V2_CHECKERS, json.command) ? (V2_CHECKERS[json.command as V2CommandName] as TypeCheck<TSchema>) : undefined;
  if (!checker) {
    return refuse(`unknown command ${JSON.stringify(json.command)} in v2; v2 takes ${V2_COMMANDS.join(', ')}`, 'unknown-command');
  }
  if (!checker.Check(json)) return refuse(`schema: ${firstError(checker, json)}`);
  return { ok: true, value: json as V2CommandRequest };
}

function firstError(checker: TypeCheck<TSchema>, value: unknown): string {
  const first = checker.Errors(value).First();
  return first ? `${first.path || '/'}: ${first.message}` : 'does not match schema';
}

/** Reads a v1 reply (to `status`). */
export function decodeCommandReply(data: Uint8Array): Decoded<AgentCommandReply> {
  const d = decode(checkReply, data, MAX_COMMAND_BYTES.reply);
  return d.ok ? { ok: true, value: d.value } : { ok: false, reason: d.reason, detail: d.detail };
}

export type EncodedCommand = { readonly ok: true; readonly data: Uint8Array } | { readonly ok: false; readonly detail: string };

function encode<T extends TSchema>(checker: TypeCheck<T>, value: unknown): EncodedCommand {
  if (!checker.Check(value)) {
    const first = checker.Errors(value).First();
    return { ok: false, detail: first ? `${first.path || '/'}: ${first.message}` : 'does not match schema' };
  }
  return { ok: true, data: new TextEncoder().encode(JSON.stringify(value)) };
}

/** Validated before it is sent: a request or reply that fails its schema is a bug and never leaves. */
export const encodeCommandRequest = (req: AgentCommandRequest): EncodedCommand => encode(checkRequest, req);
export const encodeCommandReply = (reply: AgentCommandReply): EncodedCommand => encode(checkReply, reply);

// ---------------------------------------------------------------------------------------------
// v2: the conference commands (link, unlink, conferences).
//
// A v1 agent refuses a v2 request as `bad-request` (its request schema reads v: 1 only), with a
// v1 error reply: a control plane that sends v2 reads both (decodeConferenceCommandReply). A v1
// control plane never sends v2 and never sees a v2 reply. `status` stays v1 (unchanged); the v2
// error codes are v1's plus `cascade-loop`, which only ever answers a v2 request.
// ---------------------------------------------------------------------------------------------

export const CONFERENCE_COMMAND_VERSION = 2 as const;
export const CONFERENCE_COMMANDS = ['link', 'unlink', 'conferences'] as const;
export type ConferenceCommandName = (typeof CONFERENCE_COMMANDS)[number];

export const CONFERENCE_COMMAND_ERROR_CODES = [...COMMAND_ERROR_CODES, 'cascade-loop'] as const;
/**
 * v1's codes, plus `cascade-loop`: a `link` for a room whose only members here are links that
 * arrived from another node (dialling out would cascade the leg back; a node never dials out
 * for a room it only holds because another node linked it in).
 * `bad-request` also covers a room this node does not host and malformed args.
 */
export type ConferenceCommandErrorCode = (typeof CONFERENCE_COMMAND_ERROR_CODES)[number];

/** `sip:host:port` (IPv4, [IPv6] or a name), nothing else: it goes into a FreeSWITCH dial string unquoted. */
export const LINK_SIP_URI_PATTERN = '^sip:(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\\[[0-9A-Fa-f:.]{2,45}\\]):[0-9]{1,5}$';
const LinkSipUri = (description: string) => Type.String({ pattern: LINK_SIP_URI_PATTERN, maxLength: 192, description });

export const DEFAULT_LINK_MEDIA_TIMEOUT_MS = 10_000;

export const LinkArgs = Type.Object(
  {
    room: RoomName,
    linkId: LinkId,
    target: LinkSipUri('The node to reach, sent as X-SBC-Target'),
    via: LinkSipUri('The Kamailio the call goes through (the dial string host)'),
    mediaTimeoutMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3_600_000, description: `Default ${DEFAULT_LINK_MEDIA_TIMEOUT_MS}` })),
  },
  { additionalProperties: false },
);
export type LinkArgs = Static<typeof LinkArgs>;

export const UnlinkArgs = Type.Object({ room: RoomName, linkId: LinkId }, { additionalProperties: false });
export type UnlinkArgs = Static<typeof UnlinkArgs>;

const envelopeV2 = {
  v: Type.Literal(CONFERENCE_COMMAND_VERSION),
  id: CommandId,
  nodeId: NodeId,
  sentAt: SentAt,
};

export const LinkRequest = Type.Object({ ...envelopeV2, command: Type.Literal('link'), args: LinkArgs }, { additionalProperties: false, $id: 'AgentLinkRequestV2' });
export type LinkRequest = Static<typeof LinkRequest>;
export const UnlinkRequest = Type.Object({ ...envelopeV2, command: Type.Literal('unlink'), args: UnlinkArgs }, { additionalProperties: false, $id: 'AgentUnlinkRequestV2' });
export type UnlinkRequest = Static<typeof UnlinkRequest>;
export const ConferencesRequest = Type.Object({ ...envelopeV2, command: Type.Literal('conferences') }, { additionalProperties: false, $id: 'AgentConferencesRequestV2' });
export type ConferencesRequest = Static<typeof ConferencesRequest>;
export type ConferenceCommandRequest = LinkRequest | UnlinkRequest | ConferencesRequest;

// Node control (v2 too): what a drain needs of FreeSWITCH itself.

/**
 * `pause-inbound`: `fsctl pause inbound` (paused: true) or `fsctl resume inbound` (false).
 * Only inbound: captured, a `conference dial` while fully paused (`fsctl pause`) fails
 * DESTINATION_OUT_OF_ORDER, while paused inbound only it works, so cascade links out of a
 * draining node keep working. New INVITEs are answered 503 with Retry-After.
 */
export const NODE_CONTROL_COMMANDS = ['pause-inbound', 'hangup-all'] as const;
export type NodeControlCommandName = (typeof NODE_CONTROL_COMMANDS)[number];

/**
 * The causes a forced hang-up may state: FreeSWITCH's names (switch_channel_str2cause); a
 * fixed list, since the name goes into an api command and an unknown name would be taken as
 * some other cause.
 */
export const HANGUP_CAUSES = ['MANAGER_REQUEST', 'NORMAL_CLEARING', 'SYSTEM_SHUTDOWN', 'NORMAL_TEMPORARY_FAILURE', 'SWITCH_CONGESTION', 'CALL_REJECTED'] as const;
export type HangupCause = (typeof HANGUP_CAUSES)[number];
export const HangupCauseSchema = Type.Union(HANGUP_CAUSES.map((c) => Type.Literal(c)), { description: 'The hang-up cause stated to both sides' });

export const PauseInboundRequest = Type.Object(
  { ...envelopeV2, command: Type.Literal('pause-inbound'), args: Type.Object({ paused: Type.Boolean() }, { additionalProperties: false }) },
  { additionalProperties: false, $id: 'AgentPauseInboundRequestV2' },
);
export type PauseInboundRequest = Static<typeof PauseInboundRequest>;
export const HangupAllRequest = Type.Object(
  { ...envelopeV2, command: Type.Literal('hangup-all'), args: Type.Object({ cause: HangupCauseSchema }, { additionalProperties: false }) },
  { additionalProperties: false, $id: 'AgentHangupAllRequestV2' },
);
export type HangupAllRequest = Static<typeof HangupAllRequest>;
export type NodeControlRequest = PauseInboundRequest | HangupAllRequest;
/** Every v2 request: the conference commands and node control. */
export type V2CommandRequest = ConferenceCommandRequest | NodeControlRequest;

const replyEnvelopeV2 = { v: Type.Literal(CONFERENCE_COMMAND_VERSION), id: CommandId, nodeId: NodeId, ok: Type.Literal(true) };

export const LinkReply = Type.Object(
  {
    ...replyEnvelopeV2,
    command: Type.Literal('link'),
    result: Type.Object({ jobUuid: Type.String({ pattern: FsUuid.pattern, description: 'The conference job (bgdial-result Job-UUID)' }) }, { additionalProperties: false }),
  },
  { additionalProperties: false, $id: 'AgentLinkReplyV2' },
);
export type LinkReply = Static<typeof LinkReply>;

export const UnlinkReply = Type.Object(
  {
    ...replyEnvelopeV2,
    command: Type.Literal('unlink'),
    result: Type.Object(
      {
        found: Type.Boolean({ description: 'false: no link member with that id in that room (already gone): nothing to do' }),
        memberId: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, description: 'The member hung up' })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, $id: 'AgentUnlinkReplyV2' },
);
export type UnlinkReply = Static<typeof UnlinkReply>;

export const ConferencesResult = Type.Object(
  {
    rooms: Type.Array(RoomSnapshot, { maxItems: MAX_ROOMS_PER_SNAPSHOT }),
    omitted: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    readAt: SentAt,
  },
  { additionalProperties: false },
);
export type ConferencesResult = Static<typeof ConferencesResult>;

export const ConferencesReply = Type.Object(
  { ...replyEnvelopeV2, command: Type.Literal('conferences'), result: ConferencesResult },
  { additionalProperties: false, $id: 'AgentConferencesReplyV2' },
);
export type ConferencesReply = Static<typeof ConferencesReply>;

export const ConferenceCommandErrorReply = Type.Object(
  {
    v: Type.Literal(CONFERENCE_COMMAND_VERSION),
    id: Type.Optional(CommandId),
    nodeId: Type.Optional(NodeId),
    ok: Type.Literal(false),
    error: Type.Object(
      {
        code: Type.Union(CONFERENCE_COMMAND_ERROR_CODES.map((c) => Type.Literal(c))),
        message: Type.String({ minLength: 1, maxLength: 512 }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, $id: 'AgentConferenceCommandErrorV2' },
);
export type ConferenceCommandErrorReply = Static<typeof ConferenceCommandErrorReply>;

export const PauseInboundReply = Type.Object(
  {
    ...replyEnvelopeV2,
    command: Type.Literal('pause-inbound'),
    result: Type.Object({ inboundPaused: Type.Boolean({ description: '`fsctl pause_check inbound` after the change' }) }, { additionalProperties: false }),
  },
  { additionalProperties: false, $id: 'AgentPauseInboundReplyV2' },
);
export type PauseInboundReply = Static<typeof PauseInboundReply>;

export const HangupAllReply = Type.Object(
  {
    ...replyEnvelopeV2,
    command: Type.Literal('hangup-all'),
    result: Type.Object({ cause: HangupCauseSchema }, { additionalProperties: false }),
  },
  { additionalProperties: false, $id: 'AgentHangupAllReplyV2' },
);
export type HangupAllReply = Static<typeof HangupAllReply>;

/** What an agent sends in answer to a v2 request. */
export const ConferenceCommandReply = Type.Union([LinkReply, UnlinkReply, ConferencesReply, PauseInboundReply, HangupAllReply, ConferenceCommandErrorReply]);
export type ConferenceCommandReply = Static<typeof ConferenceCommandReply>;

const checkAnyJson = TypeCompiler.Compile(Type.Unknown());
const checkEnvelopeV2 = TypeCompiler.Compile(
  Type.Object({ ...envelopeV2, command: Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }), args: Type.Optional(Type.Unknown()) }, { additionalProperties: false }),
);
const V2_CHECKERS = {
  link: TypeCompiler.Compile(LinkRequest),
  unlink: TypeCompiler.Compile(UnlinkRequest),
  conferences: TypeCompiler.Compile(ConferencesRequest),
  'pause-inbound': TypeCompiler.Compile(PauseInboundRequest),
  'hangup-all': TypeCompiler.Compile(HangupAllRequest),
} as const;
/** Every command v2 takes. */
export const V2_COMMANDS = [...CONFERENCE_COMMANDS, ...NODE_CONTROL_COMMANDS] as const;
export type V2CommandName = (typeof V2_COMMANDS)[number];
const checkV2Request = TypeCompiler.Compile(Type.Union([LinkRequest, UnlinkRequest, ConferencesRequest, PauseInboundRequest, HangupAllRequest]));
const checkV2Reply = TypeCompiler.Compile(ConferenceCommandReply);
/** What a v2 requester may get: a v2 reply, or a v1 agent's v1 refusal of the v2 request. */
const checkV2Answer = TypeCompiler.Compile(Type.Union([LinkReply, UnlinkReply, ConferencesReply, PauseInboundReply, HangupAllReply, ConferenceCommandErrorReply, CommandErrorReply]));

/** A v2 request the node control machine carries out (the rest go to the conference machine). */
export const isNodeControlRequest = (r: V2CommandRequest): r is NodeControlRequest => (NODE_CONTROL_COMMANDS as readonly string[]).includes(r.command);

/**
 * The control plane's reader of the answer to a v2 request: a v2 reply, or (from an agent that
 * predates v2) a v1 `bad-request` refusal. Bounded by the larger v2 reply limit (a rooms list).
 */
export function decodeConferenceCommandReply(data: Uint8Array): Decoded<ConferenceCommandReply | CommandErrorReply> {
  const d = decode(checkV2Answer, data, MAX_COMMAND_BYTES.conferenceReply);
  return d.ok ? { ok: true, value: d.value } : { ok: false, reason: d.reason, detail: d.detail };
}

/** Validated before it is sent, like v1's. */
export const encodeConferenceCommandRequest = (req: V2CommandRequest): EncodedCommand => encode(checkV2Request, req);
export const encodeConferenceCommandReply = (reply: ConferenceCommandReply): EncodedCommand => {
  const e = encode(checkV2Reply, reply);
  if (e.ok && e.data.byteLength > MAX_COMMAND_BYTES.conferenceReply) return { ok: false, detail: `${e.data.byteLength} bytes > ${MAX_COMMAND_BYTES.conferenceReply}` };
  return e;
};

/** Request builders for the control plane: the envelope filled in, args as given (validated when encoded). */
export const linkRequest = (q: { id: string; nodeId: string; sentAt: number; args: LinkArgs }): LinkRequest => ({ v: CONFERENCE_COMMAND_VERSION, command: 'link', ...q });
export const unlinkRequest = (q: { id: string; nodeId: string; sentAt: number; args: UnlinkArgs }): UnlinkRequest => ({ v: CONFERENCE_COMMAND_VERSION, command: 'unlink', ...q });
export const conferencesRequest = (q: { id: string; nodeId: string; sentAt: number }): ConferencesRequest => ({ v: CONFERENCE_COMMAND_VERSION, command: 'conferences', ...q });
export const pauseInboundRequest = (q: { id: string; nodeId: string; sentAt: number; paused: boolean }): PauseInboundRequest => ({
  v: CONFERENCE_COMMAND_VERSION,
  command: 'pause-inbound',
  id: q.id,
  nodeId: q.nodeId,
  sentAt: q.sentAt,
  args: { paused: q.paused },
});
export const hangupAllRequest = (q: { id: string; nodeId: string; sentAt: number; cause: HangupCause }): HangupAllRequest => ({
  v: CONFERENCE_COMMAND_VERSION,
  command: 'hangup-all',
  id: q.id,
  nodeId: q.nodeId,
  sentAt: q.sentAt,
  args: { cause: q.cause },
});

export { LINK_ID_PATTERN, ROOM_NAME_PATTERN };

/** The agent's encoder for any reply: by its version, v1 (status, v1 refusals) or v2. */
export function encodeAnyCommandReply(reply: AgentCommandReply | ConferenceCommandReply): EncodedCommand {
  return reply.v === CONFERENCE_COMMAND_VERSION ? encodeConferenceCommandReply(reply) : encodeCommandReply(reply);
}
