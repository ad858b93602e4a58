import { CONTROL_PLANE_PIN_AUTHOR, type Pin } from '../../src/core/pins.js';
import type { ConferenceHalf, RoomDecision, RoomRecord, StoredLink } from '../../src/core/rooms.js';
import { FencedOutError } from '../../src/leader/fencedOut.js';
import type { HalfReport, RoomRegistry } from '../../src/ports/roomRegistry.js';

interface Stored {
  pin?: Pin;
  confirmedAt?: number;
  splitsRepaired: number;
  split?: string;
  spilled?: boolean;
  halves: Map<string, HalfReport>;
  links: Map<string, StoredLink>;
}

/** The room table in memory, with the Redis adapter's rules (and an epoch fence). */
export class InMemoryRoomRegistry implements RoomRegistry {
  readonly rooms = new Map<string, Stored>();
  epoch = 0;

  private record(room: string, s: Stored): RoomRecord {
    const halves: ConferenceHalf[] = [...s.halves.values()]
      .filter((h) => h.members > 0)
      .map((h) => ({ nodeId: h.nodeId, conferenceUuid: h.conferenceUuid, members: h.members, links: h.links, updatedAt: h.at }));
    return {
      room,
      ...(s.pin ? { pin: s.pin } : {}),
      ...(s.confirmedAt !== undefined ? { confirmedAt: s.confirmedAt } : {}),
      halves,
      splitsRepaired: s.splitsRepaired,
      ...(s.spilled ? { spilled: true } : {}),
      ...(s.links.size > 0 ? { links: [...s.links.values()].sort((a, b) => (a.linkId < b.linkId ? -1 : 1)) } : {}),
    };
  }

  private stored(room: string): Stored {
    let s = this.rooms.get(room);
    if (!s) {
      s = { splitsRepaired: 0, halves: new Map(), links: new Map() };
      this.rooms.set(room, s);
    }
    return s;
  }

  list(): Promise<RoomRecord[]> {
    return Promise.resolve([...this.rooms].map(([room, s]) => this.record(room, s)));
  }

  get(room: string): Promise<RoomRecord | undefined> {
    const s = this.rooms.get(room);
    return Promise.resolve(s && this.record(room, s));
  }

  recordPin(room: string, pin: Pin): Promise<boolean> {
    const s = this.stored(room);
    const cur = s.pin;
    const take = !cur || (cur.by !== CONTROL_PLANE_PIN_AUTHOR && cur.uri !== pin.uri && (pin.at < cur.at || (pin.at === cur.at && pin.uri < cur.uri)));
    if (take) s.pin = pin;
    return Promise.resolve(take);
  }

  recordHalf(room: string, half: HalfReport): Promise<void> {
    const s = this.stored(room);
    const cur = s.halves.get(half.nodeId);
    if (!cur || cur.seq < half.seq) s.halves.set(half.nodeId, half);
    return Promise.resolve();
  }

  async replaceNodeHalves(nodeId: string, halves: ReadonlyMap<string, HalfReport>, seq: number): Promise<void> {
    for (const [room, h] of halves) await this.recordHalf(room, h);
    for (const [room, s] of this.rooms) {
      const cur = s.halves.get(nodeId);
      if (cur && !halves.has(room) && cur.seq < seq) s.halves.delete(nodeId);
    }
  }

  forgetNode(nodeId: string): Promise<void> {
    for (const s of this.rooms.values()) s.halves.delete(nodeId);
    return Promise.resolve();
  }

  saveDecision(d: RoomDecision, fenceEpoch?: number): Promise<void> {
    if (fenceEpoch !== undefined) {
      if (this.epoch > fenceEpoch) return Promise.reject(new FencedOutError('redis', fenceEpoch, this.epoch));
      this.epoch = fenceEpoch;
    }
    const s = this.stored(d.room);
    if (d.pin) s.pin = d.pin;
    else delete s.pin;
    if (d.confirmedAt !== undefined) s.confirmedAt = d.confirmedAt;
    else delete s.confirmedAt;
    if (d.spilled) s.spilled = true;
    const split = d.split?.join(',');
    if (split !== undefined && s.split === undefined) s.splitsRepaired += 1;
    if (split !== undefined) s.split = split;
    else delete s.split;
    if (!s.pin && s.links.size === 0 && [...s.halves.values()].every((h) => h.members === 0)) this.rooms.delete(d.room);
    return Promise.resolve();
  }

  private fence(fenceEpoch?: number): void {
    if (fenceEpoch === undefined) return;
    if (this.epoch > fenceEpoch) throw new FencedOutError('redis', fenceEpoch, this.epoch);
    this.epoch = fenceEpoch;
  }

  putLink(room: string, link: StoredLink, fenceEpoch?: number): Promise<void> {
    return Promise.resolve().then(() => {
      this.fence(fenceEpoch);
      this.stored(room).links.set(link.linkId, link);
    });
  }

  deleteLink(room: string, linkId: string, fenceEpoch?: number): Promise<boolean> {
    return Promise.resolve().then(() => {
      this.fence(fenceEpoch);
      return this.rooms.get(room)?.links.delete(linkId) ?? false;
    });
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }
}
