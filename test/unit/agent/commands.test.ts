import { describe, expect, it } from 'vitest';
import { commandsMachine, decideCommands, INITIAL_COMMANDS, type CommandsAction, type CommandsInput, type CommandsState } from '../../../src/agent/commands.js';
import { readLiveStatus } from '../../../src/agent/live-status.js';
import { decodeCommandRequest, encodeAnyCommandReply, type AgentCommandRequest, type StatusResult } from '../../../src/events/commands.js';
import { apiOutput, MAIN_CORE_UUID, RESTARTED_CORE_UUID } from './captures.js';

const enc = (o: unknown) => new TextEncoder().encode(typeof o === 'string' ? o : JSON.stringify(o));
const request = (over: Partial<AgentCommandRequest> = {}): AgentCommandRequest => ({ v: 1, id: 'r1', nodeId: MAIN_CORE_UUID, command: 'status', sentAt: 1, ...over });
/** `replyTo` null: a plain publish, with no reply subject. */
const received = (body: unknown, replyTo: string | null = '_INBOX.a'): CommandsInput => ({
  kind: 'command-received',
  request: decodeCommandRequest(enc(body)),
  replyTo: replyTo ?? undefined,
});
const announced = (nodeId: string | undefined): CommandsInput => ({ kind: 'node-announced', nodeId });

/** The reading of the captured FreeSWITCH (main run, or after its restart), through the real parsers. */
function reading(capture: 'api-replies' | 'api-replies-after-restart' = 'api-replies'): StatusResult {
  const ok = (output: string) => ({ ok: true as const, output });
  const read = readLiveStatus(
    {
      coreUuid: ok(apiOutput(capture, 'global_getvar core_uuid')),
      version: ok(apiOutput(capture, 'version')),
      status: ok(apiOutput(capture, 'status')),
      profile: ok(apiOutput('api-replies', 'sofia status profile internal')),
      inboundPaused: ok(apiOutput('api-replies', 'fsctl pause_check inbound', 1)),
    },
    'internal',
    99,
  );
  if (!read.ok) throw new Error(read.detail);
  return read.result;
}
const statusRead = (token: number, result: StatusResult = reading()): CommandsInput => ({ kind: 'command-status-read', token, read: { ok: true, result } });

function run(inputs: readonly CommandsInput[], from: CommandsState = INITIAL_COMMANDS) {
  let state = from;
  const actions: CommandsAction[] = [];
  for (const input of inputs) {
    const d = decideCommands(state, input);
    state = d.state;
    actions.push(...d.actions);
  }
  return { state, actions };
}

/** The error codes of the replies among `actions`, in order ('ok' for an answer). */
const replies = (actions: readonly CommandsAction[]) => actions.flatMap((a) => (a.kind === 'reply' ? [a.reply.ok ? 'ok' : a.reply.error.code] : []));

const serving = run([announced(MAIN_CORE_UUID)]).state;

describe('commands: which subject the agent listens on', () => {
  it('listens on the announced node; a new node moves the subscription; a left keeps it', () => {
    expect(run([announced(MAIN_CORE_UUID)]).actions).toEqual([{ kind: 'listen', nodeId: MAIN_CORE_UUID }]);
    const afterLeft = run([announced(undefined)], serving);
    expect(afterLeft.actions).toEqual([]);
    expect(afterLeft.state).toMatchObject({ listening: MAIN_CORE_UUID, announced: undefined });
    // The same node back (the socket healed): nothing to change.
    expect(run([announced(MAIN_CORE_UUID)], afterLeft.state).actions).toEqual([]);
    expect(run([announced(RESTARTED_CORE_UUID)], afterLeft.state).actions).toEqual([
      { kind: 'stop-listening', nodeId: MAIN_CORE_UUID },
      { kind: 'listen', nodeId: RESTARTED_CORE_UUID },
    ]);
  });

  it('stop: stops listening, and nothing moves it afterwards', () => {
    const stopped = run([{ kind: 'stop' }], serving);
    expect(stopped.actions).toEqual([{ kind: 'stop-listening', nodeId: MAIN_CORE_UUID }]);
    expect(run([announced(RESTARTED_CORE_UUID), { kind: 'stop' }], stopped.state).actions).toEqual([]);
  });

  it('is one machine the shell can hold: its kinds, its initial state', () => {
    expect([...commandsMachine.takes].sort()).toEqual(['command-received', 'command-status-read', 'node-announced', 'stop']);
    expect(commandsMachine.initial).toBe(INITIAL_COMMANDS);
  });
});

