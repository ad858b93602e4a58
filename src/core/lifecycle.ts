import type { NodeHeartbeat, NodeJoined, NodeMessage } from '../events/schemas.js';
import { machineIdOf } from './machine.js';
import { HEARTBEAT_ARRIVALS_KEPT, type GoneReason, type NodeHealth, type NodeLoad, type NodeRecord, type NodeState, type StaleStream } from './node.js';

export type IngestOutcome =
  | 'created'
  | 'updated'
  | 'revived'
  /** A live stream of messages below a stored seq that only a forged message could have set. */
  | 'resynced'
  | 'left'
  | 'stale'
  | 'unknown-left'
  /** Refused: the seq is further ahead of our clock than any agent's can be. */
  | 'seq-ahead';

export interface IngestResult {
  readonly outcome: IngestOutcome;
  /** The record to store; undefined means store nothing. */
  readonly next: NodeRecord | undefined;
}

export interface LifecyclePolicy {
  /** A node is dead after this many heartbeat intervals without a message. */
  readonly heartbeatMisses: number;
  /**
   * How far a message's seq may be ahead of this control plane's clock. An agent's seq is
   * its start-up time in ms plus one per message, so it never runs ahead of the agent's own
   * clock; anything further ahead than the clocks can disagree is forged or broken.
   */
  readonly maxClockSkewMs: number;
}

/** Refused-as-stale messages in a row, over at least one heartbeat interval, that prove a live stream. */
const STALE_STREAM_PROOF = 2;

/**
 * Pure: what one validated node message does to the stored record. Messages are
 * accepted only with a sequence number above the stored one, so a late or replayed
 * message can never undo a newer fact (e.g. resurrect a node that left).
 *
 * Two guards keep one forged message from taking a node out of routing for good (a seq of
 * 2^53 - 1 once made every real message of its node stale for an hour):
 * - a seq further ahead of our clock than `maxClockSkewMs` is refused outright;
 * - a plausible but forged seq (above the agent's, below our clock) is outlived: the real
 *   agent keeps heartbeating in order below it, and once such a stream has lasted a
 *   heartbeat interval with nothing accepted meanwhile, it is adopted (`resynced`). A
 *   replayed or reordered message never forms such a stream: it is one message, and an
 *   agent that left sends nothing more for that node.
 */
export function applyNodeMessage(
  current: NodeRecord | undefined,
  message: NodeMessage,
  now: number,
  policy: LifecyclePolicy,
  /** Required for a new node; for a revived one, replaces its slot when its machine's is taken. */
  newSlot: number | undefined,
): IngestResult {
  const { msg } = message;
  if (msg.seq > now + policy.maxClockSkewMs) return { outcome: 'seq-ahead', next: undefined };
  let resynced = false;
  if (current && msg.seq <= current.seq) {
    const stale = staleMessage(current, message, now);
    if (stale.outcome === 'stale') return stale;
    resynced = true;
  }

  if (message.kind === 'left') {
    if (!current) return { outcome: 'unknown-left', next: undefined };
    const { staleStream: _s, ...rest } = current;
    return {
      outcome: 'left',
      next: markGone({ ...rest, seq: msg.seq, lastSeenAt: now }, message.msg.reason, now),
    };
  }

  const facts = message.msg;
  const expiresAt = now + policy.heartbeatMisses * facts.heartbeatIntervalMs;
  const blockers = facts.blockers ?? [];
  // What the node says about itself; every accepted message restates all of it.
  const stated = {
    sipUri: facts.sipUri,
    hostname: facts.hostname,
    capacity: facts.capacity,
    sessions: facts.sessions,
    agentVersion: facts.agentVersion,
    heartbeatIntervalMs: facts.heartbeatIntervalMs,
    health: healthFrom(blockers),
    blockers,
    seq: facts.seq,
    lastSeenAt: now,
    expiresAt,
    ...loadOf(facts),
  };
  // A revived node's old arrivals say nothing about the gap since it went.
  const arrivals = [...(current && current.state !== 'gone' ? (current.heartbeatArrivals ?? []) : []), now].slice(-HEARTBEAT_ARRIVALS_KEPT);
  if (!current) {
    if (newSlot === undefined) throw new Error('a new node needs a slot');
    return {
      outcome: 'created',
      next: {
        nodeId: facts.nodeId,
        machineId: machineIdOf(facts),
        ...stated,
        state: 'joining',
        slot: newSlot,
        rev: 1,
        joinedAt: now,
        stateChangedAt: now,
        heartbeatArrivals: arrivals,
      },
    };
  }
  const revived = current.state === 'gone';
  const state: NodeState = revived ? 'joining' : current.state;
  // Only a gone node has a goneReason, and reviving it drops the reason.
  const { goneReason: _dropped, staleStream: _stream, load: _load, ...rest } = current;
  return {
    outcome: resynced ? 'resynced' : revived ? 'revived' : 'updated',
    next: {
      ...rest,
      ...stated,
      state,
      slot: revived && newSlot !== undefined ? newSlot : current.slot,
      rev: current.rev + 1,
      stateChangedAt: revived ? now : current.stateChangedAt,
      heartbeatArrivals: arrivals,
    },
  };
}

