import { describe, expect, it } from 'vitest';
import {
  decodeCommandReply,
  decodeCommandRequest,
  encodeCommandReply,
  encodeCommandRequest,
  type AgentCommandRequest,
  type StatusReply,
} from '../../../src/events/commands.js';
import { MAX_COMMAND_BYTES } from '../../../src/events/limits.js';
import { capturedLiveStatus, MAIN_CORE_UUID } from '../agent/captures.js';

const MAX_MESSAGE_BYTES = MAX_COMMAND_BYTES.request;
import { subjects } from '../../../src/events/subjects.js';

const s = subjects('sbc.test');
const id = MAIN_CORE_UUID;
const enc = (o: unknown) => new TextEncoder().encode(typeof o === 'string' ? o : JSON.stringify(o));
const request: AgentCommandRequest = { v: 1, id: 'req-1', nodeId: id, command: 'status', sentAt: 1_800_000_000_000 };
const statusReply: StatusReply = {
  v: 1,
  id: 'req-1',
  nodeId: id,
  ok: true,
  command: 'status',
  result: capturedLiveStatus(1_800_000_000_001),
};

describe('command subjects', () => {
  it('one subject per node, outside the node-message wildcard agents may publish to', () => {
    expect(s.command(id)).toBe(`sbc.test.cmd.${id}`);
    expect(s.allCommands).toBe('sbc.test.cmd.*');
    // Not a node message subject: the control plane's consumer never takes a command for one.
    expect(s.parseNodeSubject(s.command(id))).toBeUndefined();
    expect(s.command(id).startsWith('sbc.test.node.')).toBe(false);
  });
});

describe('command requests', () => {
  it('a valid request round-trips through encode and decode', () => {
    const encoded = encodeCommandRequest(request);
    expect(encoded.ok).toBe(true);
    expect(encoded.ok && decodeCommandRequest(encoded.data)).toEqual({ ok: true, value: request });
  });

  it('an unknown but well-formed command name is a valid request (the agent answers unknown-command)', () => {
    expect(decodeCommandRequest(enc({ ...request, command: 'reboot' }))).toEqual({ ok: true, value: { ...request, command: 'reboot' } });
  });

  it('a malformed request is refused with a reason, keeping its id when it has a usable one', () => {
    expect(decodeCommandRequest(enc({ ...request, nodeId: 'NOT-A-UUID' }))).toEqual({
      ok: false,
      id: 'req-1',
      detail: expect.stringMatching(/^schema: \/nodeId: /) as unknown,
    });
    expect(decodeCommandRequest(enc({ ...request, extra: 1 }))).toMatchObject({ ok: false, id: 'req-1' });
    expect(decodeCommandRequest(enc({ ...request, id: 'has space' }))).toEqual({ ok: false, detail: expect.stringMatching(/^schema: \/id: /) as unknown });
    expect(decodeCommandRequest(enc('{"v":1,'))).toEqual({ ok: false, detail: expect.stringMatching(/^json: /) as unknown });
    expect(decodeCommandRequest(enc('null'))).toEqual({ ok: false, detail: expect.stringMatching(/^schema: /) as unknown });
    expect(decodeCommandRequest(new Uint8Array(MAX_MESSAGE_BYTES + 1))).toEqual({ ok: false, detail: `too-large: ${MAX_MESSAGE_BYTES + 1} bytes > ${MAX_MESSAGE_BYTES}` });
  });

  it('an invalid request is never encoded', () => {
    expect(encodeCommandRequest({ ...request, nodeId: 'x' })).toEqual({ ok: false, detail: expect.stringMatching(/^\/nodeId: /) as unknown });
  });
});

describe('command replies', () => {
  it('a status reply and an error reply decode as sent', () => {
    const encoded = encodeCommandReply(statusReply);
    expect(encoded.ok && decodeCommandReply(encoded.data)).toEqual({ ok: true, value: statusReply });
    const refusal = { v: 1, id: 'req-1', nodeId: id, ok: false, error: { code: 'wrong-node', message: 'this agent serves another node' } } as const;
    expect(decodeCommandReply(enc(refusal))).toEqual({ ok: true, value: refusal });
    // A bad request may have had no usable id, and an agent without a node has no node id.
    expect(decodeCommandReply(enc({ v: 1, ok: false, error: { code: 'bad-request', message: 'json: ...' } })).ok).toBe(true);
  });

  it('refuses an unknown error code, a result missing a fact, and an ok reply without an id', () => {
    expect(decodeCommandReply(enc({ v: 1, id: 'x', ok: false, error: { code: 'teapot', message: 'no' } }))).toMatchObject({ ok: false, reason: 'schema' });
    const { uptimeMs: _dropped, ...partial } = statusReply.result;
    expect(decodeCommandReply(enc({ ...statusReply, result: partial }))).toMatchObject({ ok: false, reason: 'schema' });
    const { id: _id, ...anonymous } = statusReply;
    expect(decodeCommandReply(enc(anonymous))).toMatchObject({ ok: false, reason: 'schema' });
    expect(encodeCommandReply({ ...statusReply, result: { ...statusReply.result, sessions: -1 } }).ok).toBe(false);
  });
});
