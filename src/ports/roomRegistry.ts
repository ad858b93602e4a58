import type { Pin } from '../core/pins.js';
import type { RoomDecision, RoomRecord, StoredLink } from '../core/rooms.js';

/**
 * The authoritative room table. Facts (a pin a Kamailio made, a node's conference) are
 * recorded by whichever replica hears them; decisions (the pin every Kamailio must hold, a
 * pin that ends, a split found) are saved only by the leader, fenced by its epoch.
 * Adapter: redis/redisRoomRegistry.ts; fake: test/fakes/inMemoryRoomRegistry.ts.
 */
export interface HalfReport {
  readonly nodeId: string;
  readonly conferenceUuid: string;
  readonly members: number;
  readonly links: number;
  /** The node message's seq: an older report than the one stored is ignored. */
  readonly seq: number;
  readonly at: number;
}

export interface RoomRegistry {
  list(): Promise<RoomRecord[]>;
  get(room: string): Promise<RoomRecord | undefined>;
  /**
   * A pin made by a Kamailio (heard on NATS, or found in its htable). Taken when the room has
   * no pin, or when it was made earlier than the recorded one that a Kamailio made (the rule
   * routing.lua applies, so both converge); a pin the control plane decided is not displaced.
   * Returns whether it was taken.
   */
  recordPin(room: string, pin: Pin): Promise<boolean>;
  /** One node's conference of the room, as its agent reported it (members 0: it ended). */
  recordHalf(room: string, half: HalfReport): Promise<void>;
  /**
   * Everything one node hosts now (its agent's snapshot): halves of rooms not listed that are
   * older than `seq` are removed.
   */
  replaceNodeHalves(nodeId: string, halves: ReadonlyMap<string, HalfReport>, seq: number): Promise<void>;
  /** Removes every half of a node (it is gone). */
  forgetNode(nodeId: string): Promise<void>;
  /** Records a link the leader asked a node to make (fenced). */
  putLink(room: string, link: StoredLink, fenceEpoch?: number): Promise<void>;
  /** Forgets a link (fenced); false when it was not recorded. */
  deleteLink(room: string, linkId: string, fenceEpoch?: number): Promise<boolean>;
  /** Saves the leader's decision; a room left with no pin, no half and no link is deleted. */
  saveDecision(decision: RoomDecision, fenceEpoch?: number): Promise<void>;
  ping(): Promise<void>;
}