/** The load facts a message carries; none when it has none (an older agent), so a record never holds an empty load. */
function loadOf(facts: NodeHeartbeat | NodeJoined): { load?: NodeLoad } {
  const load = {
    ...(facts.idleCpuPercent !== undefined ? { idleCpuPercent: facts.idleCpuPercent } : {}),
    ...(facts.sessionsPerSecond !== undefined ? { sessionsPerSecond: facts.sessionsPerSecond } : {}),
    ...(facts.sessionsPerSecondLimit !== undefined ? { sessionsPerSecondLimit: facts.sessionsPerSecondLimit } : {}),
    ...(facts.heartbeatEventAt !== undefined ? { heartbeatEventAt: facts.heartbeatEventAt } : {}),
    ...(facts.heartbeatEventIntervalMs !== undefined ? { heartbeatEventIntervalMs: facts.heartbeatEventIntervalMs } : {}),
  };
  return Object.keys(load).length === 0 ? {} : { load: { ...load, sentAt: facts.sentAt } };
}

/** Stale: refused, but remembered when it continues a stream; or proof enough to adopt it. */
function staleMessage(current: NodeRecord, message: NodeMessage, now: number): IngestResult | { outcome: 'adopt' } {
  if (message.kind === 'left') return { outcome: 'stale', next: undefined };
  const prior = current.staleStream;
  const continues = prior !== undefined && message.msg.seq > prior.lastSeq && prior.since > current.lastSeenAt;
  if (prior !== undefined && message.msg.seq <= prior.lastSeq) return { outcome: 'stale', next: undefined };
  const stream: StaleStream = continues
    ? { lastSeq: message.msg.seq, since: prior.since, count: prior.count + 1 }
    : { lastSeq: message.msg.seq, since: now, count: 1 };
  const live = stream.count >= STALE_STREAM_PROOF && now - stream.since >= current.heartbeatIntervalMs;
  if (live) return { outcome: 'adopt' };
  return { outcome: 'stale', next: { ...current, staleStream: stream, rev: current.rev + 1 } };
}

/** A node that reports something blocking new calls is critical; scoring more is for later. */
export function healthFrom(blockers: readonly string[]): NodeHealth {
  return blockers.length > 0 ? 'critical' : 'healthy';
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
  /** Live nodes that lost their address to another node: a restarted FreeSWITCH, or an intruder. */
  readonly superseded: readonly NodeRecord[];
}

/**
 * How many heartbeat intervals a live node may go unheard and still hold its SIP address
 * against a newcomer. One interval plus half of one absorbs a late heartbeat; a node that
 * missed a whole heartbeat has given its claim up (its FreeSWITCH most likely restarted
 * while its agent was down too, which is the only way a new node appears at a live address
 * without the old one saying `left`).
 */
const ADDRESS_HOLD_INTERVALS = 1.5;

