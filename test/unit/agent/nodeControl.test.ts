import { describe, expect, it } from 'vitest';
import { decideNodeControl, INITIAL_NODE_CONTROL, type NodeControlAction, type NodeControlState } from '../../../src/agent/nodeControl.js';
import { decodeCommandRequest, encodeConferenceCommandReply, encodeConferenceCommandRequest, hangupAllRequest, pauseInboundRequest } from '../../../src/events/commands.js';
import type { ApiReply } from '../../../src/agent/esl.js';
import { apiOutput } from './captures.js';

const NODE = 'a390bc47-c291-42a6-ab48-b98639106ceb';
const ok = (output: string): ApiReply => ({ ok: true, output });

function command(req: ReturnType<typeof pauseInboundRequest> | ReturnType<typeof hangupAllRequest>, state: NodeControlState = INITIAL_NODE_CONTROL) {
  return decideNodeControl(state, { kind: 'node-control-command', request: req, replyTo: '_INBOX.1' });
}

function apiOf(actions: readonly NodeControlAction[]) {
  const a = actions.find((x) => x.kind === 'node-control-api');
  if (a?.kind !== 'node-control-api') throw new Error(`no api action in ${JSON.stringify(actions)}`);
  return a;
}

function replyOf(actions: readonly NodeControlAction[]) {
  const a = actions.find((x) => x.kind === 'reply-v2');
  if (a?.kind !== 'reply-v2') throw new Error(`no reply in ${JSON.stringify(actions)}`);
  // Every reply the machine makes must pass the shared schema (the outbox would refuse it).
  expect(encodeConferenceCommandReply(a.reply)).toMatchObject({ ok: true });
  return a.reply;
}

describe('node control: pause-inbound', () => {
  it('runs fsctl pause inbound, then answers with what pause_check inbound reads (cascade-a-api)', () => {
    const first = command(pauseInboundRequest({ id: 'p1', nodeId: NODE, sentAt: 1, paused: true }));
    const pause = apiOf(first.actions);
    expect(pause.command).toBe('fsctl pause inbound');
    const second = decideNodeControl(first.state, { kind: 'node-control-api-done', token: pause.token, reply: ok(apiOutput('cascade-a-api', 'fsctl pause inbound')) });
    const check = apiOf(second.actions);
    expect(check.command).toBe('fsctl pause_check inbound');
    const third = decideNodeControl(second.state, { kind: 'node-control-api-done', token: check.token, reply: ok(apiOutput('cascade-a-api', 'fsctl pause_check inbound', 0)) });
    expect(replyOf(third.actions)).toEqual({ v: 2, id: 'p1', nodeId: NODE, ok: true, command: 'pause-inbound', result: { inboundPaused: true } });
    expect(third.state.pending).toEqual({});
    expect(third.state.counts).toMatchObject({ paused: 1, resumed: 0, failed: 0 });
  });

  it('never runs plain fsctl pause: resume is `fsctl resume inbound` and reads back false', () => {
    const first = command(pauseInboundRequest({ id: 'r1', nodeId: NODE, sentAt: 1, paused: false }));
    const resume = apiOf(first.actions);
    expect(resume.command).toBe('fsctl resume inbound');
    const second = decideNodeControl(first.state, { kind: 'node-control-api-done', token: resume.token, reply: ok(apiOutput('cascade-a-api', 'fsctl resume inbound')) });
    const check = apiOf(second.actions);
    const third = decideNodeControl(second.state, { kind: 'node-control-api-done', token: check.token, reply: ok(apiOutput('cascade-a-api', 'fsctl pause_check inbound', 1)) });
    expect(replyOf(third.actions)).toMatchObject({ ok: true, result: { inboundPaused: false } });
    expect(third.state.counts.resumed).toBe(1);
  });

  it('a FreeSWITCH error or timeout is a refusal with its code, and the op is forgotten', () => {
    const first = command(pauseInboundRequest({ id: 'p2', nodeId: NODE, sentAt: 1, paused: true }));
    const { token } = apiOf(first.actions);
    const timedOut = decideNodeControl(first.state, { kind: 'node-control-api-done', token, reply: { ok: false, answered: false, timedOut: true, error: 'EslTimeoutError: 2000 ms' } });
    expect(replyOf(timedOut.actions)).toMatchObject({ ok: false, error: { code: 'timeout' } });
    expect(timedOut.state.pending).toEqual({});
    const refused = decideNodeControl(first.state, { kind: 'node-control-api-done', token, reply: ok('-ERR no reply\n') });
    expect(replyOf(refused.actions)).toMatchObject({ ok: false, error: { code: 'freeswitch-error' } });
    expect(refused.state.counts.failed).toBe(1);
    // An unreadable pause_check is not taken for "not paused".
    const ok1 = decideNodeControl(first.state, { kind: 'node-control-api-done', token, reply: ok('+OK\n') });
    const check = apiOf(ok1.actions);
    const garbled = decideNodeControl(ok1.state, { kind: 'node-control-api-done', token: check.token, reply: ok('maybe') });
    expect(replyOf(garbled.actions)).toMatchObject({ ok: false, error: { code: 'freeswitch-error' } });
  });
});

describe('node control: hangup-all', () => {
  it('runs hupall with the stated cause and checks FreeSWITCH said it (hupall-b-api)', () => {
    const first = command(hangupAllRequest({ id: 'h1', nodeId: NODE, sentAt: 1, cause: 'MANAGER_REQUEST' }));
    const hup = apiOf(first.actions);
    expect(hup.command).toBe('hupall MANAGER_REQUEST');
    const done = decideNodeControl(first.state, { kind: 'node-control-api-done', token: hup.token, reply: ok(apiOutput('hupall-b-api', 'hupall MANAGER_REQUEST')) });
    expect(replyOf(done.actions)).toEqual({ v: 2, id: 'h1', nodeId: NODE, ok: true, command: 'hangup-all', result: { cause: 'MANAGER_REQUEST' } });
    // FreeSWITCH naming another cause than asked is not taken for success.
    const other = decideNodeControl(first.state, { kind: 'node-control-api-done', token: hup.token, reply: ok(apiOutput('hupall-b-api', 'hupall NORMAL_CLEARING')) });
    expect(replyOf(other.actions)).toMatchObject({ ok: false, error: { code: 'freeswitch-error' } });
  });

  it('a cause outside the list never reaches the agent: refused by the shared schema on both sides', () => {
    const bad = { ...hangupAllRequest({ id: 'h2', nodeId: NODE, sentAt: 1, cause: 'MANAGER_REQUEST' }), args: { cause: 'NORMAL_CLEARING; shutdown' } };
    expect(encodeConferenceCommandRequest(bad as never)).toMatchObject({ ok: false });
    const decoded = decodeCommandRequest(new TextEncoder().encode(JSON.stringify(bad)));
    expect(decoded).toMatchObject({ ok: false, id: 'h2', v: 2 });
  });

  it('stop refuses what is in flight not-ready', () => {
    const first = command(hangupAllRequest({ id: 'h3', nodeId: NODE, sentAt: 1, cause: 'SYSTEM_SHUTDOWN' }));
    const stopped = decideNodeControl(first.state, { kind: 'stop' });
    expect(replyOf(stopped.actions)).toMatchObject({ id: 'h3', ok: false, error: { code: 'not-ready' } });
    expect(command(pauseInboundRequest({ id: 'p9', nodeId: NODE, sentAt: 1, paused: true }), stopped.state).actions).toHaveLength(1);
  });
});