describe('commands: status', () => {
  it('a request for its own node reads FreeSWITCH once, then answers with the reading', () => {
    const asked = run([received(request())], serving);
    expect(asked.actions).toEqual([{ kind: 'read-status', token: 1 }]);
    const answered = run([statusRead(1)], asked.state);
    expect(answered.actions).toEqual([
      { kind: 'reply', replyTo: '_INBOX.a', reply: { v: 1, id: 'r1', nodeId: MAIN_CORE_UUID, ok: true, command: 'status', result: reading() } },
    ]);
    expect(answered.state.reading).toBeUndefined();
    expect(answered.state.counts).toMatchObject({ received: 1, answered: 1 });
    // What the machine replies passes the shared schema.
    const reply = answered.actions[0];
    expect(reply?.kind === 'reply' && encodeAnyCommandReply(reply.reply).ok).toBe(true);
  });

  it('requests arriving while a reading is in flight share it; each is answered with its own id', () => {
    const { state, actions } = run([received(request()), received(request({ id: 'r2' }), '_INBOX.b'), received(request({ id: 'r3' }), '_INBOX.c')], serving);
    expect(actions).toEqual([{ kind: 'read-status', token: 1 }]);
    const done = run([statusRead(1)], state);
    expect(done.actions.map((a) => a.kind === 'reply' && [a.replyTo, a.reply.id, a.reply.ok])).toEqual([
      ['_INBOX.a', 'r1', true],
      ['_INBOX.b', 'r2', true],
      ['_INBOX.c', 'r3', true],
    ]);
    // The next request starts a new reading; a late copy of the old one is ignored.
    const again = run([received(request({ id: 'r4' })), statusRead(1)], done.state);
    expect(again.actions).toEqual([{ kind: 'read-status', token: 2 }]);
  });

  it('a failed reading is answered with its code (timeout, not-ready, freeswitch-error) and detail', () => {
    const { state } = run([received(request())], serving);
    const failed = run([{ kind: 'command-status-read', token: 1, read: { ok: false, code: 'timeout', detail: 'status: EslTimeoutError: no answer' } }], state);
    expect(failed.actions).toEqual([
      { kind: 'reply', replyTo: '_INBOX.a', reply: { v: 1, id: 'r1', nodeId: MAIN_CORE_UUID, ok: false, error: { code: 'timeout', message: 'status: EslTimeoutError: no answer' } } },
    ]);
    expect(failed.state.counts.refused.timeout).toBe(1);
  });

  it('a reading that finds a restarted FreeSWITCH answers wrong-node, never with the new node\'s facts', () => {
    const { state } = run([received(request())], serving);
    const moved = run([statusRead(1, reading('api-replies-after-restart'))], state);
    expect(moved.actions).toEqual([
      {
        kind: 'reply',
        replyTo: '_INBOX.a',
        reply: { v: 1, id: 'r1', nodeId: MAIN_CORE_UUID, ok: false, error: { code: 'wrong-node', message: `FreeSWITCH is now node ${RESTARTED_CORE_UUID}, not ${MAIN_CORE_UUID}` } },
      },
    ]);
  });

  it('stop while a reading is in flight: the waiting requests are told not-ready, the late reading changes nothing', () => {
    const { state } = run([received(request())], serving);
    const stopped = run([{ kind: 'stop' }, statusRead(1)], state);
    expect(replies(stopped.actions)).toEqual(['not-ready']);
    expect(stopped.actions[0]).toEqual({ kind: 'stop-listening', nodeId: MAIN_CORE_UUID });
  });
});

