import type { KamailioOutcome, ReconcileReport } from '../reconciler/reconciler.js';

/** A named /readyz check: rejects when its dependency is not usable; may resolve to a detail. */
export type ReadinessCheck = () => Promise<string | void>;

/** What the reconciler exposes about its passes (the Reconciler itself satisfies it). */
export interface ReconcileProgress {
  readonly lastSuccessAt: number | undefined;
  readonly lastReport: ReconcileReport | undefined;
  readonly failedPassesSinceSuccess: number;
}

/** "in sync: k1; awaiting reload: k2; failing: k3 (dispatcher.list: ECONNREFUSED)". */
export function describeKamailios(outcomes: readonly KamailioOutcome[]): string {
  if (outcomes.length === 0) return 'no Kamailio configured';
  const inSync = outcomes.filter((o) => o.inSync).map((o) => o.kamailio);
  const awaiting = outcomes.filter((o) => !o.inSync && o.error === undefined).map((o) => o.kamailio);
  // Kamailio errors start with the Kamailio's name; do not say it twice.
  const failing = outcomes.flatMap((o) =>
    o.error === undefined ? [] : [`${o.kamailio} (${o.error.startsWith(`${o.kamailio} `) ? o.error.slice(o.kamailio.length + 1) : o.error})`],
  );
  return [
    ...(inSync.length > 0 ? [`in sync: ${inSync.join(', ')}`] : []),
    ...(awaiting.length > 0 ? [`awaiting reload: ${awaiting.join(', ')}`] : []),
    ...(failing.length > 0 ? [`failing: ${failing.join(', ')}`] : []),
  ].join('; ');
}

/**
 * Ready means the reconciler is doing its job: the latest pass succeeded, recently, and
 * in it at least one Kamailio was in sync. A pass succeeds even when every Kamailio is
 * unreachable (each one retries on its own backoff), so a recent success alone says
 * nothing about routing.
 */
export function reconcilerReadiness(progress: ReconcileProgress, staleAfterMs: number, now: () => number = Date.now): ReadinessCheck {
  return () => {
    const at = progress.lastSuccessAt;
    const report = progress.lastReport;
    if (at === undefined || report === undefined) return Promise.reject(new Error('no successful reconcile yet'));
    const ago = now() - at;
    const failed = progress.failedPassesSinceSuccess;
    if (failed > 0) return Promise.reject(new Error(`${failed} reconcile pass(es) failed since the last success, ${ago} ms ago`));
    if (ago > staleAfterMs) return Promise.reject(new Error(`last successful reconcile ${ago} ms ago (limit ${staleAfterMs} ms)`));
    const kamailios = describeKamailios(report.kamailios);
    if (!report.kamailios.some((o) => o.inSync)) return Promise.reject(new Error(`no Kamailio in sync: ${kamailios}`));
    return Promise.resolve(kamailios);
  };
}

/** What readiness needs of the election (Election satisfies it). */
export interface ReplicaRole {
  isLeader(): boolean;
  status(): { readonly leaderId: string | null; readonly epoch: number | null };
}

/**
 * With replicas: the leader is ready when its reconciling is (`leaderCheck`); a follower,
 * which serves the API but does not reconcile, is ready while it knows a leader.
 */
export function replicaReadiness(role: ReplicaRole, leaderCheck: ReadinessCheck): ReadinessCheck {
  return () => {
    if (role.isLeader()) return leaderCheck().then((detail) => `leader; ${detail ?? ''}`.trimEnd());
    const { leaderId, epoch } = role.status();
    if (leaderId === null) return Promise.reject(new Error('follower, and no leader is elected'));
    return Promise.resolve(`follower; leader ${leaderId} at epoch ${epoch ?? '?'}`);
  };
}
