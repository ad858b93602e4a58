import type { NodeBlocker, NodeJoined, NodeLeftReason } from '../events/index.js';
import type { FsEventInput } from './fs-events.js';
import { inputKinds, type Machine } from './machine.js';
import type { NodeFacts } from './messages.js';
import { heartbeatRescheduled, heartbeatSeen, loadOf, type HeartbeatFacts } from './node-load.js';
import { sameBlockers } from './probe.js';
import { channelCreated, channelDestroyed, NO_SESSIONS, recount, sessionCount, type Sessions } from './sessions.js';

/**
 * The agent's decisions, as a pure state machine: given what it believes and one input,
 * what it believes next and what it must publish. The agent shell feeds it inputs from
 * ESL, timers, NATS and signals, and carries out the actions.
 *
 * Identity is the Core-UUID. A node gets exactly one `left`; after a SHUTDOWN or a
 * Core-UUID change its id is retired and never announced again (a dying FreeSWITCH can
 * still answer commands with its old id). After `esl-lost` the same id may come back
 * (the socket healed, the process never died) and is announced again.
 *
 * The machine follows the event socket: a node is announced only from facts read on the
 * connection that is up now, and a closed socket is `left` (esl-lost) at once, whatever the
 * probe tolerance: that tolerance is for a FreeSWITCH that stalls, and a closed socket is
 * not a stall (kill -9 closes it at once; so does a restart).
 *
 * FreeSWITCH's load goes into every `joined` and `heartbeat`: what its last HEARTBEAT (and the
 * RE_SCHEDULE after it) said is kept in `heartbeat`, in either phase (a HEARTBEAT that arrives
 * before the node is announced is often what makes the agent look), and goes out only for the
 * node it came from; `fsctl sps` is read with the facts, and again at each reannounce.
 */
export interface EslView {
  readonly connected: boolean;
  /** The link's connection number (from 1) of the current or last connection. */
  readonly connection: number;
}

export type MembershipState =
  | { readonly phase: 'unannounced'; readonly retired: readonly string[]; readonly esl: EslView; readonly heartbeat?: HeartbeatFacts }
  | {
      readonly phase: 'up';
      readonly node: NodeFacts;
      readonly sessions: Sessions;
      readonly failedProbes: number;
      readonly retired: readonly string[];
      readonly esl: EslView;
      readonly heartbeat?: HeartbeatFacts;
    }
  | { readonly phase: 'stopped' };

export type MembershipInput =
  | { readonly kind: 'esl-connected'; readonly connection: number }
  | { readonly kind: 'esl-disconnected'; readonly connection: number }
  /** Everything about the FreeSWITCH was read on `connection`; `sessions` from `status`. */
  | { readonly kind: 'facts-read'; readonly facts: NodeFacts; readonly sessions: number; readonly connection: number }
  /**
   * The probe answered: the Core-UUID, what stops new calls, and the profile's address when
   * it was read. `tick` probes pace the heartbeats; an `event` probe runs when an api command
   * may have changed readiness and is published only if something did change.
   */
  | {
      readonly kind: 'probe-ok';
      readonly coreUuid: string;
      readonly blockers: readonly NodeBlocker[];
      readonly sipUri: string | undefined;
      readonly trigger: 'tick' | 'event';
    }
  | { readonly kind: 'probe-failed' }
  /** The periodic `status` re-check. */
  | { readonly kind: 'status-read'; readonly sessions: number; readonly maxSessions: number }
  | FsEventInput
  /** `fsctl sps` answered for `nodeId` (a reannounce re-reads it); undefined: the read failed. */
  | { readonly kind: 'session-limit-read'; readonly nodeId: string; readonly limit: number | undefined }
  | { readonly kind: 'reannounce' }
  | { readonly kind: 'stop' };

export type MembershipAction =
  | { readonly kind: 'publish-joined'; readonly node: NodeFacts; readonly sessions: number; readonly reason: NodeJoined['reason'] }
  | { readonly kind: 'publish-heartbeat'; readonly node: NodeFacts; readonly sessions: number }
  | { readonly kind: 'publish-left'; readonly nodeId: string; readonly reason: NodeLeftReason }
  /** Read the FreeSWITCH's facts now instead of at the next tick. */
  | { readonly kind: 'discover' }
  /** Probe now (an `event` probe) instead of at the next tick. */
  | { readonly kind: 'probe' }
  /** Read `fsctl sps` of `nodeId` beside the loop; the answer comes back as `session-limit-read`. */
  | { readonly kind: 'read-session-limit'; readonly nodeId: string };

