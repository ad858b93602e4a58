import {
  encodeChecked,
  SCHEMA_VERSION,
  type NodeHeartbeat,
  type NodeJoined,
  type NodeLeft,
  type NodeBlocker,
  type NodeConference,
  type NodeLeftReason,
  type NodeRooms,
  type RoomSnapshot,
  type Subjects,
} from '../events/index.js';
import type { NodeLoad } from './node-load.js';

/**
 * What the agent knows about the FreeSWITCH it announces; the node id is its Core-UUID. The
 * load fields are there only once known (node-load.ts).
 */
export interface NodeFacts extends NodeLoad {
  readonly nodeId: string;
  readonly sipUri: string;
  readonly hostname: string;
  readonly capacity: number;
  /** What the last probe found that stops new calls, in NODE_BLOCKERS order; empty: none. */
  readonly blockers: readonly NodeBlocker[];
}

export interface AgentIdentity {
  readonly agentVersion: string;
  readonly heartbeatIntervalMs: number;
  /** SBC_MACHINE_ID, when set; without it the control plane derives the machine from the SIP URI. */
  readonly machineId?: string;
}

export type Stamp = { readonly seq: number; readonly sentAt: number };

export type Outgoing =
  | { readonly kind: 'joined'; readonly msg: NodeJoined }
  | { readonly kind: 'heartbeat'; readonly msg: NodeHeartbeat }
  | { readonly kind: 'left'; readonly msg: NodeLeft }
  | { readonly kind: 'conference'; readonly msg: NodeConference }
  | { readonly kind: 'rooms'; readonly msg: NodeRooms };

/**
 * Sequence numbers start at the agent's start-up time in ms and grow by one per message,
 * so a restarted agent continues above anything its previous life sent (it cannot send
 * a thousand messages per millisecond) and the control plane can drop stale messages.
 */
export class SeqCounter {
  private last: number;
  constructor(startedAtMs: number) {
    this.last = Math.floor(startedAtMs) - 1;
  }
  next(): number {
    this.last += 1;
    return this.last;
  }
}

export function joinedMessage(
  facts: NodeFacts,
  sessions: number,
  reason: NodeJoined['reason'],
  stamp: Stamp,
  identity: AgentIdentity,
): Outgoing {
  return { kind: 'joined', msg: { ...heartbeatBody(facts, sessions, stamp, identity), reason } };
}

export function heartbeatMessage(facts: NodeFacts, sessions: number, stamp: Stamp, identity: AgentIdentity): Outgoing {
  return { kind: 'heartbeat', msg: heartbeatBody(facts, sessions, stamp, identity) };
}

export function leftMessage(nodeId: string, reason: NodeLeftReason, stamp: Stamp): Outgoing {
  return { kind: 'left', msg: { v: SCHEMA_VERSION, nodeId, seq: stamp.seq, sentAt: stamp.sentAt, reason } };
}

/** A conference edge; the seq comes from the same counter as the membership messages. */
export function conferenceMessage(body: Omit<NodeConference, 'v' | 'seq' | 'sentAt'>, stamp: Stamp): Outgoing {
  return { kind: 'conference', msg: { v: SCHEMA_VERSION, ...body, seq: stamp.seq, sentAt: stamp.sentAt } };
}

export function roomsMessage(nodeId: string, rooms: readonly RoomSnapshot[], omitted: number | undefined, stamp: Stamp): Outgoing {
  return { kind: 'rooms', msg: { v: SCHEMA_VERSION, nodeId, seq: stamp.seq, sentAt: stamp.sentAt, rooms: [...rooms], ...(omitted !== undefined ? { omitted } : {}) } };
}

function heartbeatBody(facts: NodeFacts, sessions: number, stamp: Stamp, identity: AgentIdentity): NodeHeartbeat {
  return {
    v: SCHEMA_VERSION,
    nodeId: facts.nodeId,
    seq: stamp.seq,
    sentAt: stamp.sentAt,
    sipUri: facts.sipUri,
    hostname: facts.hostname,
    capacity: facts.capacity,
    sessions,
    agentVersion: identity.agentVersion,
    heartbeatIntervalMs: identity.heartbeatIntervalMs,
    // Always present, empty when the node can take calls: the message says what was checked.
    blockers: [...facts.blockers],
    // Only when configured: the default is what every reader derives from sipUri anyway, and
    // leaving it out keeps this agent's messages exactly v1's.
    ...(identity.machineId === undefined ? {} : { machineId: identity.machineId }),
    ...loadFields(facts),
  };
}

/** Each load field the agent knows, and only those: unknown is absent, never 0. */
function loadFields(load: NodeLoad): NodeLoad {
  const out: { -readonly [K in keyof NodeLoad]: NodeLoad[K] } = {};
  if (load.idleCpuPercent !== undefined) out.idleCpuPercent = load.idleCpuPercent;
  if (load.sessionsPerSecond !== undefined) out.sessionsPerSecond = load.sessionsPerSecond;
  if (load.sessionsPerSecondLimit !== undefined) out.sessionsPerSecondLimit = load.sessionsPerSecondLimit;
  if (load.heartbeatEventAt !== undefined) out.heartbeatEventAt = load.heartbeatEventAt;
  if (load.heartbeatEventIntervalMs !== undefined) out.heartbeatEventIntervalMs = load.heartbeatEventIntervalMs;
  return out;
}

export type Encoded = { ok: true; subject: string; data: Uint8Array } | { ok: false; detail: string };

/**
 * Validates against the shared strict schema and the kind's size limit before anything
 * reaches the bus: a bug must not. Readers tolerate unknown fields; this writer never
 * sends one.
 */
export function encodeOutgoing(subjects: Subjects, out: Outgoing): Encoded {
  const checked = encodeChecked(out.kind, out.msg);
  if (!checked.ok) return checked;
  return { ok: true, subject: subjects.node(out.msg.nodeId, out.kind), data: checked.data };
}
