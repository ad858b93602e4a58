import type { NodeRecord } from './node.js';

/**
 * The autoscaler's rule, pure: keep N+1 headroom. After losing its largest node, the pool
 * must still carry the current calls within the target utilisation. The reference design's
 * rule for two nodes ("each at most 50 % loaded, so either can carry both") generalised: with
 * nodes of capacities c1..cN, the smallest pool such that sum(c) - max(c) >= calls / u.
 *
 * New machines are assumed to be as large as the pool's typical (median) node, since what a
 * provisioner starts is a copy of what runs. Min and max bound the answer; cooldowns (kept by
 * the caller) keep it from flapping: a scale-up may follow a scale-up quickly, a scale-down
 * waits longer, since calls that arrive while nodes drain must still fit.
 */
export interface AutoscalePolicy {
  /** 0 < u <= 1: the utilisation the pool may reach after losing its largest node. */
  readonly targetUtilisation: number;
  readonly minReplicas: number;
  readonly maxReplicas: number;
}

export interface AutoscaleDecision {
  readonly replicas: number;
  readonly calls: number;
  /** Why, for the log and the audit: the numbers that gave it. */
  readonly reason: string;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[Math.floor((s.length - 1) / 2)] as number);
};

/** Nodes whose calls count: every live one (draining calls are still carried). */
export function desiredReplicas(nodes: readonly NodeRecord[], policy: AutoscalePolicy): AutoscaleDecision {
  const live = nodes.filter((n) => n.state !== 'gone');
  const calls = live.reduce((a, n) => a + n.sessions, 0);
  const serving = live.filter((n) => n.state === 'active' || n.state === 'joining');
  const unit = median((serving.length > 0 ? serving : live).map((n) => n.capacity));
  const clamp = (r: number) => Math.min(policy.maxReplicas, Math.max(policy.minReplicas, r));
  if (unit <= 0) return { replicas: clamp(serving.length), calls, reason: 'no node with a known capacity: the pool is kept' };
  const needed = calls / policy.targetUtilisation;
  // Serving nodes sorted largest first; add typical nodes until sum - largest >= needed.
  const caps = serving.map((n) => n.capacity).sort((a, b) => b - a);
  let n = 0;
  let sum = 0;
  let largest = 0;
  while (n < policy.maxReplicas) {
    const c = n < caps.length ? (caps[n] as number) : unit;
    sum += c;
    largest = Math.max(largest, c);
    n += 1;
    if (n >= 2 && sum - largest >= needed) break;
  }
  const replicas = clamp(n);
  return {
    replicas,
    calls,
    reason: `${calls} calls at ${Math.round(policy.targetUtilisation * 100)} % after losing the largest node need ${Math.ceil(needed)} sessions besides it: ${replicas} nodes (min ${policy.minReplicas}, max ${policy.maxReplicas})`,
  };
}

export interface AutoscaleMemory {
  /** The last target the autoscaler set, and when. */
  readonly last?: { readonly replicas: number; readonly at: number };
}

export interface AutoscaleCooldowns {
  readonly upMs: number;
  readonly downMs: number;
}

/** Pure: whether a decision may be applied now, given the current target and the cooldowns. */
export function mayApply(decision: number, current: number | undefined, memory: AutoscaleMemory, now: number, cooldowns: AutoscaleCooldowns): { ok: boolean; why: string } {
  if (current === decision) return { ok: false, why: 'already the target' };
  const since = memory.last ? now - memory.last.at : Number.POSITIVE_INFINITY;
  const up = current === undefined || decision > current;
  const wait = up ? cooldowns.upMs : cooldowns.downMs;
  if (since < wait) return { ok: false, why: `cooldown: ${Math.ceil((wait - since) / 1000)} s left of the ${up ? 'scale-up' : 'scale-down'} cooldown` };
  return { ok: true, why: up ? 'scale up' : 'scale down' };
}
