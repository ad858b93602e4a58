import type { Logger } from 'pino';
import { encodeAnyCommandReply, type AgentCommandReply, type ConferenceCommandReply, type Subjects } from '../events/index.js';
import { encodeOutgoing, type Outgoing } from './messages.js';
import type { AgentBus } from './nats.js';

export interface OutboxCounts {
  readonly published: { readonly joined: number; readonly heartbeat: number; readonly left: number; readonly conference: number; readonly rooms: number };
  /** Replies to commands sent. */
  readonly replies: number;
  /** Messages that failed schema validation and were not sent (a bug if ever non-zero). */
  readonly refused: number;
}

/**
 * The one place messages leave the agent: each is validated against the shared schema,
 * published, counted and logged here, whichever machine asked for it. A message that fails
 * validation is a bug in the agent: it is counted and logged, never sent.
 */
export class Outbox {
  private readonly counters = { joined: 0, heartbeat: 0, left: 0, conference: 0, rooms: 0, replies: 0, refused: 0 };

  constructor(
    private readonly bus: AgentBus,
    private readonly subjects: Subjects,
    private readonly log: Logger,
  ) {}

  counts(): OutboxCounts {
    const c = this.counters;
    return { published: { joined: c.joined, heartbeat: c.heartbeat, left: c.left, conference: c.conference, rooms: c.rooms }, replies: c.replies, refused: c.refused };
  }

  /** A node message, on its node's subject. False when it was refused or the bus would not take it. */
  node(out: Outgoing): boolean {
    const log = this.log.child({ nodeId: out.msg.nodeId });
    const encoded = encodeOutgoing(this.subjects, out);
    if (!encoded.ok) {
      this.counters.refused += 1;
      log.error({ kind: out.kind, detail: encoded.detail, message: out.msg }, 'refusing to publish an invalid message');
      return false;
    }
    try {
      this.bus.publish(encoded.subject, encoded.data);
    } catch (err) {
      log.error({ err, kind: out.kind }, 'publish failed');
      return false;
    }
    this.counters[out.kind] += 1;
    const detail = { seq: out.msg.seq, ...('reason' in out.msg ? { reason: out.msg.reason } : {}) };
    if (out.kind === 'heartbeat') log.debug({ ...detail, sessions: out.msg.sessions, blockers: out.msg.blockers }, 'heartbeat published');
    else if (out.kind === 'rooms') log.debug({ ...detail, rooms: out.msg.rooms.length, omitted: out.msg.omitted }, 'rooms published');
    else if (out.kind === 'conference') log.debug({ ...detail, event: out.msg.event, room: out.msg.room, members: out.msg.members, links: out.msg.links }, 'conference published');
    else log.info(detail, `${out.kind} published`);
    return true;
  }

  /** A reply to one command, on the reply subject its request came with. */
  reply(replyTo: string, reply: AgentCommandReply | ConferenceCommandReply): boolean {
    const log = this.log.child({ ...(reply.nodeId !== undefined ? { nodeId: reply.nodeId } : {}), commandId: reply.id });
    const encoded = encodeAnyCommandReply(reply);
    if (!encoded.ok) {
      this.counters.refused += 1;
      log.error({ kind: 'reply', detail: encoded.detail, message: reply }, 'refusing to publish an invalid message');
      return false;
    }
    try {
      this.bus.publish(replyTo, encoded.data);
    } catch (err) {
      log.error({ err, kind: 'reply' }, 'publish failed');
      return false;
    }
    this.counters.replies += 1;
    if (reply.ok) log.debug({ command: reply.command }, 'command answered');
    else log.info({ code: reply.error.code, detail: reply.error.message }, 'command refused');
    return true;
  }
}
