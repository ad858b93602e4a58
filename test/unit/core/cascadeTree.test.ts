import { describe, expect, it } from 'vitest';
import { isTree, planLinks, type CascadeLink } from '../../../src/core/cascadeTree.js';

const h = (nodeId: string, participants: number) => ({ nodeId, participants });
const l = (linkId: string, from: string, to: string): CascadeLink => ({ linkId, from, to });

describe('planLinks: the cascade links of a room form a tree', () => {
  it('links every hosting node to the largest one, from the root outwards', () => {
    const plan = planLinks([h('b', 4), h('a', 10), h('c', 2)], []);
    expect(plan.root).toBe('a');
    expect(plan.make).toEqual([
      { from: 'a', to: 'b' },
      { from: 'a', to: 'c' },
    ]);
    expect(plan.keep).toEqual([]);
    expect(plan.drop).toEqual([]);
  });

  it('keeps links in use, drops a second link between one pair and one closing a ring', () => {
    const existing = [l('1', 'a', 'b'), l('2', 'b', 'a'), l('3', 'b', 'c'), l('4', 'c', 'a')];
    const plan = planLinks([h('a', 3), h('b', 3), h('c', 3)], existing);
    expect(plan.keep.map((x) => x.linkId)).toEqual(['1', '3']);
    expect(plan.drop.map((x) => x.linkId)).toEqual(['2', '4']);
    expect(plan.make).toEqual([]);
  });

  it('drops the link of a shard left with no real participant and of a node that is gone', () => {
    const plan = planLinks([h('a', 5), h('b', 0)], [l('1', 'a', 'b'), l('2', 'a', 'zz')]);
    expect(plan.drop.map((x) => x.linkId)).toEqual(['1', '2']);
    expect(plan.keep).toEqual([]);
    expect(plan.make).toEqual([]);
  });

  it('rebuilds after the root died: the new root links what the old one joined', () => {
    // a was the root of a-b, a-c; a is gone: b and c are apart until b dials c.
    const plan = planLinks([h('b', 6), h('c', 2)], [l('1', 'a', 'b'), l('2', 'a', 'c')]);
    expect(plan.drop.map((x) => x.linkId)).toEqual(['1', '2']);
    expect(plan.make).toEqual([{ from: 'b', to: 'c' }]);
  });

  it('honours a given root when it hosts the room', () => {
    expect(planLinks([h('a', 9), h('b', 1)], [], 'b').make).toEqual([{ from: 'b', to: 'a' }]);
    expect(planLinks([h('a', 9), h('b', 1)], [], 'gone').make).toEqual([{ from: 'a', to: 'b' }]);
  });

  it('a single hosting node needs no link; nothing hosts: nothing at all', () => {
    expect(planLinks([h('a', 3)], [])).toEqual({ root: 'a', keep: [], drop: [], make: [] });
    expect(planLinks([], [])).toEqual({ root: undefined, keep: [], drop: [], make: [] });
  });

  it('always ends in a tree, from any start (500 random cases), and never dials from a leaf it just linked', () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (let i = 0; i < 500; i++) {
      const hosts = names.slice(0, 1 + rnd(6)).map((n) => h(n, rnd(4)));
      const existing = Array.from({ length: rnd(8) }, (_, k) => l(String(k), names[rnd(7) % 6] as string, names[rnd(6)] as string));
      const plan = planLinks(hosts, existing);
      const live = hosts.filter((x) => x.participants > 0).map((x) => x.nodeId);
      const after = [...plan.keep, ...plan.make];
      expect(isTree(live, after), JSON.stringify({ hosts, existing, plan })).toBe(true);
      for (const m of plan.make) expect(m.from).toBe(plan.root);
      // Dropping first never leaves a cycle either: keep alone is a forest.
      expect(plan.keep.length + plan.make.length).toBe(Math.max(0, live.length - 1));
    }
  });
});

describe('isTree', () => {
  it('tells a tree from a ring, a pair dialed twice and a forest', () => {
    expect(isTree(['a', 'b', 'c'], [l('1', 'a', 'b'), l('2', 'a', 'c')])).toBe(true);
    expect(isTree(['a', 'b', 'c'], [l('1', 'a', 'b'), l('2', 'b', 'c'), l('3', 'c', 'a')])).toBe(false);
    expect(isTree(['a', 'b'], [l('1', 'a', 'b'), l('2', 'b', 'a')])).toBe(false);
    expect(isTree(['a', 'b', 'c', 'd'], [l('1', 'a', 'b'), l('2', 'c', 'd'), l('3', 'a', 'b')])).toBe(false);
  });
});
