import {
  AGENT_COMMANDS,
  CONFERENCE_COMMAND_ERROR_CODES,
  CONFERENCE_COMMAND_VERSION,
  COMMAND_SCHEMA_VERSION,
  type AgentCommandReply,
  type ConferenceCommandErrorCode,
  type ConferenceCommandReply,
  type ConferenceCommandRequest,
  type DecodedCommand,
  isNodeControlRequest,
  type NodeControlRequest,
} from '../events/index.js';
import type { LiveStatusRead } from './live-status.js';
import { inputKinds, type Decision, type Machine } from './machine.js';

/**
 * The agent's command channel as a pure machine: which node's command subject it listens on,
 * which requests it refuses and why, and when it reads FreeSWITCH to answer one.
 *
 * It listens on the subject of the node the membership machine announces, from before that
 * node's `joined` goes out (so a control plane that hears `joined` can ask at once) until
 * another node is announced or the agent stops. After a `left` the subject stays, so a
 * request for that node is told `not-ready` instead of meeting silence. Requests that arrive
 * while a reading is in flight share it: a burst of requests costs FreeSWITCH one reading
 * at a time. A reading that finds another Core-UUID than the one a request named (FreeSWITCH
 * restarted meanwhile) answers that request `wrong-node`, never with another node's facts.
 */
interface Waiter {
  readonly id: string;
  readonly nodeId: string;
  readonly replyTo: string;
}

export interface CommandsState {
  /** The node whose command subject the agent listens on. */
  readonly listening: string | undefined;
  /** The node the membership machine announces now (undefined after its `left`). */
  readonly announced: string | undefined;
  /** The FreeSWITCH reading in flight and the requests waiting for it. */
  readonly reading: { readonly token: number; readonly waiting: readonly Waiter[] } | undefined;
  readonly nextToken: number;
  readonly stopped: boolean;
  readonly counts: {
    readonly received: number;
    readonly answered: number;
    /** By code; v2 refusals by the conference machine are not counted here. */
    readonly refused: Readonly<Record<ConferenceCommandErrorCode, number>>;
    /** Requests without a reply subject: nobody to answer. */
    readonly unanswerable: number;
  };
}

export type CommandsInput =
  /** The membership machine's announced node changed (undefined: it said `left`). */
  | { readonly kind: 'node-announced'; readonly nodeId: string | undefined }
  | { readonly kind: 'command-received'; readonly request: DecodedCommand; readonly replyTo: string | undefined }
  | { readonly kind: 'command-status-read'; readonly token: number; readonly read: LiveStatusRead }
  | { readonly kind: 'stop' };

export type CommandsAction =
  | { readonly kind: 'listen'; readonly nodeId: string }
  | { readonly kind: 'stop-listening'; readonly nodeId: string }
  /** Read FreeSWITCH's live status and feed it back as `command-status-read` with this token. */
  | { readonly kind: 'read-status'; readonly token: number }
  | { readonly kind: 'reply'; readonly replyTo: string; readonly reply: AgentCommandReply | ConferenceCommandReply }
  /** A v2 request that passed the channel's checks: for the conference machine to carry out. */
  | { readonly kind: 'conference-command'; readonly request: ConferenceCommandRequest; readonly replyTo: string }
  /** A v2 node control request (pause-inbound, hangup-all) that passed the channel's checks: for the node control machine. */
  | { readonly kind: 'node-control-command'; readonly request: NodeControlRequest; readonly replyTo: string };

const NO_REFUSALS = Object.fromEntries(CONFERENCE_COMMAND_ERROR_CODES.map((c) => [c, 0])) as Record<ConferenceCommandErrorCode, number>;

export const INITIAL_COMMANDS: CommandsState = {
  listening: undefined,
  announced: undefined,
  reading: undefined,
  nextToken: 1,
  stopped: false,
  counts: { received: 0, answered: 0, refused: NO_REFUSALS, unanswerable: 0 },
};

export const commandsMachine: Machine<CommandsState, CommandsInput, CommandsAction> = {
  name: 'commands',
  initial: INITIAL_COMMANDS,
  takes: inputKinds<CommandsInput['kind']>({ 'node-announced': true, 'command-received': true, 'command-status-read': true, stop: true }),
  decide: decideCommands,
};

type Result = Decision<CommandsState, CommandsAction>;
type ReplyAction = Extract<CommandsAction, { kind: 'reply' }>;

const nothing = (state: CommandsState, note?: string): Result => (note ? { state, actions: [], note } : { state, actions: [] });

/** A refusal in the request's version: v1's codes in a v1 reply, v2's (`cascade-loop` too) only in a v2 one. */
function refusal(state: CommandsState, replyTo: string, id: string | undefined, code: ConferenceCommandErrorCode, message: string, v: 1 | 2 = COMMAND_SCHEMA_VERSION): ReplyAction {
  const common = {
    ...(id !== undefined ? { id } : {}),
    ...(state.listening !== undefined ? { nodeId: state.listening } : {}),
    ok: false as const,
  };
  // The schema's bound: a detail quoted from FreeSWITCH or a decoder must not make the reply invalid.
  const text = message.slice(0, 512);
  if (v === CONFERENCE_COMMAND_VERSION) return { kind: 'reply', replyTo, reply: { v: CONFERENCE_COMMAND_VERSION, ...common, error: { code, message: text } } };
  return { kind: 'reply', replyTo, reply: { v: COMMAND_SCHEMA_VERSION, ...common, error: { code: code === 'cascade-loop' ? 'bad-request' : code, message: text } } };
}

