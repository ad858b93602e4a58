import type { LoadFacts, NodeBlocker } from '../events/schemas.js';

/**
 * A FreeSWITCH node as the registry stores it. Identity is the Core-UUID: a restarted
 * FreeSWITCH is a new node even at the same address.
 *
 * Lifecycle (stored state, reconciled): joining -> active -> draining -> drained -> gone.
 * `joining` becomes `active` once every Kamailio reports the destination; `gone` is final
 * for routing, though a newer message from the same process revives it (a healed partition).
 */
export const NODE_STATES = ['joining', 'active', 'draining', 'drained', 'gone'] as const;
export type NodeState = (typeof NODE_STATES)[number];

export const NODE_HEALTH = ['healthy', 'degraded', 'critical'] as const;
export type NodeHealth = (typeof NODE_HEALTH)[number];

export type GoneReason =
  | 'agent-stopping'
  | 'freeswitch-shutdown'
  | 'esl-lost'
  | 'core-uuid-changed'
  | 'expired'
  | 'superseded';

export interface NodeRecord {
  readonly nodeId: string;
  /**
   * The machine it runs on (machine.ts): where the operator's intent and the slot live. Set
   * when the node is created and kept for its lifetime, like the slot it took there.
   */
  readonly machineId: string;
  readonly sipUri: string;
  readonly hostname: string;
  readonly capacity: number;
  readonly sessions: number;
  readonly agentVersion: string;
  readonly heartbeatIntervalMs: number;
  readonly state: NodeState;
  readonly health: NodeHealth;
  /**
   * Unique among live nodes; becomes the dispatcher priority so hash order is stable. Taken
   * from the node's machine, so a FreeSWITCH restarted there keeps its predecessor's.
   */
  readonly slot: number;
  /** Highest message sequence number accepted from this node. */
  readonly seq: number;
  /** Record revision for compare-and-set writes. */
  readonly rev: number;
  readonly joinedAt: number;
  readonly lastSeenAt: number;
  /** After this instant (ms) without a message the node counts as dead. */
  readonly expiresAt: number;
  readonly stateChangedAt: number;
  readonly goneReason?: GoneReason;
  /** What the agent's last probe found that stops new calls (profile down, inbound paused). */
  readonly blockers?: readonly NodeBlocker[];
  /**
   * Messages refused as stale that keep arriving in order: a live stream below the stored
   * seq, which only a message with a forged seq can cause (see lifecycle.ts).
   */
  readonly staleStream?: StaleStream;
  /** FreeSWITCH's load as its last accepted message stated it; absent from agents that send none. */
  readonly load?: NodeLoad;
  /**
   * When the control plane accepted the node's last messages (its own clock, ms), oldest
   * first, at most HEARTBEAT_ARRIVALS_KEPT: what the heartbeat age and jitter sensors read.
   */
  readonly heartbeatArrivals?: readonly number[];
}

/** How many arrival times a record keeps: enough gaps for a jitter mean, bounded in size. */
export const HEARTBEAT_ARRIVALS_KEPT = 8;

/**
 * The load facts an agent reads from FreeSWITCH's HEARTBEAT event and `fsctl sps`, as its
 * last message carried them (events/schemas.ts LoadFacts), and when it sent that message
 * (agent clock): ages are measured against it.
 */
export type NodeLoad = LoadFacts & { readonly sentAt: number };

export interface StaleStream {
  readonly lastSeq: number;
  /** When the first message of the stream was refused. */
  readonly since: number;
  readonly count: number;
}

/** A node may take new calls only in a state that allows them and with nothing blocking them. */
export function acceptsCalls(n: Pick<NodeRecord, 'state' | 'blockers'>): boolean {
  return takesNewCalls(n.state) && (n.blockers ?? []).length === 0;
}

/** States whose nodes keep a dispatcher row. */
export function inRouting(state: NodeState): boolean {
  return state !== 'gone';
}

/** States whose rows may receive new calls (flag 0); the others are rows flagged disabled. */
export function takesNewCalls(state: NodeState): boolean {
  return state === 'joining' || state === 'active';
}
