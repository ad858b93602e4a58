import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { Decoded } from './decoded.js';
import { MAX_COMMAND_BYTES } from './limits.js';
import { NodeBlocker, NodeId } from './schemas.js';

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

export type DecodedCommand = { readonly ok: true; readonly value: AgentCommandRequest } | { readonly ok: false; readonly detail: string; readonly id?: string };

/** Validates one request as it arrived; a refusal keeps the request's id when it has a usable one. */
export function decodeCommandRequest(data: Uint8Array): DecodedCommand {
  const d = decode(checkRequest, data, MAX_COMMAND_BYTES.request);
  if (d.ok) return d;
  const id = (d.json as { id?: unknown } | null | undefined)?.id;
  const detail = `${d.reason}: ${d.detail}`;
  return typeof id === 'string' && COMMAND_ID.test(id) ? { ok: false, detail, id } : { ok: false, detail };
}

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
