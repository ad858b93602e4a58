import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';

/**
 * `/openapi.json`: the OpenAPI document @fastify/swagger builds from every route's schema
 * (register @fastify/swagger first; the document itself is hidden from it).
 */
export const openapiRoutes: FastifyPluginCallbackTypebox = (app, _opts, done) => {
  app.get('/openapi.json', { config: { scope: 'read' }, schema: { hide: true } }, () => app.swagger());

  done();
};
