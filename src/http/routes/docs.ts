import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { DOCS_PREFIX } from '../auth.js';

/**
 * `/docs`: Swagger UI over the OpenAPI document (register @fastify/swagger first). Its routes
 * are the plugin's own, so they carry no route config: auth.ts gives everything under
 * DOCS_PREFIX the scope `read`, and SBC_API_OPEN_PATHS may open it. The UI keeps a token
 * typed into "Authorize" for the page's own requests, so "Try it out" works with auth on.
 */
export async function docsRoutes(app: FastifyInstance): Promise<void> {
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX, uiConfig: { persistAuthorization: false, deepLinking: false } });
}
