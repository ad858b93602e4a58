import { shardKey, CONTROL_PLANE_PIN_AUTHOR, type Pin } from './pins.js';
import type { LiveNode } from './rooms.js';

/**
 * Where the shards of a cascaded room go: one pin per shard (`<room>-<shard>`), on distinct
 * nodes whenever there are enough. A shard keeps its node while that node is live (its
 * participants are there); a shard without a live node gets the node that hosts the fewest
 * shards of this room, ties broken by a hash of room and node, so every replica and every
 * pass choose alike and different rooms spread differently.
 */
export interface ShardPlan {
  /** key -> pin, for shards 0..shards-1. */
  readonly pins: ReadonlyMap<string, Pin>;
  /** Shard keys whose pin changed (new, or moved off a node that is gone). */
  readonly changed: readonly string[];
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function placeShards(
  room: string,
  shards: number,
  current: ReadonlyMap<string, Pin>,
  /** Nodes that keep their shards (any routing state). */
  live: readonly LiveNode[],
  /** Nodes that may take a new shard (they take new rooms). */
  accepting: readonly LiveNode[],
  now: number,
): ShardPlan {
  const liveUris = new Set(live.map((n) => n.uri));
  const pins = new Map<string, Pin>();
  const changed: string[] = [];
  const load = new Map<string, number>(accepting.map((n) => [n.uri, 0]));
  for (let i = 0; i < shards; i++) {
    const p = current.get(shardKey(room, i));
    if (p && liveUris.has(p.uri)) {
      pins.set(p.key, p);
      load.set(p.uri, (load.get(p.uri) ?? 0) + 1);
    }
  }
  for (let i = 0; i < shards; i++) {
    const key = shardKey(room, i);
    if (pins.has(key)) continue;
    const pick = [...accepting].sort((a, b) => (load.get(a.uri) ?? 0) - (load.get(b.uri) ?? 0) || fnv1a(`${room}|${a.nodeId}`) - fnv1a(`${room}|${b.nodeId}`))[0];
    if (!pick) continue;
    pins.set(key, { key, uri: pick.uri, at: now, by: CONTROL_PLANE_PIN_AUTHOR });
    load.set(pick.uri, (load.get(pick.uri) ?? 0) + 1);
    changed.push(key);
  }
  return { pins, changed };
}
