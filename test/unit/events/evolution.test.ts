import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { heartbeatMessage, joinedMessage, leftMessage } from '../../../src/agent/messages.js';
import { decodeAgentMessage, decodeNodeChannel, decodeNodeMessage, decodeReannounce, encodeChecked, encodeMessage } from '../../../src/events/codec.js';
import { MAX_CHANNEL_TEXT } from '../../../src/events/calls.js';
import { MAX_LINK_IDS_PER_ROOM, MAX_ROOMS_PER_SNAPSHOT } from '../../../src/events/schemas.js';
import { MAX_MESSAGE_BYTES, type MessageKind } from '../../../src/events/limits.js';
import { subjects } from '../../../src/events/subjects.js';
import { v1NodeMessages, v1Reannounce } from '../../fixtures/nats/v1.js';

/**
 * Rolling upgrades (README, "NATS subject reference"): a reader accepts and drops fields it
 * does not know, tells breaking versions apart by `v`, and bounds each kind on its own.
 */
const s = subjects('sbc');
const subjectOf = (c: { nodeId: string; kind: 'joined' | 'heartbeat' | 'left' }) => s.node(c.nodeId, c.kind);
/** What a newer agent might add: a scalar, a nested object, a list. */
const newerFields = { zone: 'eu-west-1', load: { cpu: 0.42, memory: { rss: 123 } }, features: ['conference', 'recording'] };

describe('a v1 agent and this control plane interoperate', () => {
  it('the v1 captures are the files they were captured as', () => {
    const dir = new URL('../../fixtures/nats/', import.meta.url);
    const listed = readFileSync(new URL('SHA256SUMS', dir), 'utf8').trim().split('\n').map((l) => l.split(/\s+/) as [string, string]);
    expect(listed.map(([, name]) => name).sort()).toEqual(readdirSync(dir).filter((f) => f.endsWith('.json')).sort());
    for (const [sum, name] of listed) expect(createHash('sha256').update(readFileSync(new URL(name, dir))).digest('hex'), name).toBe(sum);
  });

  it('every message a v1 agent sent is accepted unchanged', () => {
    const captures = v1NodeMessages();
    expect(captures.map((c) => c.kind)).toEqual(['joined', 'heartbeat', 'heartbeat', 'joined', 'left']);
    for (const c of captures) {
      expect(decodeNodeMessage(s, subjectOf(c), c.bytes), c.name).toEqual({ ok: true, value: { kind: c.kind, msg: c.body } });
    }
  });

  it("a v1 agent accepts this control plane's reannounce request, and this agent a v1 control plane's", () => {
    const c = v1Reannounce();
    expect(decodeReannounce(c.bytes)).toEqual({ ok: true, value: c.body });
  });

  it('this agent still sends exactly the v1 fields, so a v1 control plane (which refuses unknown ones) accepts it', () => {
    const facts = { nodeId: '858bc0bf-fea0-4ae3-aed6-d8303ec5ad26', sipUri: 'sip:10.0.0.5:5080', hostname: 'fs-1', capacity: 1000, blockers: [] };
    const identity = { agentVersion: '0.1.0', heartbeatIntervalMs: 2000 };
    const stamp = { seq: 1, sentAt: 2 };
    const now = { joined: joinedMessage(facts, 0, 'start', stamp, identity), heartbeat: heartbeatMessage(facts, 0, stamp, identity), left: leftMessage(facts.nodeId, 'agent-stopping', stamp) };
    for (const c of v1NodeMessages()) expect(Object.keys(now[c.kind].msg).sort(), c.name).toEqual(Object.keys(c.body).sort());
  });

  it('with SBC_MACHINE_ID this agent adds only the optional machineId, which a v1 control plane drops', () => {
    const facts = { nodeId: '858bc0bf-fea0-4ae3-aed6-d8303ec5ad26', sipUri: 'sip:10.0.0.5:5080', hostname: 'fs-1', capacity: 1000, blockers: [] };
    const identity = { agentVersion: '0.1.0', heartbeatIntervalMs: 2000, machineId: 'rack4-fs1' };
    const stamp = { seq: 1, sentAt: 2 };
    const [joinedV1, heartbeatV1] = v1NodeMessages();
    const now = { joined: joinedMessage(facts, 0, 'start', stamp, identity), heartbeat: heartbeatMessage(facts, 0, stamp, identity) };
    for (const c of [joinedV1!, heartbeatV1!]) {
      expect(Object.keys(now[c.kind as 'joined'].msg).sort()).toEqual([...Object.keys(c.body), 'machineId'].sort());
      const decoded = decodeNodeMessage(s, subjectOf(c), encodeMessage({ ...c.body, machineId: 'rack4-fs1' }));
      expect(decoded).toEqual({ ok: true, value: { kind: c.kind, msg: { ...c.body, machineId: 'rack4-fs1' } } });
    }
    const bad = decodeNodeMessage(s, subjectOf(joinedV1!), encodeMessage({ ...joinedV1!.body, machineId: 'a;weight=100' }));
    expect(bad).toMatchObject({ ok: false, reason: 'schema', detail: expect.stringContaining('/machineId') as unknown });
  });
});