describe('commands: refusals', () => {
  it('another node id: wrong-node, naming the node it serves, whatever the command', () => {
    const { actions } = run([received(request({ nodeId: RESTARTED_CORE_UUID })), received(request({ nodeId: RESTARTED_CORE_UUID, command: 'reboot' }))], serving);
    expect(replies(actions)).toEqual(['wrong-node', 'wrong-node']);
    expect(actions[0]).toEqual({
      kind: 'reply',
      replyTo: '_INBOX.a',
      reply: { v: 1, id: 'r1', nodeId: MAIN_CORE_UUID, ok: false, error: { code: 'wrong-node', message: `this agent serves node ${MAIN_CORE_UUID}, not ${RESTARTED_CORE_UUID}` } },
    });
  });

  it('an unknown command: unknown-command, saying which it takes', () => {
    const { actions, state } = run([received(request({ command: 'reboot' }))], serving);
    expect(actions).toEqual([
      { kind: 'reply', replyTo: '_INBOX.a', reply: { v: 1, id: 'r1', nodeId: MAIN_CORE_UUID, ok: false, error: { code: 'unknown-command', message: 'unknown command "reboot"; this agent takes status' } } },
    ]);
    expect(state.counts.refused['unknown-command']).toBe(1);
  });

  it('a malformed request: bad-request with its id when it had one, without when not; no reply subject: counted, not answered', () => {
    const { actions, state } = run([received({ ...request(), nodeId: 'x' }), received('{"v":1,', '_INBOX.b'), received(request(), null)], serving);
    expect(actions.map((a) => a.kind === 'reply' && [a.replyTo, a.reply.id, a.reply.ok === false && a.reply.error.code])).toEqual([
      ['_INBOX.a', 'r1', 'bad-request'],
      ['_INBOX.b', undefined, 'bad-request'],
    ]);
    expect(state.counts).toMatchObject({ received: 3, unanswerable: 1, refused: { 'bad-request': 2 } });
  });

  it('its node after a left: not-ready without reading FreeSWITCH; the agent stopping: not-ready', () => {
    const left = run([announced(undefined), received(request())], serving);
    expect(left.actions).toEqual([
      {
        kind: 'reply',
        replyTo: '_INBOX.a',
        reply: { v: 1, id: 'r1', nodeId: MAIN_CORE_UUID, ok: false, error: { code: 'not-ready', message: `node ${MAIN_CORE_UUID} is not announced now (FreeSWITCH lost, shut down or restarting)` } },
      },
    ]);
    expect(replies(run([{ kind: 'stop' }, received(request())], serving).actions)).toEqual(['not-ready']);
  });

  it('before any node: wrong-node, and the reply names no node', () => {
    const { actions } = run([received(request())]);
    expect(actions).toEqual([
      { kind: 'reply', replyTo: '_INBOX.a', reply: { v: 1, id: 'r1', ok: false, error: { code: 'wrong-node', message: `this agent serves no node yet, not ${MAIN_CORE_UUID}` } } },
    ]);
  });

  it('every refusal passes the shared reply schema, even with a very long detail', () => {
    const { state } = run([received(request())], serving);
    const long = run([{ kind: 'command-status-read', token: 1, read: { ok: false, code: 'freeswitch-error', detail: 'x'.repeat(5000) } }], state);
    const all = [...long.actions, ...run([received({ ...request(), v: 2 }), received(request({ command: 'reboot' }))], serving).actions];
    for (const a of all) expect(a.kind === 'reply' && encodeAnyCommandReply(a.reply).ok).toBe(true);
  });
});

describe('commands: v2 (the conference commands)', () => {
  const conferences = (over: Record<string, unknown> = {}) => ({ v: 2, id: 'c1', nodeId: MAIN_CORE_UUID, sentAt: 1, command: 'conferences', ...over });

  it('a valid v2 request on the served, announced node is handed to the conference machine', () => {
    const { actions, state } = run([received(conferences())], serving);
    expect(actions).toEqual([{ kind: 'conference-command', request: conferences(), replyTo: '_INBOX.a' }]);
    expect(state.reading).toBeUndefined();
  });

  it('v2 refusals are v2 replies with the v2 codes: wrong node, not announced, stopping, malformed, unknown v2 command', () => {
    const codes = (inputs: CommandsInput[], from = serving) =>
      run(inputs, from).actions.flatMap((a) => (a.kind === 'reply' ? [[a.reply.v, a.reply.ok === false && a.reply.error.code]] : []));
    expect(codes([received(conferences({ nodeId: RESTARTED_CORE_UUID }))])).toEqual([[2, 'wrong-node']]);
    expect(codes([announced(undefined), received(conferences())])).toEqual([[2, 'not-ready']]);
    expect(codes([{ kind: 'stop' }, received(conferences())])).toEqual([[2, 'not-ready']]);
    expect(codes([received(conferences({ command: 'link', args: { room: 'a b' } }))])).toEqual([[2, 'bad-request']]);
    expect(codes([received(conferences({ command: 'status' }))])).toEqual([[2, 'unknown-command']]);
    // v1 stays v1.
    expect(codes([received(request({ command: 'link' }))])).toEqual([[1, 'unknown-command']]);
    for (const a of run([received(conferences({ nodeId: RESTARTED_CORE_UUID })), received(conferences({ command: 'x' }))], serving).actions) {
      expect(a.kind === 'reply' && encodeAnyCommandReply(a.reply).ok).toBe(true);
    }
  });
});
