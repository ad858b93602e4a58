import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { Metrics } from '../../metrics/metrics.js';

export interface MetricsRoutesDeps {
  readonly metrics: Metrics;
}

/** `/metrics`: the Prometheus exposition of every `sbc_*` metric and Node's defaults. */
export const metricsRoutes: FastifyPluginCallbackTypebox<MetricsRoutesDeps> = (app, deps, done) => {
  app.get('/metrics', { config: { scope: 'read' }, schema: { tags: ['operations'], summary: 'Prometheus metrics' } }, async (_req, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });

  done();
};