export interface Decision {
  readonly state: MembershipState;
  readonly actions: readonly MembershipAction[];
  /** Why an input changed nothing, for the debug log. */
  readonly note?: string;
}

export interface MembershipPolicy {
  /** Consecutive failed probes after which FreeSWITCH counts as unreachable. */
  readonly failedProbesBeforeLost: number;
}

/** Enough to recognise the last few FreeSWITCH lives; older ones cannot reappear. */
const RETIRED_KEPT = 8;

export const INITIAL_MEMBERSHIP: MembershipState = { phase: 'unannounced', retired: [], esl: { connected: false, connection: 0 } };

/** The membership machine as the agent shell holds it: every input above, this policy. */
export function membershipMachine(policy: MembershipPolicy): Machine<MembershipState, MembershipInput, MembershipAction> {
  return {
    name: 'membership',
    initial: INITIAL_MEMBERSHIP,
    takes: inputKinds<MembershipInput['kind']>({
      'esl-connected': true,
      'esl-disconnected': true,
      'facts-read': true,
      'probe-ok': true,
      'probe-failed': true,
      'status-read': true,
      'channel-created': true,
      'channel-destroyed': true,
      'fs-heartbeat': true,
      'fs-heartbeat-rescheduled': true,
      'fs-shutdown': true,
      'fs-readiness-command': true,
      'session-limit-read': true,
      reannounce: true,
      stop: true,
    }),
    decide: (state, input) => decide(state, input, policy),
  };
}

/** The node the machine has announced and not yet said `left` for. */
export function announcedNode(state: MembershipState): string | undefined {
  return state.phase === 'up' ? state.node.nodeId : undefined;
}

type Up = Extract<MembershipState, { phase: 'up' }>;

const nothing = (state: MembershipState, note?: string): Decision => (note ? { state, actions: [], note } : { state, actions: [] });

function retire(retired: readonly string[], nodeId: string): readonly string[] {
  return retired.includes(nodeId) ? retired : [...retired, nodeId].slice(-RETIRED_KEPT);
}

/** The node as `joined` and `heartbeat` tell it: its facts and, if they are its own, the HEARTBEAT's. */
function announced(node: NodeFacts, heartbeat: HeartbeatFacts | undefined): NodeFacts {
  return { ...node, ...loadOf(node.nodeId, heartbeat) };
}

/** What a HEARTBEAT or the heartbeat task's RE_SCHEDULE adds to what the last ones said. */
function withHeartbeat(prev: HeartbeatFacts | undefined, input: Extract<MembershipInput, { kind: 'fs-heartbeat' | 'fs-heartbeat-rescheduled' }>): HeartbeatFacts {
  if (input.kind === 'fs-heartbeat-rescheduled') return heartbeatRescheduled(prev, input.coreUuid, input.intervalMs);
  const beat = {
    ...(input.idleCpuPercent === undefined ? {} : { idleCpuPercent: input.idleCpuPercent }),
    ...(input.sessionsPerSecond === undefined ? {} : { sessionsPerSecond: input.sessionsPerSecond }),
  };
  return heartbeatSeen(prev, input.coreUuid, beat, input.receivedAt);
}

/** The announced node is gone; `retireIt` when its id can never come back. */
function leave(state: Up, reason: NodeLeftReason, retireIt: boolean, extra: readonly MembershipAction[] = []): Decision {
  const retired = retireIt ? retire(state.retired, state.node.nodeId) : state.retired;
  // What its HEARTBEATs said stays: after esl-lost the same FreeSWITCH may be announced again.
  const heartbeat = retireIt || !state.heartbeat ? {} : { heartbeat: state.heartbeat };
  return {
    state: { phase: 'unannounced', retired, esl: state.esl, ...heartbeat },
    actions: [{ kind: 'publish-left', nodeId: state.node.nodeId, reason }, ...extra],
  };
}

function withSessions(state: Up, sessions: Sessions): Decision {
  return nothing(sessions === state.sessions ? state : { ...state, sessions });
}