/** Whether a live node still holds its address: its heartbeats arrive on time. */
export function holdsAddress(n: NodeRecord, now: number): boolean {
  return n.state !== 'gone' && now - n.lastSeenAt <= n.heartbeatIntervalMs * ADDRESS_HOLD_INTERVALS;
}

export type AddressClaim =
  | { readonly verdict: 'free' }
  /** Another live node holds the address: the claim is refused. */
  | { readonly verdict: 'held'; readonly holder: NodeRecord }
  /** Other live nodes are listed there, but none holds it any more: they are superseded. */
  | { readonly verdict: 'vacated'; readonly previous: readonly NodeRecord[] };

/**
 * Pure: may `claimantId` take `sipUri`? A `joined` from a new node id naming a live node's
 * address once took that node out of routing (and each of its heartbeats brought it back,
 * to be superseded again). An address hosts one FreeSWITCH, so the node heard from on time
 * keeps it; a newcomer gets it only once every other node there has missed a heartbeat.
 */
export function claimAddress(claimantId: string, sipUri: string, nodes: readonly NodeRecord[], now: number): AddressClaim {
  const others = nodes.filter((n) => n.nodeId !== claimantId && n.sipUri === sipUri && n.state !== 'gone');
  if (others.length === 0) return { verdict: 'free' };
  const holder = others.filter((n) => holdsAddress(n, now)).sort(byJoined)[0];
  return holder ? { verdict: 'held', holder } : { verdict: 'vacated', previous: others };
}

/**
 * Pure: which live nodes must be declared gone now. When several live nodes share a SIP URI
 * (two ingests raced, or a node missed heartbeats after a newcomer was refused), the
 * earliest-joined node that still holds the address keeps it; if none holds it, the newest
 * does. Every other node there is superseded.
 */
export function housekeeping(nodes: readonly NodeRecord[], now: number, heardSince: number | null = 0): Housekeeping {
  const live = nodes.filter((n) => n.state !== 'gone');
  const expired = live.filter((n) => expiryAt(n, heardSince) <= now);
  const expiredIds = new Set(expired.map((n) => n.nodeId));
  const byUri = new Map<string, NodeRecord[]>();
  for (const n of live) {
    if (expiredIds.has(n.nodeId)) continue;
    byUri.set(n.sipUri, [...(byUri.get(n.sipUri) ?? []), n]);
  }
  const superseded: NodeRecord[] = [];
  for (const group of byUri.values()) {
    if (group.length < 2) continue;
    const holder = group.filter((n) => holdsAddress(n, now)).sort(byJoined)[0];
    const owner = holder ?? group.reduce((a, b) => (isNewer(b, a) ? b : a));
    superseded.push(...group.filter((n) => n.nodeId !== owner.nodeId));
  }
  return { expired, superseded };
}

function byJoined(a: NodeRecord, b: NodeRecord): number {
  return a.joinedAt - b.joinedAt || a.slot - b.slot;
}

function isNewer(a: NodeRecord, b: NodeRecord): boolean {
  if (a.joinedAt !== b.joinedAt) return a.joinedAt > b.joinedAt;
  return a.slot > b.slot;
}

/** The earliest instant at which housekeeping would change something. */
export function nextDeadline(nodes: readonly NodeRecord[], heardSince: number | null = 0): number | undefined {
  let min: number | undefined;
  for (const n of nodes) {
    if (n.state === 'gone') continue;
    const at = expiryAt(n, heardSince);
    if (at !== Infinity && (min === undefined || at < min)) min = at;
  }
  return min;
}

/**
 * When a silent node may be taken for dead, given since when this replica has heard NATS
 * without a break (`heardSince`; null while it hears nothing at all): at its deadline, but
 * never before a whole heartbeat window (deadline - last seen) of hearing. A control plane
 * cut off from NATS hears no heartbeat from any node; without this a NATS restart longer than
 * the window would take every node out of routing at once.
 */
export function expiryAt(n: Pick<NodeRecord, 'expiresAt' | 'lastSeenAt'>, heardSince: number | null): number {
  if (heardSince === null) return Infinity;
  return Math.max(n.expiresAt, heardSince + (n.expiresAt - n.lastSeenAt));
}
