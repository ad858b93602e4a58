import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { desiredSets, flattenSets, type DispatcherPolicy } from '../../core/dispatcher.js';
import { compareWithKamailio } from '../../core/kamailioView.js';
import type { KamailioRpc } from '../../kamailio/rpc.js';
import type { NodeRegistry } from '../../registry/nodeRegistry.js';
import { DispatcherView } from '../schemas.js';

export interface DispatcherRoutesDeps {
  readonly registry: NodeRegistry;
  readonly kamailios: readonly KamailioRpc[];
  readonly policy: DispatcherPolicy;
  readonly managedSets: ReadonlySet<number>;
}

/** The dispatcher resource: `/v1/dispatcher`, the desired sets beside what each Kamailio has loaded. */
export const dispatcherRoutes: FastifyPluginCallbackTypebox<DispatcherRoutesDeps> = (app, deps, done) => {
  app.get('/v1/dispatcher', {
    schema: {
      tags: ['dispatcher'],
      summary: 'Desired dispatcher sets versus what each Kamailio reports',
      response: { 200: DispatcherView },
    },
  }, async () => {
    const sets = desiredSets(await deps.registry.list(), deps.policy);
    const desired = flattenSets(sets);
    const kamailios = await Promise.all(
      deps.kamailios.map(async (k) => {
        try {
          const snapshot = await k.list();
          const drift = compareWithKamailio(desired, snapshot, deps.managedSets);
          const loaded = snapshot.destinations.filter((d) => deps.managedSets.has(d.setId));
          return drift.inSync
            ? { kamailio: k.name, status: 'in-sync' as const, loaded }
            : { kamailio: k.name, status: 'drift' as const, loaded, missing: [...drift.missing], extra: [...drift.extra], changed: [...drift.changed] };
        } catch (err) {
          return { kamailio: k.name, status: 'unreachable' as const, error: (err as Error).message };
        }
      }),
    );
    return { desired: sets.map((set) => ({ ...set, destinations: [...set.destinations] })), kamailios };
  });

  done();
};