/** Counts every reply among `actions` as answered or refused by its code. */
function counted(state: CommandsState, actions: readonly CommandsAction[]): CommandsState {
  let { answered } = state.counts;
  const refused = { ...state.counts.refused };
  for (const a of actions) {
    if (a.kind !== 'reply') continue;
    if (a.reply.ok) answered += 1;
    else refused[a.reply.error.code] += 1;
  }
  return { ...state, counts: { ...state.counts, answered, refused } };
}

const replying = (state: CommandsState, actions: readonly CommandsAction[]): Result => ({ state: counted(state, actions), actions });

export function decideCommands(state: CommandsState, input: CommandsInput): Result {
  switch (input.kind) {
    case 'node-announced':
      return announced(state, input.nodeId);
    case 'command-received':
      return received({ ...state, counts: { ...state.counts, received: state.counts.received + 1 } }, input.request, input.replyTo);
    case 'command-status-read':
      return statusRead(state, input.token, input.read);
    case 'stop': {
      if (state.stopped) return nothing(state, 'already stopped');
      const waiting = state.reading?.waiting ?? [];
      const next: CommandsState = { ...state, stopped: true, reading: undefined };
      const actions: CommandsAction[] = [
        ...(state.listening !== undefined ? [{ kind: 'stop-listening' as const, nodeId: state.listening }] : []),
        ...waiting.map((w) => refusal(next, w.replyTo, w.id, 'not-ready', 'the agent is stopping')),
      ];
      return replying(next, actions);
    }
  }
}

function announced(state: CommandsState, nodeId: string | undefined): Result {
  if (state.stopped) return nothing(state, 'stopped');
  if (nodeId === undefined || nodeId === state.listening) return nothing({ ...state, announced: nodeId });
  return {
    state: { ...state, announced: nodeId, listening: nodeId },
    actions: [...(state.listening !== undefined ? [{ kind: 'stop-listening' as const, nodeId: state.listening }] : []), { kind: 'listen', nodeId }],
  };
}

function received(state: CommandsState, request: DecodedCommand, replyTo: string | undefined): Result {
  if (replyTo === undefined) {
    return nothing({ ...state, counts: { ...state.counts, unanswerable: state.counts.unanswerable + 1 } }, 'a command without a reply subject');
  }
  if (!request.ok) return replying(state, [refusal(state, replyTo, request.id, request.code ?? 'bad-request', request.detail, request.v)]);
  const { id, nodeId, command } = request.value;
  const v = request.value.v;
  if (state.stopped) return replying(state, [refusal(state, replyTo, id, 'not-ready', 'the agent is stopping', v)]);
  if (nodeId !== state.listening) {
    const serves = state.listening === undefined ? 'no node yet' : `node ${state.listening}`;
    return replying(state, [refusal(state, replyTo, id, 'wrong-node', `this agent serves ${serves}, not ${nodeId}`, v)]);
  }
  if (v === COMMAND_SCHEMA_VERSION && !(AGENT_COMMANDS as readonly string[]).includes(command)) {
    return replying(state, [refusal(state, replyTo, id, 'unknown-command', `unknown command ${JSON.stringify(command)}; this agent takes ${AGENT_COMMANDS.join(', ')}`)]);
  }
  if (state.announced !== nodeId) {
    return replying(state, [refusal(state, replyTo, id, 'not-ready', `node ${nodeId} is not announced now (FreeSWITCH lost, shut down or restarting)`, v)]);
  }
  if (request.value.v === CONFERENCE_COMMAND_VERSION) {
    const v2 = request.value;
    return { state, actions: [isNodeControlRequest(v2) ? { kind: 'node-control-command', request: v2, replyTo } : { kind: 'conference-command', request: v2, replyTo }] };
  }
  const waiter: Waiter = { id, nodeId, replyTo };
  if (state.reading) return nothing({ ...state, reading: { ...state.reading, waiting: [...state.reading.waiting, waiter] } });
  const token = state.nextToken;
  return { state: { ...state, reading: { token, waiting: [waiter] }, nextToken: token + 1 }, actions: [{ kind: 'read-status', token }] };
}

function statusRead(state: CommandsState, token: number, read: LiveStatusRead): Result {
  if (state.reading?.token !== token) return nothing(state, `reading ${token} is no longer awaited`);
  const next: CommandsState = { ...state, reading: undefined };
  const actions = state.reading.waiting.map((w): ReplyAction => {
    if (!read.ok) return refusal(next, w.replyTo, w.id, read.code, read.detail);
    if (read.result.coreUuid !== w.nodeId) {
      return refusal(next, w.replyTo, w.id, 'wrong-node', `FreeSWITCH is now node ${read.result.coreUuid}, not ${w.nodeId}`);
    }
    return {
      kind: 'reply',
      replyTo: w.replyTo,
      reply: { v: COMMAND_SCHEMA_VERSION, id: w.id, nodeId: w.nodeId, ok: true, command: 'status', result: read.result },
    };
  });
  return replying(next, actions);
}
