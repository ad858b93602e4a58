import type { NodeMessage } from '../events/schemas.js';
import type { GoneReason, NodeRecord, NodeState } from './node.js';

export type IngestOutcome = 'created' | 'updated' | 'revived' | 'left' | 'stale' | 'unknown-left';

export interface IngestResult {
  readonly outcome: IngestOutcome;
  /** The record to store; undefined means store nothing. */
  readonly next: NodeRecord | undefined;
}

export interface LifecyclePolicy {
  /** A node is dead after this many heartbeat intervals without a message. */
  readonly heartbeatMisses: number;
}

/**
 * Pure: what one validated node message does to the stored record. Messages are
 * accepted only with a sequence number above the stored one, so a late or replayed
 * message can never undo a newer fact (e.g. resurrect a node that said it left).
 */
export function applyNodeMessage(
  current: NodeRecord | undefined,
  message: NodeMessage,
  now: number,
  policy: LifecyclePolicy,
  newSlot: number | undefined,
): IngestResult {
  const { msg } = message;
  if (current && msg.seq <= current.seq) return { outcome: 'stale', next: undefined };

  if (message.kind === 'left') {
    if (!current) return { outcome: 'unknown-left', next: undefined };
    return {
      outcome: 'left',
      next: markGone({ ...current, seq: msg.seq, lastSeenAt: now }, message.msg.reason, now),
    };
  }

  const facts = message.msg;
  const expiresAt = now + policy.heartbeatMisses * facts.heartbeatIntervalMs;
  // What the node says about itself; every accepted message restates all of it.
  const stated = {
    sipUri: facts.sipUri,
    hostname: facts.hostname,
    capacity: facts.capacity,
    sessions: facts.sessions,
    agentVersion: facts.agentVersion,
    heartbeatIntervalMs: facts.heartbeatIntervalMs,
    seq: facts.seq,
    lastSeenAt: now,
    expiresAt,
  };
  if (!current) {
    if (newSlot === undefined) throw new Error('a new node needs a slot');
    return {
      outcome: 'created',
      next: {
        nodeId: facts.nodeId,
        ...stated,
        state: 'joining',
        health: 'healthy',
        slot: newSlot,
        rev: 1,
        joinedAt: now,
        stateChangedAt: now,
      },
    };
  }
  const revived = current.state === 'gone';
  const state: NodeState = revived ? 'joining' : current.state;
  const { goneReason: _dropped, ...rest } = current;
  return {
    outcome: revived ? 'revived' : 'updated',
    next: {
      ...(revived ? rest : current),
      ...stated,
      state,
      rev: current.rev + 1,
      stateChangedAt: revived ? now : current.stateChangedAt,
    },
  };
}

export function markGone(record: NodeRecord, reason: GoneReason, now: number): NodeRecord {
  return { ...record, state: 'gone', goneReason: reason, rev: record.rev + 1, stateChangedAt: now };
}

export function withState(record: NodeRecord, state: NodeState, now: number): NodeRecord {
  return { ...record, state, rev: record.rev + 1, stateChangedAt: now };
}

export interface Housekeeping {
  /** Live nodes whose deadline passed: dead without a word. */
  readonly expired: readonly NodeRecord[];
  /** Live nodes that share an address with a newer node: a restarted FreeSWITCH. */
  readonly superseded: readonly NodeRecord[];
}

/**
 * Pure: which live nodes must be declared gone now. An address hosts one FreeSWITCH
 * process at a time, so when two live nodes claim one SIP URI the one that joined last
 * is the real one and the other is a previous life of that FreeSWITCH.
 */
export function housekeeping(nodes: readonly NodeRecord[], now: number): Housekeeping {
  const live = nodes.filter((n) => n.state !== 'gone');
  const expired = live.filter((n) => n.expiresAt <= now);
  const expiredIds = new Set(expired.map((n) => n.nodeId));
  const newestByUri = new Map<string, NodeRecord>();
  for (const n of live) {
    if (expiredIds.has(n.nodeId)) continue;
    const seen = newestByUri.get(n.sipUri);
    if (!seen || isNewer(n, seen)) newestByUri.set(n.sipUri, n);
  }
  const superseded = live.filter(
    (n) => !expiredIds.has(n.nodeId) && newestByUri.get(n.sipUri)?.nodeId !== n.nodeId,
  );
  return { expired, superseded };
}

function isNewer(a: NodeRecord, b: NodeRecord): boolean {
  if (a.joinedAt !== b.joinedAt) return a.joinedAt > b.joinedAt;
  return a.slot > b.slot;
}

/** The earliest instant at which housekeeping would change something. */
export function nextDeadline(nodes: readonly NodeRecord[]): number | undefined {
  let min: number | undefined;
  for (const n of nodes) {
    if (n.state === 'gone') continue;
    if (min === undefined || n.expiresAt < min) min = n.expiresAt;
  }
  return min;
}
