import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { DispatcherStatus } from '../../reconciler/reconciler.js';
import { DispatcherView } from '../schemas.js';

export interface DispatcherRoutesDeps {
  /** What the reconciler's latest pass computed and saw. */
  readonly dispatcher: { dispatcherStatus(): DispatcherStatus };
  readonly managedSets: ReadonlySet<number>;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The dispatcher resource: `/v1/dispatcher`, the latest pass's desired rows (including rows
 * kept for nodes the registry lost) beside each Kamailio's latest observation. It reads what
 * the reconciler last saw and never calls Kamailio: a request cannot add load to it, and the
 * answer is what the control plane acts on.
 */
export const dispatcherRoutes: FastifyPluginCallbackTypebox<DispatcherRoutesDeps> = (app, deps, done) => {
  app.get('/v1/dispatcher', {
    config: { scope: 'read' },
    schema: {
      tags: ['dispatcher'],
      summary: "The last reconcile pass's desired dispatcher sets versus what each Kamailio last reported",
      response: { 200: DispatcherView },
    },
  }, () => {
    const status = deps.dispatcher.dispatcherStatus();
    const kamailios = status.kamailios.map((o) => {
      if (o.at === undefined) return { kamailio: o.kamailio, status: 'not-observed' as const };
      const observedAt = iso(o.at);
      if (o.error !== undefined || !o.snapshot || !o.drift) return { kamailio: o.kamailio, status: 'unreachable' as const, observedAt, error: o.error ?? 'no answer' };
      const loaded = o.snapshot.destinations.filter((d) => deps.managedSets.has(d.setId));
      const marks = (o.marks ?? []).map((m) => ({ setId: m.setId, uri: m.uri, ...(m.nodeId === undefined ? {} : { nodeId: m.nodeId }), since: iso(m.since), until: iso(m.until) }));
      const d = o.drift;
      return d.inSync
        ? { kamailio: o.kamailio, status: 'in-sync' as const, observedAt, loaded, marks }
        : { kamailio: o.kamailio, status: 'drift' as const, observedAt, loaded, marks, missing: [...d.missing], extra: [...d.extra], changed: [...d.changed] };
    });
    return {
      pass: status.pass ? { id: status.pass.id, at: iso(status.pass.at), ok: status.pass.ok } : null,
      desired: status.desired.map((set) => ({ ...set, destinations: [...set.destinations] })),
      keptForUnknownNodes: status.keptForUnknownNodes,
      kamailios,
    };
  });

  done();
};
