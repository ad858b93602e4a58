import type { HealthReport } from '../core/health.js';

/**
 * The nodes' latest health reports (core/health.ts), written by the leader's health step and
 * read by every replica's API. Adapter: redis/redisHealthStore.ts; fake:
 * test/fakes/inMemoryHealthStore.ts.
 *
 * Not fenced by the leader's epoch: a report is an observation, not a decision, and a deposed
 * leader can at worst leave one evaluation that the next leader's first evaluation replaces.
 * What routing does with health is decided in the leader's pass, which is fenced.
 */
export interface HealthStore {
  /** Every stored report, by node id. */
  all(): Promise<Map<string, HealthReport>>;
  /** Stores these reports (each replaces the node's previous one) and forgets these nodes, at once. */
  write(reports: ReadonlyMap<string, HealthReport>, forget: readonly string[]): Promise<void>;
}
