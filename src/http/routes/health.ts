import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { Static } from '@sinclair/typebox';
import type { ReadinessCheck } from '../readiness.js';
import { ReadyView } from '../schemas.js';

export interface HealthRoutesDeps {
  /** Named checks for /readyz; each rejects when its dependency is not usable. */
  readonly readiness: Readonly<Record<string, ReadinessCheck>>;
}

type Check = Static<typeof ReadyView>['checks'][string];

/** The process's health: `/healthz` (liveness) and `/readyz` (every dependency usable). */
export const healthRoutes: FastifyPluginCallbackTypebox<HealthRoutesDeps> = (app, deps, done) => {
  app.get('/healthz', { config: { scope: 'read' }, schema: { tags: ['operations'], summary: 'Liveness: the process serves requests' } }, () => ({ status: 'ok' }));

  app.get('/readyz', {
    config: { scope: 'read' },
    schema: { tags: ['operations'], summary: 'Readiness: every dependency usable', response: { 200: ReadyView, 503: ReadyView } },
  }, async (_req, reply) => {
    const entries = await Promise.all(
      Object.entries(deps.readiness).map(async ([name, check]): Promise<[string, Check]> => {
        try {
          const detail = await check();
          return [name, typeof detail === 'string' ? { ok: true, detail } : { ok: true }];
        } catch (err) {
          return [name, { ok: false, detail: (err as Error).message }];
        }
      }),
    );
    const ready = entries.every(([, c]) => c.ok);
    // 503 is /readyz's answer, not an error: the body says which check failed.
    return reply.code(ready ? 200 : 503).send({ ready, checks: Object.fromEntries(entries) });
  });

  done();
};