export function decide(state: MembershipState, input: MembershipInput, policy: MembershipPolicy): Decision {
  if (state.phase === 'stopped') return nothing(state, 'stopped');
  if (input.kind === 'stop') {
    if (state.phase !== 'up') return nothing({ phase: 'stopped' });
    return { state: { phase: 'stopped' }, actions: [{ kind: 'publish-left', nodeId: state.node.nodeId, reason: 'agent-stopping' }] };
  }
  if (input.kind === 'esl-connected' || input.kind === 'esl-disconnected') return decideLink(state, input);
  if (input.kind === 'facts-read' && (!state.esl.connected || input.connection !== state.esl.connection)) {
    // Read on a connection that has closed since: events in between are lost, read again.
    return nothing(state, `facts from connection ${input.connection}, now ${state.esl.connection}${state.esl.connected ? '' : ' (down)'}`);
  }
  return state.phase === 'up' ? decideUp(state, input, policy) : decideUnannounced(state, input);
}

type Running = Exclude<MembershipState, { phase: 'stopped' }>;
type LinkInput = Extract<MembershipInput, { kind: 'esl-connected' | 'esl-disconnected' }>;
type RunningInput = Exclude<MembershipInput, { kind: 'stop' } | LinkInput>;

function decideLink(state: Running, input: LinkInput): Decision {
  if (input.kind === 'esl-connected') {
    if (state.esl.connected && state.esl.connection === input.connection) return nothing(state, 'already connected');
    // A new connection is a new subscription: whatever happened in between is unknown.
    return { state: { ...state, esl: { connected: true, connection: input.connection } }, actions: [{ kind: 'discover' }] };
  }
  if (!state.esl.connected || input.connection !== state.esl.connection) return nothing(state, 'event socket already down');
  const esl = { connected: false, connection: input.connection };
  if (state.phase === 'up') return leave({ ...state, esl }, 'esl-lost', false);
  return nothing({ ...state, esl });
}

function decideUnannounced(state: Extract<MembershipState, { phase: 'unannounced' }>, input: RunningInput): Decision {
  // Facts from a closed connection never get here (see decide); nothing else counts while down.
  if (!state.esl.connected) return nothing(state, 'event socket down');
  switch (input.kind) {
    case 'facts-read': {
      if (state.retired.includes(input.facts.nodeId)) return nothing(state, `node ${input.facts.nodeId} is retired`);
      const sessions = recount(NO_SESSIONS, input.sessions);
      const heartbeat = state.heartbeat ? { heartbeat: state.heartbeat } : {};
      return {
        state: { phase: 'up', node: input.facts, sessions, failedProbes: 0, retired: state.retired, esl: state.esl, ...heartbeat },
        actions: [{ kind: 'publish-joined', node: announced(input.facts, state.heartbeat), sessions: sessionCount(sessions), reason: 'start' }],
      };
    }
    case 'fs-heartbeat':
      if (state.retired.includes(input.coreUuid)) return nothing(state, `node ${input.coreUuid} is retired`);
      // Kept for the joined to come, which discovery will publish.
      return { state: { ...state, heartbeat: withHeartbeat(state.heartbeat, input) }, actions: [{ kind: 'discover' }] };
    case 'fs-heartbeat-rescheduled':
      if (state.retired.includes(input.coreUuid)) return nothing(state, `node ${input.coreUuid} is retired`);
      // Follows the HEARTBEAT that already asked for discovery.
      return nothing({ ...state, heartbeat: withHeartbeat(state.heartbeat, input) });
    case 'probe-ok':
    case 'channel-created':
    case 'channel-destroyed':
    case 'fs-readiness-command':
      // FreeSWITCH answers again (or a new one does, or its profile may be back): find out who it is.
      if (state.retired.includes(input.coreUuid)) return nothing(state, `node ${input.coreUuid} is retired`);
      return { state, actions: [{ kind: 'discover' }] };
    case 'fs-shutdown':
      // Never announce a FreeSWITCH that is on its way out.
      return nothing({ ...state, retired: retire(state.retired, input.coreUuid) }, 'shutdown of an unannounced node');
    case 'probe-failed':
    case 'status-read':
      return nothing(state);
    case 'session-limit-read':
      return nothing(state, 'no node announced');
    case 'reannounce':
      return nothing(state, 'no node to reannounce');
  }
}

