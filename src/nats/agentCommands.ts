import { randomUUID } from 'node:crypto';
import { errors, type NatsConnection } from '@nats-io/transport-node';
import {
  COMMAND_SCHEMA_VERSION,
  decodeCommandReply,
  encodeCommandRequest,
  type AgentCommandName,
  type CommandErrorCode,
  type StatusResult,
  type StatusReply,
  decodeConferenceCommandReply,
  encodeConferenceCommandRequest,
  linkRequest,
  unlinkRequest,
  type ConferenceCommandErrorCode,
  type LinkArgs,
  type LinkRequest,
  type UnlinkArgs,
  type UnlinkRequest,
  hangupAllRequest,
  pauseInboundRequest,
  type HangupCause,
  type V2CommandRequest,
  type V2CommandName,
} from '../events/commands.js';
import type { Subjects } from '../events/subjects.js';

/** What the control plane can ask one node's agent. */
export interface AgentCommands {
  /** The node's live FreeSWITCH facts, as its agent reads them now. */
  status(nodeId: string): Promise<StatusResult>;
}

/** The conference commands (v2): cascade links between nodes' conferences of one room. */
export interface LinkCommands {
  /** The node dials the room on `args.target` through `args.via`; resolves once FreeSWITCH took the bgdial. */
  link(nodeId: string, args: LinkArgs): Promise<{ jobUuid: string }>;
  /** The node hangs up the link member with that id (idempotent: `found: false` when none). */
  unlink(nodeId: string, args: UnlinkArgs): Promise<{ found: boolean }>;
}

/** What a drain asks of a node's FreeSWITCH (v2 node control). */
export interface NodeControlCommands {
  /** `fsctl pause inbound` (true) or `resume inbound` (false); resolves with what `pause_check inbound` says after it. */
  pauseInbound(nodeId: string, paused: boolean): Promise<{ inboundPaused: boolean }>;
  /** `hupall <cause>`: every call on the node ends with that cause. */
  hangupAll(nodeId: string, cause: HangupCause): Promise<{ cause: HangupCause }>;
}

type CommandName = AgentCommandName | V2CommandName;

/**
 * No answer from the node's agent: none within the timeout, or none listening on the node's
 * command subject at all (NATS "no responders": the agent is down, or the node restarted and
 * its agent now serves a new node id).
 */
export class AgentCommandTimeoutError extends Error {
  override readonly name = 'AgentCommandTimeoutError';
  constructor(
    readonly nodeId: string,
    readonly command: CommandName,
    readonly reason: 'no-answer' | 'no-responders',
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(
      reason === 'no-responders'
        ? `no agent is listening for node ${nodeId}'s commands (agent down, or the node restarted as another node id)`
        : `the agent of node ${nodeId} did not answer ${command} within ${timeoutMs} ms`,
      options,
    );
  }
}

/** The agent answered with an error (its code), or with a reply that is not a valid one (`invalid-reply`). */
export class AgentCommandRefusedError extends Error {
  override readonly name = 'AgentCommandRefusedError';
  constructor(
    readonly nodeId: string,
    readonly command: CommandName,
    readonly code: CommandErrorCode | ConferenceCommandErrorCode | 'invalid-reply',
    readonly detail: string,
  ) {
    super(`the agent of node ${nodeId} could not answer ${command}: ${code}: ${detail}`);
  }
}

export interface NatsAgentCommandsDeps {
  readonly nats: Pick<NatsConnection, 'request'>;
  readonly subjects: Subjects;
  /** How long one command waits for its reply. */
  readonly timeoutMs: number;
  readonly newId?: () => string;
  readonly now?: () => number;
}

/** Commands by NATS request/reply on `{prefix}.cmd.{nodeId}`; replies validated against the shared schema. */
export class NatsAgentCommands implements AgentCommands, LinkCommands, NodeControlCommands {
  private readonly newId: () => string;
  private readonly now: () => number;

  constructor(private readonly deps: NatsAgentCommandsDeps) {
    this.newId = deps.newId ?? (() => randomUUID());
    this.now = deps.now ?? Date.now;
  }

  async status(nodeId: string): Promise<StatusResult> {
    const reply = await this.ask(nodeId, 'status');
    return reply.result;
  }

  async link(nodeId: string, args: LinkArgs): Promise<{ jobUuid: string }> {
    const r = await this.askV2(nodeId, linkRequest({ id: this.newId(), nodeId, sentAt: this.now(), args }));
    if (r.command !== 'link') throw new AgentCommandRefusedError(nodeId, 'link', 'invalid-reply', `a ${r.command} reply`);
    return r.result;
  }

