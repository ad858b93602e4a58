import { describe, expect, it } from 'vitest';
import { decodeNodeMessage, decodeReannounce, encodeMessage } from '../../../src/events/codec.js';
import { MAX_MESSAGE_BYTES } from '../../../src/events/limits.js';
import { subjects } from '../../../src/events/subjects.js';

const s = subjects('sbc.test');
const id = '858bc0bf-fea0-4ae3-aed6-d8303ec5ad26';
const joined = {
  v: 1, nodeId: id, seq: 1795247264592, sentAt: 1795247264592, sipUri: 'sip:127.0.0.1:5080', hostname: 'vm',
  capacity: 1000, sessions: 0, agentVersion: '0.1.0', heartbeatIntervalMs: 2000, reason: 'start',
};
const enc = (o: unknown) => new TextEncoder().encode(typeof o === 'string' ? o : JSON.stringify(o));

describe('subjects', () => {
  it('builds and parses node subjects under the prefix', () => {
    expect(s.node(id, 'joined')).toBe(`sbc.test.node.${id}.joined`);
    expect(s.parseNodeSubject(`sbc.test.node.${id}.left`)).toEqual({ nodeId: id, kind: 'left' });
    expect(s.parseNodeSubject(`sbc.test.node.${id}.other`)).toBeUndefined();
    expect(s.parseNodeSubject(`sbc.node.${id}.left`)).toBeUndefined();
    expect(s.parseNodeSubject(`sbc.other.node.${id}.left`)).toBeUndefined();
    expect(s.splitNodeSubject(`sbc.test.node.${id}.other`)).toEqual({ nodeId: id, kind: 'other' });
    expect(s.allNodeMessages).toBe('sbc.test.node.*.*');
    expect(s.reannounce).toBe('sbc.test.control.reannounce');
  });

  it('refuses a prefix with wildcards or empty tokens', () => {
    expect(() => subjects('sbc.>')).toThrow();
    expect(() => subjects('sbc..x')).toThrow();
    expect(() => subjects('')).toThrow();
  });
});

describe('decodeNodeMessage', () => {
  it('accepts a valid joined message', () => {
    const r = decodeNodeMessage(s, s.node(id, 'joined'), enc(joined));
    expect(r).toEqual({ ok: true, value: { kind: 'joined', msg: joined } });
  });

  it('normalises the SIP URI', () => {
    const r = decodeNodeMessage(s, s.node(id, 'heartbeat'), enc({ ...joined, reason: undefined, sipUri: 'sip:FS.example:5080' }));
    expect(r.ok && 'sipUri' in r.value.msg && r.value.msg.sipUri).toBe('sip:fs.example:5080');
  });

  it.each([
    ['a subject that is not a node subject', 'sbc.test.node.x', joined, 'subject'],
    ['bytes that are not JSON', s.node(id, 'joined'), '{"v":1', 'json'],
    ['a missing field', s.node(id, 'joined'), { ...joined, capacity: undefined }, 'schema'],
    ['a node subject of a kind this reader does not know', `sbc.test.node.${id}.conference`, joined, 'unknown-kind'],
    ['a version this reader cannot read', s.node(id, 'joined'), { ...joined, v: 2 }, 'unsupported-version'],
    ['no version', s.node(id, 'joined'), { ...joined, v: undefined }, 'schema'],
    ['a version that is not a number', s.node(id, 'joined'), { ...joined, v: '1' }, 'schema'],
    ['a body that is not an object', s.node(id, 'joined'), [joined], 'schema'],
    ['a known field of the wrong type', s.node(id, 'joined'), { ...joined, blockers: 'none' }, 'schema'],
    ['a new value in a closed list', s.node(id, 'joined'), { ...joined, blockers: ['cpu-overload'] }, 'schema'],
    ['an upper-case node id', s.node(id.toUpperCase(), 'joined'), { ...joined, nodeId: id.toUpperCase() }, 'schema'],
    ['a negative capacity', s.node(id, 'joined'), { ...joined, capacity: -1 }, 'schema'],
    ['a fractional seq', s.node(id, 'joined'), { ...joined, seq: 1.5 }, 'schema'],
    ['an injecting SIP URI', s.node(id, 'joined'), { ...joined, sipUri: 'sip:1.2.3.4;weight=100' }, 'sip-uri'],
    ['a body for another node', s.node('11111111-1111-4111-8111-111111111111', 'joined'), joined, 'node-id-mismatch'],
    ['a huge payload', s.node(id, 'joined'), 'x'.repeat(MAX_MESSAGE_BYTES.joined + 1), 'too-large'],
  ])('rejects %s', (_what, subject, body, reason) => {
    const r = decodeNodeMessage(s, subject, enc(body));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toBe(reason);
      expect(r.detail.length).toBeGreaterThan(0);
    }
  });

  it('rejects invalid UTF-8 as json', () => {
    const r = decodeNodeMessage(s, s.node(id, 'left'), new Uint8Array([0x7b, 0xff, 0x7d]));
    expect(r.ok === false && r.reason).toBe('json');
  });

  it('accepts a left message without node facts', () => {
    const left = { v: 1, nodeId: id, seq: 5, sentAt: 5, reason: 'freeswitch-shutdown' };
    expect(decodeNodeMessage(s, s.node(id, 'left'), enc(left))).toEqual({ ok: true, value: { kind: 'left', msg: left } });
  });
});

describe('reannounce', () => {
  it('round-trips a valid request and rejects a bad one', () => {
    const req = { v: 1, requestedAt: 1, requester: 'cp-1' };
    expect(decodeReannounce(encodeMessage(req))).toEqual({ ok: true, value: req });
    expect(decodeReannounce(enc({ v: 1 })).ok).toBe(false);
  });

  it('refuses a request of a version the agent cannot read, and one over its size limit', () => {
    const req = { v: 2, requestedAt: 1, requester: 'cp-1' };
    expect(decodeReannounce(encodeMessage(req))).toMatchObject({ ok: false, reason: 'unsupported-version' });
    const padded = { v: 1, requestedAt: 1, requester: 'cp-1', pad: 'x'.repeat(MAX_MESSAGE_BYTES.reannounce) };
    expect(decodeReannounce(encodeMessage(padded))).toMatchObject({ ok: false, reason: 'too-large' });
  });
});