function decideUp(state: Up, input: RunningInput, policy: MembershipPolicy): Decision {
  const { node } = state;
  if ('coreUuid' in input && input.coreUuid !== node.nodeId) {
    // A late word from an earlier life changes nothing; any other id means FreeSWITCH restarted.
    if (state.retired.includes(input.coreUuid)) return nothing(state, `node ${input.coreUuid} is retired`);
    const left = leave(state, 'core-uuid-changed', true, [{ kind: 'discover' }]);
    // The new process's HEARTBEAT is kept for its joined, as when it arrives before any node is up.
    if (left.state.phase !== 'unannounced' || (input.kind !== 'fs-heartbeat' && input.kind !== 'fs-heartbeat-rescheduled')) return left;
    return { ...left, state: { ...left.state, heartbeat: withHeartbeat(undefined, input) } };
  }
  switch (input.kind) {
    case 'facts-read':
      if (input.facts.nodeId !== node.nodeId) {
        if (state.retired.includes(input.facts.nodeId)) return nothing(state, `node ${input.facts.nodeId} is retired`);
        const sessions = recount(NO_SESSIONS, input.sessions);
        return {
          state: { ...state, node: input.facts, sessions, failedProbes: 0, retired: retire(state.retired, node.nodeId) },
          actions: [
            { kind: 'publish-left', nodeId: node.nodeId, reason: 'core-uuid-changed' },
            { kind: 'publish-joined', node: announced(input.facts, state.heartbeat), sessions: sessionCount(sessions), reason: 'start' },
          ],
        };
      }
      // Same node re-read (after a reconnect): refresh, recount what events may have missed. A
      // failed `fsctl sps` this time does not unlearn this process's limit.
      return nothing({
        ...state,
        node: { ...input.facts, ...limitOf(input.facts.sessionsPerSecondLimit ?? node.sessionsPerSecondLimit) },
        sessions: recount(state.sessions, input.sessions),
      });
    case 'probe-ok': {
      const sipUri = input.sipUri ?? node.sipUri;
      // A stopped profile that comes back elsewhere (new IP, port) moves the node with it.
      const changed = !sameBlockers(node.blockers, input.blockers) || sipUri !== node.sipUri;
      const next: Up = { ...state, node: changed ? { ...node, blockers: input.blockers, sipUri } : node, failedProbes: 0 };
      // A change of readiness goes out at once; an event probe that found none adds nothing.
      if (input.trigger === 'event' && !changed) return nothing(next, 'event probe: readiness unchanged');
      return { state: next, actions: [{ kind: 'publish-heartbeat', node: announced(next.node, state.heartbeat), sessions: sessionCount(state.sessions) }] };
    }
    case 'fs-readiness-command':
      return { state, actions: [{ kind: 'probe' }] };
    case 'probe-failed': {
      const failedProbes = state.failedProbes + 1;
      if (failedProbes >= policy.failedProbesBeforeLost) return leave(state, 'esl-lost', false);
      // No heartbeat for a node we cannot vouch for; one more failure and it is lost.
      return nothing({ ...state, failedProbes }, `probe failed ${failedProbes}/${policy.failedProbesBeforeLost}`);
    }
    // A status read and a FreeSWITCH HEARTBEAT carry the same two facts; the HEARTBEAT its load too.
    case 'status-read':
    case 'fs-heartbeat':
      return nothing({
        ...state,
        node: input.maxSessions >= 1 ? { ...node, capacity: input.maxSessions } : node,
        sessions: recount(state.sessions, input.sessions),
        ...(input.kind === 'fs-heartbeat' ? { heartbeat: withHeartbeat(state.heartbeat, input) } : {}),
      });
    case 'fs-heartbeat-rescheduled':
      return nothing({ ...state, heartbeat: withHeartbeat(state.heartbeat, input) });
    case 'session-limit-read':
      if (input.nodeId !== node.nodeId) return nothing(state, `session limit of ${input.nodeId}, now ${node.nodeId}`);
      // A failed read keeps what this process answered before (the shell logs the failure).
      if (input.limit === undefined || input.limit === node.sessionsPerSecondLimit) return nothing(state);
      return nothing({ ...state, node: { ...node, sessionsPerSecondLimit: input.limit } });
    case 'channel-created':
      return withSessions(state, channelCreated(state.sessions, input.channelUuid));
    case 'channel-destroyed':
      return withSessions(state, channelDestroyed(state.sessions, input.channelUuid));
    case 'fs-shutdown':
      return leave(state, 'freeswitch-shutdown', true);
    case 'reannounce':
      // The joined goes out at once with the limit known now; the re-read lands in the next heartbeat.
      return {
        state,
        actions: [
          { kind: 'publish-joined', node: announced(node, state.heartbeat), sessions: sessionCount(state.sessions), reason: 'reannounce' },
          { kind: 'read-session-limit', nodeId: node.nodeId },
        ],
      };
  }
}

function limitOf(limit: number | undefined): Pick<NodeFacts, 'sessionsPerSecondLimit'> {
  return limit === undefined ? {} : { sessionsPerSecondLimit: limit };
}
