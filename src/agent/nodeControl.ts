import { CONFERENCE_COMMAND_VERSION, type ConferenceCommandErrorCode, type ConferenceCommandReply, type HangupCause, type NodeControlRequest } from '../events/index.js';
import type { ApiReply } from './esl.js';
import { parseInboundPaused } from './fs-output.js';
import { inputKinds, type Decision, type Machine } from './machine.js';

/**
 * The agent's node control (v2 `pause-inbound`, `hangup-all`) as a pure machine: what a drain
 * asks of FreeSWITCH itself. `pause-inbound` runs `fsctl pause inbound` (or `resume inbound`)
 * and answers with `fsctl pause_check inbound` read after it, so the reply states what
 * FreeSWITCH holds, not what was asked. Never plain `fsctl pause`: it stops outbound legs too,
 * and a draining node's cascade links dial out (captured: `conference dial` while fully paused
 * fails DESTINATION_OUT_OF_ORDER). `hangup-all` runs `hupall <cause>` (hupall-b-api.esl:
 * `+OK hangup all channels with cause MANAGER_REQUEST`).
 */
interface Waiter {
  readonly id: string;
  readonly nodeId: string;
  readonly replyTo: string;
}

type PendingOp =
  | { readonly op: 'pause'; readonly waiter: Waiter; readonly paused: boolean }
  | { readonly op: 'pause-check'; readonly waiter: Waiter }
  | { readonly op: 'hupall'; readonly waiter: Waiter; readonly cause: HangupCause };

export interface NodeControlState {
  readonly pending: Readonly<Record<number, PendingOp>>;
  readonly nextToken: number;
  readonly stopped: boolean;
  readonly counts: { readonly paused: number; readonly resumed: number; readonly hungUp: number; readonly failed: number };
}

export type NodeControlInput =
  | { readonly kind: 'node-control-command'; readonly request: NodeControlRequest; readonly replyTo: string }
  | { readonly kind: 'node-control-api-done'; readonly token: number; readonly reply: ApiReply }
  | { readonly kind: 'stop' };

export type NodeControlAction =
  /** Run this api command and feed the answer back as `node-control-api-done` with this token. */
  | { readonly kind: 'node-control-api'; readonly token: number; readonly command: string }
  | { readonly kind: 'reply-v2'; readonly replyTo: string; readonly reply: ConferenceCommandReply };

export const INITIAL_NODE_CONTROL: NodeControlState = { pending: {}, nextToken: 1, stopped: false, counts: { paused: 0, resumed: 0, hungUp: 0, failed: 0 } };

export const nodeControlMachine: Machine<NodeControlState, NodeControlInput, NodeControlAction> = {
  name: 'node-control',
  initial: INITIAL_NODE_CONTROL,
  takes: inputKinds<NodeControlInput['kind']>({ 'node-control-command': true, 'node-control-api-done': true, stop: true }),
  decide: decideNodeControl,
};

type Result = Decision<NodeControlState, NodeControlAction>;

function refusal(w: Waiter, code: ConferenceCommandErrorCode, message: string): NodeControlAction {
  return { kind: 'reply-v2', replyTo: w.replyTo, reply: { v: CONFERENCE_COMMAND_VERSION, id: w.id, nodeId: w.nodeId, ok: false, error: { code, message: message.slice(0, 512) } } };
}

function start(state: NodeControlState, op: PendingOp, command: string): Result {
  const token = state.nextToken;
  return { state: { ...state, nextToken: token + 1, pending: { ...state.pending, [token]: op } }, actions: [{ kind: 'node-control-api', token, command }] };
}

function failed(state: NodeControlState, w: Waiter, what: string, reply: ApiReply): Result {
  const next = { ...state, counts: { ...state.counts, failed: state.counts.failed + 1 } };
  if (reply.ok) return { state: next, actions: [refusal(w, 'freeswitch-error', `${what} answered ${JSON.stringify(reply.output.trim().slice(0, 120))}`)] };
  const code: ConferenceCommandErrorCode = reply.answered ? 'freeswitch-error' : reply.timedOut ? 'timeout' : 'not-ready';
  return { state: next, actions: [refusal(w, code, `${what}: ${reply.error}`)] };
}

export function decideNodeControl(state: NodeControlState, input: NodeControlInput): Result {
  switch (input.kind) {
    case 'node-control-command': {
      const { request, replyTo } = input;
      const waiter: Waiter = { id: request.id, nodeId: request.nodeId, replyTo };
      if (state.stopped) return { state, actions: [refusal(waiter, 'not-ready', 'the agent is stopping')] };
      if (request.command === 'pause-inbound') {
        const { paused } = request.args;
        return start(state, { op: 'pause', waiter, paused }, paused ? 'fsctl pause inbound' : 'fsctl resume inbound');
      }
      return start(state, { op: 'hupall', waiter, cause: request.args.cause }, `hupall ${request.args.cause}`);
    }
    case 'node-control-api-done':
      return apiDone(state, input.token, input.reply);
    case 'stop': {
      if (state.stopped) return { state, actions: [], note: 'already stopped' };
      const waiters = Object.values(state.pending).map((p) => p.waiter);
      return { state: { ...state, stopped: true, pending: {} }, actions: waiters.map((w) => refusal(w, 'not-ready', 'the agent is stopping')) };
    }
  }
}

function apiDone(state: NodeControlState, token: number, reply: ApiReply): Result {
  const op = state.pending[token];
  if (!op) return { state, actions: [], note: `api ${token} is no longer awaited` };
  const pending = { ...state.pending };
  delete pending[token];
  const base: NodeControlState = { ...state, pending };
  switch (op.op) {
    case 'pause': {
      const what = op.paused ? 'fsctl pause inbound' : 'fsctl resume inbound';
      if (!reply.ok || !reply.output.startsWith('+OK')) return failed(base, op.waiter, what, reply);
      const counts = op.paused ? { ...base.counts, paused: base.counts.paused + 1 } : { ...base.counts, resumed: base.counts.resumed + 1 };
      return start({ ...base, counts }, { op: 'pause-check', waiter: op.waiter }, 'fsctl pause_check inbound');
    }
    case 'pause-check': {
      const inboundPaused = reply.ok ? parseInboundPaused(reply.output) : undefined;
      if (inboundPaused === undefined) return failed(base, op.waiter, 'fsctl pause_check inbound', reply);
      const w = op.waiter;
      return { state: base, actions: [{ kind: 'reply-v2', replyTo: w.replyTo, reply: { v: CONFERENCE_COMMAND_VERSION, id: w.id, nodeId: w.nodeId, ok: true, command: 'pause-inbound', result: { inboundPaused } } }] };
    }
    case 'hupall': {
      if (!reply.ok || !reply.output.startsWith(`+OK hangup all channels with cause ${op.cause}`)) return failed(base, op.waiter, `hupall ${op.cause}`, reply);
      const w = op.waiter;
      return {
        state: { ...base, counts: { ...base.counts, hungUp: base.counts.hungUp + 1 } },
        actions: [{ kind: 'reply-v2', replyTo: w.replyTo, reply: { v: CONFERENCE_COMMAND_VERSION, id: w.id, nodeId: w.nodeId, ok: true, command: 'hangup-all', result: { cause: op.cause } } }],
      };
    }
  }
}