describe('a message from an agent one version ahead', () => {
  it('is accepted, and only the fields this reader knows come out', () => {
    for (const c of v1NodeMessages()) {
      const newer = encodeMessage({ ...c.body, ...newerFields });
      const decoded = decodeNodeMessage(s, subjectOf(c), newer);
      expect(decoded, c.name).toStrictEqual({ ok: true, value: { kind: c.kind, msg: c.body } });
    }
    const r = v1Reannounce();
    expect(decodeReannounce(encodeMessage({ ...r.body, ...newerFields }))).toStrictEqual({ ok: true, value: r.body });
  });

  it('an unknown field named like a member of every object is just another unknown field', () => {
    const [joined] = v1NodeMessages();
    const text = new TextDecoder().decode(joined!.bytes).replace('{', '{"__proto__":{"polluted":true},"constructor":1,"toString":"x",');
    const decoded = decodeNodeMessage(s, subjectOf(joined!), new TextEncoder().encode(text));
    expect(decoded).toStrictEqual({ ok: true, value: { kind: 'joined', msg: joined!.body } });
    expect(decoded.ok && Object.getPrototypeOf(decoded.value.msg)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a breaking change (the next v) is refused as unsupported-version, never read as v1', () => {
    for (const c of v1NodeMessages()) {
      const v2 = decodeNodeMessage(s, subjectOf(c), encodeMessage({ ...c.body, v: 2 }));
      expect(v2, c.name).toEqual({ ok: false, reason: 'unsupported-version', detail: `${c.kind} v2; this reader reads v1` });
    }
    // Whatever shape v2 has: the version is read before anything else.
    const [joined] = v1NodeMessages();
    expect(decodeNodeMessage(s, subjectOf(joined!), encodeMessage({ v: 2, node: { id: joined!.nodeId } }))).toMatchObject({ reason: 'unsupported-version' });
    expect(decodeReannounce(encodeMessage({ ...v1Reannounce().body, v: 3 }))).toMatchObject({ reason: 'unsupported-version' });
  });

  it('a new kind of message, on its own subject, is refused as unknown-kind before its payload is read', () => {
    const [joined] = v1NodeMessages();
    const r = decodeNodeMessage(s, `sbc.node.${joined!.nodeId}.conference-started`, new TextEncoder().encode('not even JSON'));
    expect(r).toMatchObject({ ok: false, reason: 'unknown-kind' });
  });
});

describe('each kind has its own size limit, checked before JSON parsing', () => {
  /** A v1 capture of `kind`, padded with an unknown field to exactly `bytes` bytes. */
  const padded = (body: Record<string, unknown>, bytes: number) => {
    const base = encodeMessage({ ...body, pad: '' }).byteLength;
    return encodeMessage({ ...body, pad: 'x'.repeat(bytes - base) });
  };
  const bodies = (): Record<MessageKind, Record<string, unknown>> => {
    const [joined, heartbeat, , , left] = v1NodeMessages();
    const nodeId = joined!.body.nodeId as string;
    return {
      joined: joined!.body,
      heartbeat: heartbeat!.body,
      left: left!.body,
      conference: { v: 1, nodeId, seq: 1, sentAt: 1, event: 'create', room: '3000', conferenceUuid: nodeId, members: 0, links: 0 },
      rooms: { v: 1, nodeId, seq: 1, sentAt: 1, rooms: [] },
      reannounce: v1Reannounce().body,
      channel: { v: 1, nodeId, seq: 1, sentAt: 1, event: 'create', atUs: 1, uuid: nodeId, direction: 'inbound' },
    };
  };
  const decode = (kind: MessageKind, data: Uint8Array) =>
    kind === 'reannounce'
      ? decodeReannounce(data)
      : kind === 'channel'
        ? decodeNodeChannel(s, s.channel(bodies().channel.nodeId as string), data)
        : decodeAgentMessage(s, s.node(bodies()[kind].nodeId as string, kind), data);

  it.each(['joined', 'heartbeat', 'left', 'conference', 'rooms', 'reannounce', 'channel'] as const)('%s: a message of exactly its limit is accepted, one byte more is too-large', (kind) => {
    const limit = MAX_MESSAGE_BYTES[kind];
    const atLimit = padded(bodies()[kind], limit);
    expect(atLimit.byteLength).toBe(limit);
    expect(decode(kind, atLimit).ok).toBe(true);
    expect(decode(kind, padded(bodies()[kind], limit + 1))).toMatchObject({ ok: false, reason: 'too-large' });
    // Not parsed at all: garbage over the limit is too-large, not json.
    expect(decode(kind, new Uint8Array(limit + 1))).toMatchObject({ ok: false, reason: 'too-large' });
  });

  it('the limits differ by kind: a left message the size of a fine heartbeat is refused', () => {
    expect(MAX_MESSAGE_BYTES.left).toBeLessThan(MAX_MESSAGE_BYTES.heartbeat);
    const size = MAX_MESSAGE_BYTES.left + 1;
    expect(decode('heartbeat', padded(bodies().heartbeat, size)).ok).toBe(true);
    expect(decode('left', padded(bodies().left, size))).toMatchObject({ ok: false, reason: 'too-large' });
  });

  it('the largest valid v1 message of each kind passes the strict writer and uses at most a quarter of its limit', () => {
    const huge = Number.MAX_VALUE; // an integer to JSON Schema, and the longest number JSON.stringify writes
    const nodeId = 'ffffffff-ffff-4fff-bfff-ffffffffffff';
    const facts = {
      v: 1, nodeId, seq: Number.MAX_SAFE_INTEGER, sentAt: huge, sipUri: `sip:${'a'.repeat(188)}`, hostname: 'h'.repeat(253),
      capacity: 1_000_000, sessions: 10_000_000, agentVersion: 'v'.repeat(32), heartbeatIntervalMs: 60_000,
      blockers: ['sip-profile-down', 'inbound-paused'], machineId: `[${'f'.repeat(47)}`,
      // The longest numbers each load field can hold (a fraction with every digit: 14.285714285714286; the bounds).
      idleCpuPercent: 100 / 7, sessionsPerSecond: 1_000_000, sessionsPerSecondLimit: 1_000_000,
      heartbeatEventAt: Number.MAX_SAFE_INTEGER, heartbeatEventIntervalMs: 3_600_000,
    };
    const largest: Record<MessageKind, object> = {
      joined: { ...facts, reason: 'reannounce' },
      heartbeat: facts,
      left: { v: 1, nodeId, seq: Number.MAX_SAFE_INTEGER, sentAt: huge, reason: 'freeswitch-shutdown' },
      conference: {
        v: 1, nodeId, seq: Number.MAX_SAFE_INTEGER, sentAt: huge, event: 'add-member', room: `R${'r'.repeat(127)}`, conferenceUuid: nodeId,
        members: 100_000, links: 100_000,
        member: { id: 2_147_483_647, uuid: nodeId, link: false, linkId: 'L'.repeat(64), direction: 'outbound', callId: '~'.repeat(256) },
      },
      rooms: {
        v: 1, nodeId, seq: Number.MAX_SAFE_INTEGER, sentAt: huge, omitted: 1_000_000,
        rooms: Array.from({ length: MAX_ROOMS_PER_SNAPSHOT }, (_, i) => ({
          room: `${String(i).padStart(3, '0')}${'r'.repeat(125)}`, conferenceUuid: nodeId, members: 100_000, links: 100_000,
          linkIds: Array.from({ length: MAX_LINK_IDS_PER_ROOM }, (_, j) => `${j}${'l'.repeat(63)}`),
        })),
      },
      reannounce: { v: 1, requestedAt: huge, requester: 'r'.repeat(128) },
      // Free text at its worst: 1024 UTF-16 units of three UTF-8 bytes each.
      channel: {
        v: 1, nodeId, seq: Number.MAX_SAFE_INTEGER, sentAt: Number.MAX_SAFE_INTEGER, event: 'hangup', atUs: Number.MAX_SAFE_INTEGER,
        uuid: nodeId, direction: 'outbound', callId: '~'.repeat(MAX_CHANNEL_TEXT), otherLeg: nodeId, callUuid: nodeId,
        caller: '\u20ac'.repeat(MAX_CHANNEL_TEXT), callee: '\uffff'.repeat(MAX_CHANNEL_TEXT), room: '~'.repeat(MAX_CHANNEL_TEXT),
        memberId: 2_147_483_647, decision: 'd'.repeat(96), link: 'L'.repeat(64), cause: 'C'.repeat(64), sipStatus: 699,
      },
    };
    for (const kind of Object.keys(largest) as MessageKind[]) {
      const checked = encodeChecked(kind, largest[kind]);
      if (!checked.ok) throw new Error(`${kind}: ${checked.detail}`);
      expect(checked.data.byteLength * 4, kind).toBeLessThanOrEqual(MAX_MESSAGE_BYTES[kind]);
    }
  });
});

describe('the writer stays strict', () => {
  it('refuses a field the schema does not declare, though every reader would drop it', () => {
    const [heartbeat] = v1NodeMessages().filter((c) => c.kind === 'heartbeat');
    expect(encodeChecked('heartbeat', heartbeat!.body).ok).toBe(true);
    expect(encodeChecked('heartbeat', { ...heartbeat!.body, zone: 'eu' })).toEqual({ ok: false, detail: expect.stringContaining('/zone') as unknown });
    expect(encodeChecked('reannounce', { ...v1Reannounce().body, v: 2 }).ok).toBe(false);
  });
});
