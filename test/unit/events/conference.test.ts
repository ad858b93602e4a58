import { describe, expect, it } from 'vitest';
import { decodeAgentMessage, decodeNodeMessage, encodeChecked, encodeMessage } from '../../../src/events/codec.js';
import { MAX_MESSAGE_BYTES } from '../../../src/events/limits.js';
import type { NodeConference, NodeRooms } from '../../../src/events/schemas.js';
import { CONFERENCE_MESSAGE_KINDS, NODE_MESSAGE_KINDS, subjects } from '../../../src/events/subjects.js';

const s = subjects('sbc');
const nodeId = 'a390bc47-c291-42a6-ab48-b98639106ceb';
const conference: NodeConference = {
  v: 1,
  nodeId,
  seq: 10,
  sentAt: 1000,
  event: 'add-member',
  room: '3000',
  conferenceUuid: 'a183e574-5d2a-4d04-8415-802526552a8e',
  members: 3,
  links: 1,
  member: { id: 3, uuid: '8ffbcdcd-7346-4fee-aa63-d364aa74fbf6', link: true, linkId: 'l-1', direction: 'outbound' },
};
const rooms: NodeRooms = {
  v: 1,
  nodeId,
  seq: 11,
  sentAt: 1001,
  rooms: [{ room: '3000', conferenceUuid: 'a183e574-5d2a-4d04-8415-802526552a8e', members: 3, links: 1, linkIds: ['l-1'] }],
};
const decode = (kind: 'conference' | 'rooms', body: unknown, node = nodeId) =>
  decodeAgentMessage(s, s.node(node, kind), typeof body === 'string' ? new TextEncoder().encode(body) : encodeMessage(body as object));

describe('conference and rooms messages', () => {
  it('round-trip through the strict writer and the reader, as the conference family', () => {
    for (const [kind, msg] of [['conference', conference], ['rooms', rooms]] as const) {
      const checked = encodeChecked(kind, msg);
      if (!checked.ok) throw new Error(checked.detail);
      expect(decodeAgentMessage(s, s.node(nodeId, kind), checked.data)).toEqual({ ok: true, value: { family: 'conference', message: { kind, msg } } });
    }
  });

  it('membership messages come out of decodeAgentMessage as the membership family, exactly as decodeNodeMessage reads them', () => {
    const left = { v: 1, nodeId, seq: 3, sentAt: 3, reason: 'agent-stopping' };
    const old = decodeNodeMessage(s, s.node(nodeId, 'left'), encodeMessage(left));
    expect(old.ok).toBe(true);
    expect(decodeAgentMessage(s, s.node(nodeId, 'left'), encodeMessage(left))).toEqual({ ok: true, value: { family: 'membership', message: old.ok && old.value } });
  });

  it('decodeNodeMessage (the membership reader) refuses the conference kinds as unknown-kind, as a reader that predates them', () => {
    expect(decodeNodeMessage(s, s.node(nodeId, 'rooms'), encodeMessage(rooms))).toMatchObject({ ok: false, reason: 'unknown-kind' });
    expect(NODE_MESSAGE_KINDS).not.toContain('rooms');
    expect(s.parseNodeSubject(s.node(nodeId, 'conference'))).toBeUndefined();
    expect(s.splitNodeSubject(s.node(nodeId, 'conference'))).toEqual({ nodeId, kind: 'conference' });
    expect(CONFERENCE_MESSAGE_KINDS).toEqual(['conference', 'rooms']);
    expect(s.kamailioPins).toBe('sbc.kamailio.pins');
  });

  it('drops fields a newer writer added, at every depth', () => {
    const d = decode('rooms', { ...rooms, zone: 'eu', rooms: [{ ...rooms.rooms[0], shard: 2 }] });
    expect(d).toEqual({ ok: true, value: { family: 'conference', message: { kind: 'rooms', msg: rooms } } });
    const c = decode('conference', { ...conference, member: { ...conference.member, tag: 'x' } });
    expect(c).toEqual({ ok: true, value: { family: 'conference', message: { kind: 'conference', msg: conference } } });
  });

  it('refuses forged or broken bodies, each with its reason', () => {
    const other = '56f6295a-1feb-44f5-8540-4cb4de745c8b';
    expect(decode('conference', conference, other)).toMatchObject({ ok: false, reason: 'node-id-mismatch' });
    expect(decode('conference', '{"v":1')).toMatchObject({ ok: false, reason: 'json' });
    expect(decode('conference', { ...conference, v: 2 })).toMatchObject({ ok: false, reason: 'unsupported-version' });
    expect(decode('conference', { ...conference, room: '../3000' })).toMatchObject({ ok: false, reason: 'schema', detail: expect.stringContaining('/room') as unknown });
    expect(decode('conference', { ...conference, room: 'a b' })).toMatchObject({ ok: false, reason: 'schema' });
    expect(decode('conference', { ...conference, room: `r${'x'.repeat(128)}` })).toMatchObject({ ok: false, reason: 'schema' });
    expect(decode('conference', { ...conference, event: 'floor-change' })).toMatchObject({ ok: false, reason: 'schema', detail: expect.stringContaining('/event') as unknown });
    expect(decode('conference', { ...conference, member: { ...conference.member, linkId: 'a,b' } })).toMatchObject({ ok: false, reason: 'schema' });
    expect(decode('conference', { ...conference, member: { ...conference.member, callId: 'a\r\nb' } })).toMatchObject({ ok: false, reason: 'schema' });
    expect(decode('conference', { ...conference, members: -1 })).toMatchObject({ ok: false, reason: 'schema' });
    expect(decode('rooms', { ...rooms, rooms: Array.from({ length: 501 }, () => rooms.rooms[0]) })).toMatchObject({ ok: false, reason: 'schema', detail: expect.stringContaining('/rooms') as unknown });
    expect(decode('rooms', { ...rooms, rooms: [{ ...rooms.rooms[0], linkIds: ['a', 'b', 'c', 'd', 'e'] }] })).toMatchObject({ ok: false, reason: 'schema' });
    expect(decode('rooms', { ...rooms, omitted: 0 })).toMatchObject({ ok: false, reason: 'schema' });
    const big = new Uint8Array(MAX_MESSAGE_BYTES.conference + 1);
    expect(decodeAgentMessage(s, s.node(nodeId, 'conference'), big)).toMatchObject({ ok: false, reason: 'too-large' });
    expect(decodeAgentMessage(s, 'sbc.node.x', encodeMessage(conference))).toMatchObject({ ok: false, reason: 'subject' });
  });

  it('the strict writer refuses a field the schema lacks', () => {
    expect(encodeChecked('rooms', { ...rooms, zone: 'eu' })).toMatchObject({ ok: false, detail: expect.stringContaining('/zone') as unknown });
  });
});
