/**
 * The optional order of replicas, as in active/passive telephony controllers: when the
 * leader is lost, the live replica with the lowest order takes over. It is a preference,
 * not a protocol: a replica only delays its try of a *vacant* lock by its rank, so the
 * lowest live order gets there first, and a replica that appears while another leads never
 * takes over (the holder keeps the lock; trying it just fails). If the first in order is
 * live but cannot take over (frozen), the next tries one step later: the delay is bounded.
 */
export interface ReplicaOrderEntry {
  readonly replicaId: string;
  /** null: no order; such a replica comes after every replica that has one. */
  readonly order: number | null;
}

/** Whether `a` goes before `b`. Equal orders (or both unset) race, neither before the other. */
export function precedes(a: ReplicaOrderEntry, b: ReplicaOrderEntry): boolean {
  if (a.order === null) return false;
  return b.order === null || a.order < b.order;
}

/** How many live replicas (others than `me`) go before it. */
export function rankAmong(me: ReplicaOrderEntry, live: readonly ReplicaOrderEntry[]): number {
  return live.filter((r) => r.replicaId !== me.replicaId && precedes(r, me)).length;
}

/** How long after seeing the lock vacant `me` waits before trying it. */
export function takeoverDelayMs(me: ReplicaOrderEntry, live: readonly ReplicaOrderEntry[], stepMs: number): number {
  return rankAmong(me, live) * stepMs;
}
