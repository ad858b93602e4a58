/**
 * Operators' room policies (`PUT /v1/rooms/{room}/policy`), durable. Adapter:
 * postgres/roomPolicyStore.ts; fake: test/fakes/inMemoryRoomPolicyStore.ts.
 */
export interface RoomPolicy {
  readonly room: string;
  readonly mode: 'cascade';
  /** How many nodes the room is spread over; each participant is in one shard. */
  readonly shards: number;
  readonly updatedAt: number;
}

export interface RoomPolicyStore {
  list(): Promise<RoomPolicy[]>;
  get(room: string): Promise<RoomPolicy | undefined>;
  put(policy: Omit<RoomPolicy, 'updatedAt'>): Promise<RoomPolicy>;
  /** False when there was none. */
  delete(room: string): Promise<boolean>;
}
