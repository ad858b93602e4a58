import { CONTROL_PLANE_PIN_AUTHOR, type Pin } from './pins.js';

/**
 * The control plane's room table and the one pure decision made on it each pass: which pin
 * every Kamailio must hold for each room, which pins end and why, and which rooms are split
 * (hosted by two nodes without being cascaded) and must be linked.
 *
 * Facts come from two sources: pins (made by a Kamailio when it placed a room's first caller,
 * heard on NATS, or read back with htable.dump) and conferences (each node's agent reports its
 * conferences: what really hosts the room). A conference is the stronger fact: a pin no
 * conference confirms within a grace ends, and a room whose conferences outlive its pin gets
 * it back, pointed at its largest conference.
 */
export interface ConferenceHalf {
  readonly nodeId: string;
  readonly conferenceUuid: string;
  /** Every member, links included. */
  readonly members: number;
  /** Members that are cascade links to other nodes. */
  readonly links: number;
  readonly updatedAt: number;
}

export interface RoomRecord {
  readonly room: string;
  readonly pin?: Pin;
  /** When a conference on the pinned node was first seen while the pin held (the pin is confirmed). */
  readonly confirmedAt?: number;
  /** Every node's conference of this room, as its agent last reported it. */
  readonly halves: readonly ConferenceHalf[];
  /** A cascaded room (explicit policy or spill-over): several halves are intended. */
  readonly cascaded?: boolean;
  readonly splitsRepaired: number;
  /** The cascade links the leader made for this room (steps/roomLinks.ts). */
  readonly links?: readonly StoredLink[];
}

/** A cascade link the control plane asked for: `from`'s conference dialed `to`'s. */
export interface StoredLink {
  readonly linkId: string;
  readonly from: string;
  readonly to: string;
  /** When it was asked for. */
  readonly at: number;
}

export interface LiveNode {
  readonly nodeId: string;
  readonly uri: string;
}

export type PinEnd = 'node-gone' | 'unconfirmed' | 'destroyed';

export interface RoomDecision {
  readonly room: string;
  /** The pin every Kamailio must hold; undefined: none. */
  readonly pin: Pin | undefined;
  readonly confirmedAt: number | undefined;
  /** Why the recorded pin ends, when it does. */
  readonly ended?: PinEnd;
  /** A split found in this pass: the room is hosted by these nodes; the pin now points at the first (largest). */
  readonly split?: readonly string[];
}

export interface DecideRoomsInput {
  readonly rooms: readonly RoomRecord[];
  readonly nodes: readonly LiveNode[];
  readonly now: number;
  /** How long a pin may wait for its conference before it ends (`unconfirmed`). */
  readonly pinGraceMs: number;
}

/** Members that are real participants (not links): what makes a half worth keeping. */
export const participants = (h: ConferenceHalf): number => Math.max(0, h.members - h.links);

/** Largest first; ties by node id, so every replica and every pass agree. */
export function byParticipants(a: ConferenceHalf, b: ConferenceHalf): number {
  return participants(b) - participants(a) || (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0);
}

export function decideRooms(input: DecideRoomsInput): RoomDecision[] {
  const byUri = new Map(input.nodes.map((n) => [n.uri, n.nodeId]));
  const byId = new Map(input.nodes.map((n) => [n.nodeId, n.uri]));
  return input.rooms.map((r) => decideRoom(r, byUri, byId, input.now, input.pinGraceMs));
}

function decideRoom(r: RoomRecord, byUri: Map<string, string>, byId: Map<string, string>, now: number, graceMs: number): RoomDecision {
  // Only halves on live nodes with someone in them host the room.
  const hosting = r.halves.filter((h) => byId.has(h.nodeId) && participants(h) > 0).sort(byParticipants);
  const pinNode = r.pin ? byUri.get(r.pin.uri) : undefined;

  const repin = (half: ConferenceHalf, extra: Partial<RoomDecision> = {}): RoomDecision => ({
    room: r.room,
    pin: { key: r.pin?.key ?? r.room, uri: byId.get(half.nodeId) as string, at: now, by: CONTROL_PLANE_PIN_AUTHOR },
    confirmedAt: now,
    ...extra,
  });

  if (!r.cascaded && hosting.length > 1) {
    const largest = hosting[0] as ConferenceHalf;
    const split = hosting.map((h) => h.nodeId);
    if (r.pin && pinNode === largest.nodeId) return { room: r.room, pin: r.pin, confirmedAt: r.confirmedAt ?? now, split };
    return repin(largest, { split });
  }

  if (r.pin) {
    if (pinNode === undefined) {
      // The pinned node is gone; a conference elsewhere keeps the room, otherwise it ends.
      const next = hosting[0];
      return next ? repin(next, { ended: 'node-gone' }) : { room: r.room, pin: undefined, confirmedAt: undefined, ended: 'node-gone' };
    }
    const onPinned = hosting.find((h) => h.nodeId === pinNode);
    if (onPinned) return { room: r.room, pin: r.pin, confirmedAt: r.confirmedAt ?? now };
    if (r.confirmedAt !== undefined) {
      // It was confirmed and its conference is over (destroyed, or emptied of participants).
      const next = hosting[0];
      return next ? repin(next, { ended: 'destroyed' }) : { room: r.room, pin: undefined, confirmedAt: undefined, ended: 'destroyed' };
    }
    if (now - r.pin.at > graceMs) {
      const next = hosting[0];
      return next ? repin(next, { ended: 'unconfirmed' }) : { room: r.room, pin: undefined, confirmedAt: undefined, ended: 'unconfirmed' };
    }
    return { room: r.room, pin: r.pin, confirmedAt: undefined };
  }

  // No pin, but a conference hosts the room (a pin lost with a Kamailio restart, say).
  const first = hosting[0];
  if (first && !r.cascaded) return repin(first);
  return { room: r.room, pin: undefined, confirmedAt: undefined };
}
