import type { ScaleTarget } from '../../src/core/scale.js';
import type { ScaleTargetStore } from '../../src/ports/scaleTargetStore.js';

/** The scale target in memory, cut like the Postgres column (256 chars of `by`). */
export class InMemoryScaleTargetStore implements ScaleTargetStore {
  target: ScaleTarget | undefined;

  get(): Promise<ScaleTarget | undefined> {
    return Promise.resolve(this.target);
  }

  put(t: ScaleTarget): Promise<ScaleTarget> {
    this.target = { ...t, by: t.by.slice(0, 256) };
    return Promise.resolve(this.target);
  }
}
