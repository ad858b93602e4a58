import { describe, expect, it } from 'vitest';
import { placeShards } from '../../../src/core/shards.js';

const n = (i: number) => ({ nodeId: `node-${i}`, uri: `sip:10.0.0.${i}:5080` });
const nodes = [n(1), n(2), n(3), n(4)];

describe('placeShards', () => {
  it('puts the shards of a room on distinct nodes when there are enough', () => {
    const plan = placeShards('3000', 3, new Map(), nodes, nodes, 5);
    const uris = [...plan.pins.values()].map((p) => p.uri);
    expect(new Set(uris).size).toBe(3);
    expect([...plan.pins.keys()]).toEqual(['3000-0', '3000-1', '3000-2']);
    expect(plan.changed).toEqual(['3000-0', '3000-1', '3000-2']);
    expect([...plan.pins.values()].every((p) => p.by === 'control' && p.at === 5)).toBe(true);
  });

  it('keeps a shard on its live node (even one that takes no new rooms), moves only the shard of a gone node', () => {
    const first = placeShards('3000', 3, new Map(), nodes, nodes, 5);
    const victim = first.pins.get('3000-1')!.uri;
    const live = nodes.filter((x) => x.uri !== victim);
    const draining = first.pins.get('3000-0')!.uri;
    const accepting = live.filter((x) => x.uri !== draining);
    const next = placeShards('3000', 3, first.pins, live, accepting, 9);
    expect(next.changed).toEqual(['3000-1']);
    expect(next.pins.get('3000-0')).toEqual(first.pins.get('3000-0'));
    expect(next.pins.get('3000-2')).toEqual(first.pins.get('3000-2'));
    const moved = next.pins.get('3000-1')!.uri;
    expect([victim, draining, first.pins.get('3000-2')!.uri]).not.toContain(moved);
  });

  it('shares nodes when there are fewer nodes than shards, evenly', () => {
    const plan = placeShards('3000', 4, new Map(), nodes.slice(0, 2), nodes.slice(0, 2), 1);
    const count = new Map<string, number>();
    for (const p of plan.pins.values()) count.set(p.uri, (count.get(p.uri) ?? 0) + 1);
    expect([...count.values()]).toEqual([2, 2]);
  });

  it('places nothing without a node that takes new rooms', () => {
    expect(placeShards('3000', 2, new Map(), nodes, [], 1).pins.size).toBe(0);
  });

  it('different rooms start on different nodes', () => {
    const firsts = new Set(Array.from({ length: 20 }, (_, i) => placeShards(String(3000 + i), 1, new Map(), nodes, nodes, 1).pins.get(`${3000 + i}-0`)!.uri));
    expect(firsts.size).toBeGreaterThan(1);
  });
});
