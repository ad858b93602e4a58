import type { ScaleTarget } from '../core/scale.js';

/**
 * The pool's size as last asked (`POST /v1/scale`, the autoscaler), durable: a new leader
 * carries on with it. Adapter: postgres/scaleTargetStore.ts; fake:
 * test/fakes/inMemoryScaleTargetStore.ts.
 */
export interface ScaleTargetStore {
  /** Undefined: never asked; the pool is whatever joins. */
  get(): Promise<ScaleTarget | undefined>;
  /** Replaces the target (the latest request wins). */
  put(target: ScaleTarget): Promise<ScaleTarget>;
}
