import type { CallStore } from '../../ports/callStore.js';
import type { DispatcherPass } from '../dispatcherPass.js';
import type { ReconcileStep } from '../runner.js';

export interface CallPartitionsDeps {
  readonly calls: Pick<CallStore, 'maintainPartitions'>;
  /** How often the partitions are looked at (they change once a day). */
  readonly everyMs: number;
  readonly now: () => number;
}

/**
 * Keeps the call store's day partitions: the days to come made ahead, whole expired days
 * dropped (retention). Runs in the leader's first pass and then at most every `everyMs`, last
 * in the pass, and never fails it: a Postgres that refuses is tried again in the next pass,
 * and a write for a day not made yet makes its partition itself (postgres/callStore.ts).
 */
export function callPartitionsStep(deps: CallPartitionsDeps): ReconcileStep<DispatcherPass> {
  let lastOkAt: number | undefined;
  return {
    name: 'call-partitions',
    async run(_pass, ctx) {
      const now = deps.now();
      if (lastOkAt !== undefined && now - lastOkAt < deps.everyMs) return;
      try {
        const r = await deps.calls.maintainPartitions(now);
        lastOkAt = now;
        if (r.created.length > 0 || r.dropped.length > 0) ctx.logger.info({ created: r.created, dropped: r.dropped }, 'call event partitions made and dropped');
      } catch (err) {
        ctx.logger.warn({ err: (err as Error).message }, 'call event partitions could not be maintained; next pass retries');
      }
    },
  };
}
