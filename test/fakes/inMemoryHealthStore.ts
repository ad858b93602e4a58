import type { HealthReport } from '../../src/core/health.js';
import type { HealthStore } from '../../src/ports/healthStore.js';

/** HealthStore in memory, with the writes counted; `failWith` makes the next write fail. */
export class InMemoryHealthStore implements HealthStore {
  readonly reports = new Map<string, HealthReport>();
  writes = 0;
  failWith: Error | undefined;

  all(): Promise<Map<string, HealthReport>> {
    return Promise.resolve(new Map(this.reports));
  }

  write(reports: ReadonlyMap<string, HealthReport>, forget: readonly string[]): Promise<void> {
    const err = this.failWith;
    if (err) {
      this.failWith = undefined;
      return Promise.reject(err);
    }
    this.writes++;
    for (const [id, r] of reports) this.reports.set(id, r);
    for (const id of forget) this.reports.delete(id);
    return Promise.resolve();
  }
}
