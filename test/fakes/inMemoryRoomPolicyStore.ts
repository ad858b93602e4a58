import type { RoomPolicy, RoomPolicyStore } from '../../src/ports/roomPolicyStore.js';

export class InMemoryRoomPolicyStore implements RoomPolicyStore {
  readonly policies = new Map<string, RoomPolicy>();
  constructor(private readonly now: () => number = Date.now) {}

  list(): Promise<RoomPolicy[]> {
    return Promise.resolve([...this.policies.values()].sort((a, b) => (a.room < b.room ? -1 : 1)));
  }
  get(room: string): Promise<RoomPolicy | undefined> {
    return Promise.resolve(this.policies.get(room));
  }
  put(p: Omit<RoomPolicy, 'updatedAt'>): Promise<RoomPolicy> {
    const stored = { ...p, updatedAt: this.now() };
    this.policies.set(p.room, stored);
    return Promise.resolve(stored);
  }
  delete(room: string): Promise<boolean> {
    return Promise.resolve(this.policies.delete(room));
  }
}