  async unlink(nodeId: string, args: UnlinkArgs): Promise<{ found: boolean }> {
    const r = await this.askV2(nodeId, unlinkRequest({ id: this.newId(), nodeId, sentAt: this.now(), args }));
    if (r.command !== 'unlink') throw new AgentCommandRefusedError(nodeId, 'unlink', 'invalid-reply', `a ${r.command} reply`);
    return r.result;
  }

  async pauseInbound(nodeId: string, paused: boolean): Promise<{ inboundPaused: boolean }> {
    const r = await this.askV2(nodeId, pauseInboundRequest({ id: this.newId(), nodeId, sentAt: this.now(), paused }));
    if (r.command !== 'pause-inbound') throw new AgentCommandRefusedError(nodeId, 'pause-inbound', 'invalid-reply', `a ${r.command} reply`);
    return r.result;
  }

  async hangupAll(nodeId: string, cause: HangupCause): Promise<{ cause: HangupCause }> {
    const r = await this.askV2(nodeId, hangupAllRequest({ id: this.newId(), nodeId, sentAt: this.now(), cause }));
    if (r.command !== 'hangup-all') throw new AgentCommandRefusedError(nodeId, 'hangup-all', 'invalid-reply', `a ${r.command} reply`);
    return r.result;
  }

  private async askV2(nodeId: string, req: LinkRequest | UnlinkRequest | V2CommandRequest) {
    const encoded = encodeConferenceCommandRequest(req);
    if (!encoded.ok) throw new Error(`refusing to send an invalid ${req.command} request: ${encoded.detail}`);
    const data = await this.send(nodeId, req.command, encoded.data);
    const decoded = decodeConferenceCommandReply(data);
    if (!decoded.ok) throw new AgentCommandRefusedError(nodeId, req.command, 'invalid-reply', `${decoded.reason}: ${decoded.detail}`);
    const reply = decoded.value;
    if (reply.id !== undefined && reply.id !== req.id) throw new AgentCommandRefusedError(nodeId, req.command, 'invalid-reply', `answers request ${reply.id}, not ${req.id}`);
    if (!reply.ok) throw new AgentCommandRefusedError(nodeId, req.command, reply.error.code, reply.error.message);
    if (reply.nodeId !== nodeId) throw new AgentCommandRefusedError(nodeId, req.command, 'invalid-reply', `a reply for node ${reply.nodeId}`);
    return reply;
  }

  private async send(nodeId: string, command: CommandName, payload: Uint8Array): Promise<Uint8Array> {
    const { timeoutMs } = this.deps;
    try {
      return (await this.deps.nats.request(this.deps.subjects.command(nodeId), payload, { timeout: timeoutMs })).data;
    } catch (err) {
      if (err instanceof errors.TimeoutError) throw new AgentCommandTimeoutError(nodeId, command, 'no-answer', timeoutMs, { cause: err });
      if (err instanceof errors.RequestError && err.isNoResponders()) {
        throw new AgentCommandTimeoutError(nodeId, command, 'no-responders', timeoutMs, { cause: err });
      }
      throw err;
    }
  }

  private async ask(nodeId: string, command: AgentCommandName): Promise<StatusReply> {
    const id = this.newId();
    const encoded = encodeCommandRequest({ v: COMMAND_SCHEMA_VERSION, id, nodeId, command, sentAt: this.now() });
    if (!encoded.ok) throw new Error(`refusing to send an invalid ${command} request: ${encoded.detail}`);
    const data = await this.send(nodeId, command, encoded.data);
    const decoded = decodeCommandReply(data);
    if (!decoded.ok) throw new AgentCommandRefusedError(nodeId, command, 'invalid-reply', `${decoded.reason}: ${decoded.detail}`);
    const reply = decoded.value;
    if (reply.id !== undefined && reply.id !== id) throw new AgentCommandRefusedError(nodeId, command, 'invalid-reply', `answers request ${reply.id}, not ${id}`);
    if (!reply.ok) throw new AgentCommandRefusedError(nodeId, command, reply.error.code, reply.error.message);
    if (reply.nodeId !== nodeId || reply.command !== command) {
      throw new AgentCommandRefusedError(nodeId, command, 'invalid-reply', `a ${reply.command} reply for node ${reply.nodeId}`);
    }
    return reply;
  }
}
