import { describe, expect, it } from 'vitest';
import { decodeDecisionMessage, routeAttemptId } from '../../../src/events/routeDecisions.js';
import { subjects } from '../../../src/events/subjects.js';

const s = subjects('sbc');
const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
// Exactly what routing.lua's ksr_nats_flush writes (record_decision items; see kamailio-decisions.test.ts).
const fromLua =
  '{"v":1,"by":"k1","decisions":[{"id":"k1-692e1f3c-0a1b2-1f2e-001","attempt":1,"atUs":1764650000123456,"callId":"1-5894@127.0.0.1","kind":"room","pin":"made","room":"3000","key":"3000","set":2,"alg":2,"dst":"sip:10.0.0.5:5060"},' +
  '{"id":"k1-692e1f3c-0a1b2-1f2e-001","attempt":2,"atUs":1764650000623456,"callId":"1-5894@127.0.0.1","kind":"room","pin":"moved","set":2,"alg":2,"after":{"status":408,"timeout":true},"room":"3000","key":"3000","dst":"sip:10.0.0.6:5060"}]}';

describe('routing decisions from Kamailio', () => {
  it('decodes a batch as routing.lua writes it, each attempt with its store id', () => {
    const d = decodeDecisionMessage(s, s.kamailioRoute('k1'), enc(fromLua));
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.kamailioId).toBe('k1');
    expect(d.attempts.map((a) => [routeAttemptId(a), a.dst, a.after?.status ?? null, a.pin])).toEqual([
      ['k1-692e1f3c-0a1b2-1f2e-001:1', 'sip:10.0.0.5:5060', null, 'made'],
      ['k1-692e1f3c-0a1b2-1f2e-001:2', 'sip:10.0.0.6:5060', 408, 'moved'],
    ]);
  });

  it('refuses forged, mislabelled and malformed messages with a reason', () => {
    const reason = (subject: string, v: unknown) => {
      const d = decodeDecisionMessage(s, subject, enc(v));
      return d.ok ? 'ok' : d.reason;
    };
    const route = s.kamailioRoute('k1');
    const item = { id: 'k1-1-00001-1-001', attempt: 1, atUs: 1, callId: 'c@h', kind: 'general', pin: 'none' };
    expect(reason(route, { v: 1, by: 'k1', decisions: [item] })).toBe('ok');
    expect(reason('sbc.calls.node.x.channel', { v: 1, by: 'k1', decisions: [item] })).toBe('subject');
    expect(reason('other.calls.kamailio.k1.route', { v: 1, by: 'k1', decisions: [item] })).toBe('subject');
    // a Kamailio speaking for another one, on its subject or in its ids
    expect(reason(s.kamailioRoute('k2'), { v: 1, by: 'k1', decisions: [item] })).toBe('kamailio-id-mismatch');
    expect(reason(route, { v: 1, by: 'k1', decisions: [{ ...item, id: 'k2-1-00001-1-001' }] })).toBe('kamailio-id-mismatch');
    expect(reason(route, '{"v":1')).toBe('json');
    expect(reason(route, { v: 2, by: 'k1', decisions: [item] })).toBe('schema');
    expect(reason(route, { v: 1, by: 'k1', decisions: [] })).toBe('schema');
    expect(reason(route, { v: 1, by: 'k1', decisions: Array.from({ length: 33 }, () => item) })).toBe('schema');
    expect(reason(route, { v: 1, by: 'k1', decisions: [{ ...item, kind: 'other' }] })).toBe('schema');
    expect(reason(route, { v: 1, by: 'k1', decisions: [{ ...item, attempt: 0 }] })).toBe('schema');
    expect(reason(route, { v: 1, by: 'k1', decisions: [{ ...item, id: "x'); DROP TABLE y; --" }] })).toBe('schema');
    expect(reason(route, { v: 1, by: 'k1', decisions: [{ ...item, after: { status: 900 } }] })).toBe('schema');
    expect(reason(route, 'x'.repeat(140_000))).toBe('too-large');
    expect(decodeDecisionMessage(s, route, new Uint8Array([0x7b, 0xff, 0x7d]))).toMatchObject({ ok: false, reason: 'json' });
  });

  it('keeps a Call-ID with quotes, backslashes and escaped bytes as routing.lua escaped it', () => {
    const raw = '{"v":1,"by":"k1","decisions":[{"id":"k1-1-00001-1-001","attempt":1,"atUs":1,"callId":"evil\\u0022\\u005c{}\\u00e9@h","kind":"general","pin":"none","result":503}]}';
    const d = decodeDecisionMessage(s, s.kamailioRoute('k1'), enc(raw));
    expect(d.ok && d.attempts[0]?.callId).toBe('evil"\\{}é@h');
  });
});
