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
  /** A cascaded room (explicit policy): several halves are intended. */
  readonly cascaded?: boolean;
  /** The room outgrew one node (spill-over): new callers go to another node, halves are linked, never a split. */
  readonly spilled?: boolean;
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

/** When a room spills over to another node (SBC_ROOM_MAX_MEMBERS_PER_NODE, node capacity). */
export interface SpillPolicy {
  /** Participants on one node at which its room's new callers go elsewhere. */
  readonly maxMembersPerNode: number;
  /** Nodes that take new rooms (active, not cordoned, not blocked). */
  readonly accepting: readonly LiveNode[];
  /** Nodes near capacity: their rooms spill, and they take no spilled callers. */
  readonly nearlyFull: ReadonlySet<string>;
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
  /** The room is (now) spilled over several nodes. */
  readonly spilled?: boolean;
}

export interface DecideRoomsInput {
  readonly rooms: readonly RoomRecord[];
  readonly nodes: readonly LiveNode[];
  readonly now: number;
  /** How long a pin may wait for its conference before it ends (`unconfirmed`). */
  readonly pinGraceMs: number;
  readonly spill?: SpillPolicy;
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
  const decisions = input.rooms.map((r) => decideRoom(r, byUri, byId, input.now, input.pinGraceMs));
  const spill = input.spill;
  if (!spill) return decisions;
  // Rooms pinned per node, counted as decided so far: a spilled room goes to the least loaded.
  const load = new Map<string, number>();
  for (const d of decisions) if (d.pin) load.set(d.pin.uri, (load.get(d.pin.uri) ?? 0) + 1);
  return decisions.map((d, i) => {
    const r = input.rooms[i] as RoomRecord;
    if (r.cascaded || !d.pin || d.split) return r.spilled ? { ...d, spilled: true } : d;
    const pinned = byUri.get(d.pin.uri);
    const here = r.halves.find((h) => h.nodeId === pinned);
    const full = (h: ConferenceHalf | undefined) => h !== undefined && participants(h) >= spill.maxMembersPerNode;
    if (!full(here) && !(pinned !== undefined && spill.nearlyFull.has(pinned) && here)) return r.spilled ? { ...d, spilled: true } : d;
    // New callers go elsewhere: a node already hosting the room with room to spare, else the least loaded that takes new rooms.
    const candidates = spill.accepting.filter((n) => n.nodeId !== pinned && !spill.nearlyFull.has(n.nodeId));
    const hostingUnder = candidates
      .map((n) => ({ n, h: r.halves.find((h) => h.nodeId === n.nodeId) }))
      .filter((x) => x.h !== undefined && !full(x.h))
      .sort((a, b) => participants(b.h as ConferenceHalf) - participants(a.h as ConferenceHalf))[0]?.n;
    const fresh = candidates.filter((n) => !r.halves.some((h) => h.nodeId === n.nodeId)).sort((a, b) => (load.get(a.uri) ?? 0) - (load.get(b.uri) ?? 0) || (a.nodeId < b.nodeId ? -1 : 1))[0];
    const next = hostingUnder ?? fresh;
    if (!next) return r.spilled ? { ...d, spilled: true } : d;
    load.set(next.uri, (load.get(next.uri) ?? 0) + 1);
    return { ...d, pin: { key: d.pin.key, uri: next.uri, at: input.now, by: CONTROL_PLANE_PIN_AUTHOR }, confirmedAt: undefined, spilled: true };
  });
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

  if (!r.cascaded && !r.spilled && hosting.length > 1) {
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
  if (first && !r.cascaded && !r.spilled) return repin(first);
  return { room: r.room, pin: undefined, confirmedAt: undefined };
}
