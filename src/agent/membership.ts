import type { NodeJoined, NodeLeftReason } from '../events/index.js';
import type { FsEventInput } from './fs-events.js';
import type { NodeFacts } from './messages.js';
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
 */
export type MembershipState =
  | { readonly phase: 'unannounced'; readonly retired: readonly string[] }
  | {
      readonly phase: 'up';
      readonly node: NodeFacts;
      readonly sessions: Sessions;
      readonly failedProbes: number;
      readonly retired: readonly string[];
    }
  | { readonly phase: 'stopped' };

export type MembershipInput =
  /** Everything about the FreeSWITCH was read; `sessions` from `status`. */
  | { readonly kind: 'facts-read'; readonly facts: NodeFacts; readonly sessions: number }
  /** The liveness probe (`global_getvar core_uuid`) answered. */
  | { readonly kind: 'probe-ok'; readonly coreUuid: string }
  | { readonly kind: 'probe-failed' }
  /** The periodic `status` re-check. */
  | { readonly kind: 'status-read'; readonly sessions: number; readonly maxSessions: number }
  | FsEventInput
  | { readonly kind: 'reannounce' }
  | { readonly kind: 'stop' };

export type MembershipAction =
  | { readonly kind: 'publish-joined'; readonly node: NodeFacts; readonly sessions: number; readonly reason: NodeJoined['reason'] }
  | { readonly kind: 'publish-heartbeat'; readonly node: NodeFacts; readonly sessions: number }
  | { readonly kind: 'publish-left'; readonly nodeId: string; readonly reason: NodeLeftReason }
  /** Read the FreeSWITCH's facts now instead of at the next tick. */
  | { readonly kind: 'discover' };

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

export const INITIAL_MEMBERSHIP: MembershipState = { phase: 'unannounced', retired: [] };

type Up = Extract<MembershipState, { phase: 'up' }>;

const nothing = (state: MembershipState, note?: string): Decision => (note ? { state, actions: [], note } : { state, actions: [] });

function retire(retired: readonly string[], nodeId: string): readonly string[] {
  return retired.includes(nodeId) ? retired : [...retired, nodeId].slice(-RETIRED_KEPT);
}

/** The announced node is gone; `retireIt` when its id can never come back. */
function leave(state: Up, reason: NodeLeftReason, retireIt: boolean, extra: readonly MembershipAction[] = []): Decision {
  const retired = retireIt ? retire(state.retired, state.node.nodeId) : state.retired;
  return {
    state: { phase: 'unannounced', retired },
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
  return state.phase === 'up' ? decideUp(state, input, policy) : decideUnannounced(state, input);
}

type RunningInput = Exclude<MembershipInput, { kind: 'stop' }>;

function decideUnannounced(state: Extract<MembershipState, { phase: 'unannounced' }>, input: RunningInput): Decision {
  switch (input.kind) {
    case 'facts-read': {
      if (state.retired.includes(input.facts.nodeId)) return nothing(state, `node ${input.facts.nodeId} is retired`);
      const sessions = recount(NO_SESSIONS, input.sessions);
      return {
        state: { phase: 'up', node: input.facts, sessions, failedProbes: 0, retired: state.retired },
        actions: [{ kind: 'publish-joined', node: input.facts, sessions: sessionCount(sessions), reason: 'start' }],
      };
    }
    case 'probe-ok':
    case 'channel-created':
    case 'channel-destroyed':
    case 'fs-heartbeat':
      // FreeSWITCH answers again (or a new one does): find out who it is.
      if (state.retired.includes(input.coreUuid)) return nothing(state, `node ${input.coreUuid} is retired`);
      return { state, actions: [{ kind: 'discover' }] };
    case 'fs-shutdown':
      // Never announce a FreeSWITCH that is on its way out.
      return nothing({ ...state, retired: retire(state.retired, input.coreUuid) }, 'shutdown of an unannounced node');
    case 'probe-failed':
    case 'status-read':
      return nothing(state);
    case 'reannounce':
      return nothing(state, 'no node to reannounce');
  }
}

function decideUp(state: Up, input: RunningInput, policy: MembershipPolicy): Decision {
  const { node } = state;
  if ('coreUuid' in input && input.coreUuid !== node.nodeId) {
    // A late word from an earlier life changes nothing; any other id means FreeSWITCH restarted.
    if (state.retired.includes(input.coreUuid)) return nothing(state, `node ${input.coreUuid} is retired`);
    return leave(state, 'core-uuid-changed', true, [{ kind: 'discover' }]);
  }
  switch (input.kind) {
    case 'facts-read':
      if (input.facts.nodeId !== node.nodeId) {
        if (state.retired.includes(input.facts.nodeId)) return nothing(state, `node ${input.facts.nodeId} is retired`);
        const sessions = recount(NO_SESSIONS, input.sessions);
        return {
          state: { phase: 'up', node: input.facts, sessions, failedProbes: 0, retired: retire(state.retired, node.nodeId) },
          actions: [
            { kind: 'publish-left', nodeId: node.nodeId, reason: 'core-uuid-changed' },
            { kind: 'publish-joined', node: input.facts, sessions: sessionCount(sessions), reason: 'start' },
          ],
        };
      }
      // Same node re-read (after a reconnect): refresh, recount what events may have missed.
      return nothing({ ...state, node: input.facts, sessions: recount(state.sessions, input.sessions) });
    case 'probe-ok':
      return {
        state: state.failedProbes === 0 ? state : { ...state, failedProbes: 0 },
        actions: [{ kind: 'publish-heartbeat', node, sessions: sessionCount(state.sessions) }],
      };
    case 'probe-failed': {
      const failedProbes = state.failedProbes + 1;
      if (failedProbes >= policy.failedProbesBeforeLost) return leave(state, 'esl-lost', false);
      // No heartbeat for a node we cannot vouch for; one more failure and it is lost.
      return nothing({ ...state, failedProbes }, `probe failed ${failedProbes}/${policy.failedProbesBeforeLost}`);
    }
    // A status read and a FreeSWITCH HEARTBEAT carry the same two facts.
    case 'status-read':
    case 'fs-heartbeat':
      return nothing({
        ...state,
        node: input.maxSessions >= 1 ? { ...node, capacity: input.maxSessions } : node,
        sessions: recount(state.sessions, input.sessions),
      });
    case 'channel-created':
      return withSessions(state, channelCreated(state.sessions, input.channelUuid));
    case 'channel-destroyed':
      return withSessions(state, channelDestroyed(state.sessions, input.channelUuid));
    case 'fs-shutdown':
      return leave(state, 'freeswitch-shutdown', true);
    case 'reannounce':
      return { state, actions: [{ kind: 'publish-joined', node, sessions: sessionCount(state.sessions), reason: 'reannounce' }] };
  }
}
