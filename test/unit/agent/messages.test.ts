import { describe, expect, it } from 'vitest';
import { decodeNodeMessage, subjects } from '../../../src/events/index.js';
import { encodeOutgoing, heartbeatMessage, joinedMessage, leftMessage, SeqCounter, type NodeFacts } from '../../../src/agent/messages.js';
import { MAIN_CORE_UUID } from './captures.js';

const facts: NodeFacts = { nodeId: MAIN_CORE_UUID, sipUri: 'sip:127.0.0.1:5080', hostname: 'vm', capacity: 1000, blockers: [] };
const identity = { agentVersion: '0.1.0', heartbeatIntervalMs: 2000 };
const subs = subjects('sbc.test');

describe('SeqCounter', () => {
  it('starts at the start-up time in ms and adds one per message', () => {
    const seq = new SeqCounter(1_795_247_264_000);
    expect([seq.next(), seq.next(), seq.next()]).toEqual([1_795_247_264_000, 1_795_247_264_001, 1_795_247_264_002]);
  });

  it('a restarted agent continues above its previous life', () => {
    const first = new SeqCounter(1000);
    for (let i = 0; i < 500; i++) first.next();
    const last = first.next();
    expect(new SeqCounter(2000).next()).toBeGreaterThan(last);
  });
});

describe('outgoing messages', () => {
  it('joined, heartbeat and left encode to the node subjects and pass the control plane decoder', () => {
    const stamp = { seq: 7, sentAt: 1_795_247_264_000 };
    const cases = [
      joinedMessage(facts, 3, 'start', stamp, identity),
      heartbeatMessage(facts, 3, stamp, identity),
      leftMessage(MAIN_CORE_UUID, 'esl-lost', stamp),
    ];
    for (const out of cases) {
      const enc = encodeOutgoing(subs, out);
      if (!enc.ok) throw new Error(enc.detail);
      expect(enc.subject).toBe(`sbc.test.node.${MAIN_CORE_UUID}.${out.kind}`);
      const decoded = decodeNodeMessage(subs, enc.subject, enc.data);
      expect(decoded).toEqual({ ok: true, value: { kind: out.kind, msg: out.msg } });
    }
  });

  it('a joined message has exactly the contract fields', () => {
    const out = joinedMessage(facts, 2, 'reannounce', { seq: 1, sentAt: 2 }, identity);
    expect(out.msg).toEqual({
      v: 1,
      nodeId: MAIN_CORE_UUID,
      seq: 1,
      sentAt: 2,
      sipUri: 'sip:127.0.0.1:5080',
      hostname: 'vm',
      capacity: 1000,
      sessions: 2,
      agentVersion: '0.1.0',
      heartbeatIntervalMs: 2000,
      blockers: [],
      reason: 'reannounce',
    });
  });

  it('blockers travel in joined and heartbeat and pass the control plane decoder', () => {
    const blocked = { ...facts, blockers: ['sip-profile-down', 'inbound-paused'] as const };
    for (const out of [heartbeatMessage(blocked, 0, { seq: 1, sentAt: 2 }, identity), joinedMessage(blocked, 0, 'start', { seq: 1, sentAt: 2 }, identity)]) {
      const enc = encodeOutgoing(subs, out);
      if (!enc.ok) throw new Error(enc.detail);
      const decoded = decodeNodeMessage(subs, enc.subject, enc.data);
      expect(decoded.ok && decoded.value.msg).toMatchObject({ blockers: ['sip-profile-down', 'inbound-paused'] });
    }
  });

  it('refuses a message the schema refuses instead of putting it on the bus', () => {
    const zeroCapacity = heartbeatMessage({ ...facts, capacity: 0 }, 0, { seq: 1, sentAt: 1 }, identity);
    expect(encodeOutgoing(subs, zeroCapacity)).toEqual({ ok: false, detail: expect.stringContaining('/capacity') as unknown });
    const upperId = leftMessage(MAIN_CORE_UUID.toUpperCase(), 'esl-lost', { seq: 1, sentAt: 1 });
    expect(encodeOutgoing(subs, upperId).ok).toBe(false);
  });
});
