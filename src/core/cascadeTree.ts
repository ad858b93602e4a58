/**
 * The cascade links of one room as a tree over the nodes hosting it.
 *
 * A link is a SIP call one node's conference makes into another node's conference of the
 * same room (`conference <room> bgdial`). The links of a room must form a tree at every
 * moment: two nodes dialing each other, or a ring of three, echo and multiply audio. This
 * function is the whole rule set, pure: given the nodes that host the room (with how many real
 * participants each has) and the links that exist, it says which links to keep, make and drop.
 *
 * - Nodes without a real participant are left out: a conference holding only its link member
 *   is never destroyed by FreeSWITCH, so its link is dropped here.
 * - Existing links between hosting nodes are kept as long as they add no cycle (stability: a
 *   link in use is not torn down because sizes changed). A second link between one pair, or
 *   one closing a ring, is dropped.
 * - Every part of the forest not connected to the root gets one new link from the root: the
 *   root is the node with most participants (ties by node id), or `root` when given and hosting.
 *   So new links always start at the root and end at a leaf: a node never dials out for a
 *   link that arrived to it.
 * - Drops are listed before makes and computed from the same state, so an executor that drops
 *   first and then makes never passes through a graph with a cycle.
 */
export interface CascadeLink {
  readonly linkId: string;
  /** The node that dialed. */
  readonly from: string;
  /** The node it dialed. */
  readonly to: string;
}

export interface HostingNode {
  readonly nodeId: string;
  readonly participants: number;
}

export interface LinkPlan {
  readonly root: string | undefined;
  readonly keep: readonly CascadeLink[];
  readonly drop: readonly CascadeLink[];
  /** Links to make, each from `from` to `to`; the caller gives them ids. */
  readonly make: readonly { readonly from: string; readonly to: string }[];
}

export function planLinks(hosts: readonly HostingNode[], existing: readonly CascadeLink[], root?: string): LinkPlan {
  const hosting = hosts.filter((h) => h.participants > 0);
  const ids = new Set(hosting.map((h) => h.nodeId));
  const sorted = [...hosting].sort((a, b) => b.participants - a.participants || (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  const rootId = root !== undefined && ids.has(root) ? root : sorted[0]?.nodeId;

  const parent = new Map<string, string>([...ids].map((id) => [id, id]));
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r) as string;
    parent.set(x, r);
    return r;
  };

  const keep: CascadeLink[] = [];
  const drop: CascadeLink[] = [];
  // Oldest first would be ideal; without ages, a stable order by id keeps decisions repeatable.
  for (const l of [...existing].sort((a, b) => (a.linkId < b.linkId ? -1 : a.linkId > b.linkId ? 1 : 0))) {
    if (!ids.has(l.from) || !ids.has(l.to) || l.from === l.to) {
      drop.push(l);
      continue;
    }
    const a = find(l.from);
    const b = find(l.to);
    if (a === b) {
      drop.push(l);
      continue;
    }
    parent.set(a, b);
    keep.push(l);
  }

  const make: { from: string; to: string }[] = [];
  if (rootId !== undefined) {
    for (const h of sorted) {
      if (find(h.nodeId) === find(rootId)) continue;
      make.push({ from: rootId, to: h.nodeId });
      parent.set(find(h.nodeId), find(rootId));
    }
  }
  return { root: rootId, keep, drop, make };
}

/** True when `links` over `nodes` form a tree: connected, one fewer link than nodes, no pair twice. */
export function isTree(nodes: readonly string[], links: readonly { from: string; to: string }[]): boolean {
  if (nodes.length === 0) return links.length === 0;
  if (links.length !== nodes.length - 1) return false;
  const set = new Set(nodes);
  const adj = new Map<string, string[]>(nodes.map((n) => [n, []]));
  for (const l of links) {
    if (!set.has(l.from) || !set.has(l.to) || l.from === l.to) return false;
    adj.get(l.from)?.push(l.to);
    adj.get(l.to)?.push(l.from);
  }
  const seen = new Set<string>([nodes[0] as string]);
  const stack = [nodes[0] as string];
  while (stack.length > 0) {
    for (const n of adj.get(stack.pop() as string) ?? []) {
      if (!seen.has(n)) {
        seen.add(n);
        stack.push(n);
      }
    }
  }
  return seen.size === nodes.length;
}
