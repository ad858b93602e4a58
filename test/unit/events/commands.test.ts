import { describe, expect, it } from 'vitest';
import {
  conferencesRequest,
  decodeConferenceCommandReply,
  encodeConferenceCommandReply,
  encodeConferenceCommandRequest,
  linkRequest,
  unlinkRequest,
  type ConferenceCommandReply,
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

describe('v2: the conference commands', () => {
  const link = linkRequest({ id: 'l1', nodeId: id, sentAt: 5, args: { room: '3000', linkId: 'a-b_1', target: 'sip:10.0.0.2:5080', via: 'sip:10.0.0.1:5060' } });

  it('link, unlink and conferences requests round-trip through the strict encoder and the agent decoder', () => {
    const unlink = unlinkRequest({ id: 'u1', nodeId: id, sentAt: 6, args: { room: '3000', linkId: 'a-b_1' } });
    const conferences = conferencesRequest({ id: 'c1', nodeId: id, sentAt: 7 });
    for (const r of [link, { ...link, args: { ...link.args, mediaTimeoutMs: 5000, via: 'sip:[::1]:5060' } }, unlink, conferences]) {
      const e = encodeConferenceCommandRequest(r);
      if (!e.ok) throw new Error(e.detail);
      expect(decodeCommandRequest(e.data)).toEqual({ ok: true, value: r });
    }
  });

  it('refuses malformed args as v2 bad-request, keeping the id; an unknown v2 command is unknown-command', () => {
    const bad = (args: object) => decodeCommandRequest(enc({ ...link, args: { ...link.args, ...args } }));
    expect(bad({ room: '3000;x' })).toMatchObject({ ok: false, id: 'l1', v: 2, detail: expect.stringContaining('/args/room') as unknown });
    expect(bad({ linkId: 'a,b' })).toMatchObject({ ok: false, v: 2, detail: expect.stringContaining('/args/linkId') as unknown });
    // Anything that would need quoting in a FreeSWITCH dial string, or is not exactly sip:host:port.
    for (const uri of ['sip:10.0.0.2', 'sip:10.0.0.2:5080;transport=tcp', 'sip:a,b:5080', 'sip:x}y:5080', 'sips:10.0.0.2:5061', 'sip:u@10.0.0.2:5080', "sip:'h':5080"]) {
      expect(bad({ target: uri }), uri).toMatchObject({ ok: false, v: 2, detail: expect.stringContaining('/args/target') as unknown });
    }
    expect(bad({ mediaTimeoutMs: 10.5 })).toMatchObject({ ok: false, v: 2 });
    expect(bad({ extra: 1 })).toMatchObject({ ok: false, v: 2 });
    expect(decodeCommandRequest(enc({ ...link, args: undefined }))).toMatchObject({ ok: false, v: 2, detail: expect.stringContaining('/args') as unknown });
    expect(decodeCommandRequest(enc({ v: 2, id: 'x1', nodeId: id, sentAt: 1, command: 'reboot' }))).toMatchObject({ ok: false, id: 'x1', v: 2, code: 'unknown-command' });
    expect(decodeCommandRequest(enc({ ...link, pad: 'x'.repeat(MAX_COMMAND_BYTES.request) }))).toMatchObject({ ok: false, detail: expect.stringMatching(/^too-large/) as unknown });
    expect(encodeConferenceCommandRequest({ ...link, args: { ...link.args, via: 'sip:h' } })).toMatchObject({ ok: false });
  });

  it('replies round-trip; the control plane also reads a v1 agent refusing a v2 request', () => {
    const replies: ConferenceCommandReply[] = [
      { v: 2, id: 'l1', nodeId: id, ok: true, command: 'link', result: { jobUuid: '240ebe9d-67b8-43b8-8030-72e02179ed66' } },
      { v: 2, id: 'u1', nodeId: id, ok: true, command: 'unlink', result: { found: false } },
      { v: 2, id: 'c1', nodeId: id, ok: true, command: 'conferences', result: { rooms: [{ room: '3000', conferenceUuid: '2d02aade-f358-4b78-b596-f698e242eea6', members: 3, links: 1, linkIds: ['1'] }], readAt: 9 } },
      { v: 2, id: 'l1', nodeId: id, ok: false, error: { code: 'cascade-loop', message: 'only links' } },
    ];
    for (const r of replies) {
      const e = encodeConferenceCommandReply(r);
      if (!e.ok) throw new Error(e.detail);
      expect(decodeConferenceCommandReply(e.data)).toEqual({ ok: true, value: r });
    }
    const v1Refusal = { v: 1, id: 'l1', nodeId: id, ok: false, error: { code: 'bad-request', message: 'schema: /v: Expected 1' } };
    expect(decodeConferenceCommandReply(enc(v1Refusal))).toEqual({ ok: true, value: v1Refusal });
    // The v1 reader (status) does not take v2 replies, nor a v1 reply the new code.
    expect(decodeCommandReply(enc(replies[0]))).toMatchObject({ ok: false, reason: 'schema' });
    expect(decodeCommandReply(enc({ ...v1Refusal, error: { code: 'cascade-loop', message: 'x' } }))).toMatchObject({ ok: false, reason: 'schema' });
    expect(decodeConferenceCommandReply(enc({ ...replies[0], result: { jobUuid: 'x' } }))).toMatchObject({ ok: false, reason: 'schema' });
    expect(decodeConferenceCommandReply(enc({ ...replies[1], extra: true }))).toMatchObject({ ok: false, reason: 'schema' });
    expect(decodeConferenceCommandReply(new Uint8Array(MAX_COMMAND_BYTES.conferenceReply + 1))).toMatchObject({ ok: false, reason: 'too-large' });
  });
});

describe('v2 size limits', () => {
  it('the largest valid v2 request and reply use at most a quarter of their limits', () => {
    const uuid = 'ffffffff-ffff-4fff-bfff-ffffffffffff';
    const host = `sip:${'h'.repeat(182)}:65535`; // 192 characters, the bound
    const req = encodeConferenceCommandRequest(
      linkRequest({ id: 'i'.repeat(64), nodeId: uuid, sentAt: Number.MAX_VALUE, args: { room: `R${'r'.repeat(127)}`, linkId: 'l'.repeat(64), target: host, via: host, mediaTimeoutMs: 3_600_000 } }),
    );
    if (!req.ok) throw new Error(req.detail);
    expect(req.data.byteLength * 4).toBeLessThanOrEqual(MAX_COMMAND_BYTES.request);
    const rooms = Array.from({ length: 500 }, (_, i) => ({
      room: `${String(i).padStart(3, '0')}${'r'.repeat(125)}`, conferenceUuid: uuid, members: 100_000, links: 100_000,
      linkIds: Array.from({ length: 4 }, (_, j) => `${j}${'l'.repeat(63)}`),
    }));
    const reply = encodeConferenceCommandReply({ v: 2, id: 'i'.repeat(64), nodeId: uuid, ok: true, command: 'conferences', result: { rooms, omitted: 1_000_000, readAt: Number.MAX_VALUE } });
    if (!reply.ok) throw new Error(reply.detail);
    expect(reply.data.byteLength * 4).toBeLessThanOrEqual(MAX_COMMAND_BYTES.conferenceReply);
  });
});
