import Fastify, { LogController, type FastifyInstance, type FastifyBaseLogger } from 'fastify';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { answerClientError, answerFrameworkError, installErrorHandler, ServerClosingError } from './errors.js';
import { countRefusedRequest, installRequestMetrics, observeRequest } from './requestMetrics.js';
import { BEARER_SCHEME, installAuth, type ApiAuth } from './auth.js';
import { installRouteConventions } from './routeConventions.js';
import { callRoutes, type CallRoutesDeps } from './routes/calls.js';
import { clusterRoutes, type ClusterRoutesDeps } from './routes/cluster.js';
import { dispatcherRoutes, type DispatcherRoutesDeps } from './routes/dispatcher.js';
import { healthRoutes, type HealthRoutesDeps } from './routes/health.js';
import { metricsRoutes, type MetricsRoutesDeps } from './routes/metrics.js';
import { nodeRoutes, type NodeRoutesDeps } from './routes/nodes.js';
import { drainRoutes, type DrainRoutesDeps } from './routes/drains.js';
import { operationRoutes } from './routes/operations.js';
import { scaleRoutes, type ScaleRoutesDeps } from './routes/scale.js';
import type { OperationLog } from '../ports/operationLog.js';
import { openapiRoutes } from './routes/openapi.js';
import { roomRoutes, type RoomRoutesDeps } from './routes/rooms.js';
import { docsRoutes } from './routes/docs.js';
import { tokenRoutes } from './routes/tokens.js';
import { uiRoutes } from './routes/ui.js';
import type { TokenStore } from '../ports/tokenStore.js';

export type { ReadinessCheck } from './readiness.js';

/** What every resource's routes need, together (each plugin takes only its own part). */
export interface AppDeps extends NodeRoutesDeps, Omit<DrainRoutesDeps, 'rooms' | 'operations'>, RoomRoutesDeps, CallRoutesDeps, DispatcherRoutesDeps, ClusterRoutesDeps, HealthRoutesDeps, MetricsRoutesDeps {
  readonly logger?: FastifyBaseLogger;
  readonly version: string;
  /** POST/GET /v1/scale (absent: POST answers 409). */
  readonly scale?: ScaleRoutesDeps['scale'];
  /** The audit log: GET /v1/operations, and where drains and undrains are recorded. */
  readonly operations: OperationLog;
  readonly onPolicyChange?: () => void;
  /** API tokens: /v1/tokens (absent: those routes answer 409). */
  readonly tokens?: TokenStore;
  /** The token check (SBC_API_AUTH=on); absent: no route asks for a token. */
  readonly auth?: ApiAuth;
}

/** Builds the HTTP API without listening: tests call inject(), src/main.ts listens. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    // Probes and scrapes would flood the log; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    // A SIP Call-ID (up to 1024 characters, some percent-encoded) is a path parameter of /v1/calls/{id}.
    routerOptions: { maxParamLength: 2048 },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    // Errors met before any route answer in the same shape as every other error.
    frameworkErrors: (err, req, reply) => {
      answerFrameworkError(err, req, reply);
      observeRequest(deps.metrics, req, reply);
    },
    clientErrorHandler: (err, socket) => {
      const status = answerClientError(err, socket);
      if (status !== undefined) countRefusedRequest(deps.metrics, status);
    },
    // Fastify's own 503 while closing has its own shape; the onRequest hook below answers instead.
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>();
  installErrorHandler(app);
  installRequestMetrics(app, deps.metrics);
  installRouteConventions(app);
  // Before any route: every route's declared scope is checked as it is registered.
  installAuth(app, deps.auth, deps.metrics);
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (_req, _reply, done) => done(closing ? new ServerClosingError() : undefined));
  await app.register(swagger, {
    openapi: {
      info: { title: 'Elastic SBC control plane', version: deps.version },
      tags: [{ name: 'nodes' }, { name: 'rooms' }, { name: 'calls' }, { name: 'dispatcher' }, { name: 'cluster' }, { name: 'operations' }, { name: 'tokens' }],
      ...(deps.auth ? { components: { securitySchemes: BEARER_SCHEME } } : {}),
    },
  });

  // One plugin per resource; each is handed only the dependencies it declares.
  const { registry, rooms, policies, agents, dispatcher, managedSets, cluster, readiness, metrics } = deps;
  await app.register(nodeRoutes, { registry, agents, ...(deps.health ? { health: deps.health } : {}) });
  await app.register(drainRoutes, { registry, rooms, ...(deps.drains ? { drains: deps.drains } : {}), operations: deps.operations, ...(deps.now ? { now: deps.now } : {}) });
  await app.register(roomRoutes, { rooms, registry, policies, ...(deps.onPolicyChange ? { onPolicyChange: deps.onPolicyChange } : {}) });
  await app.register(operationRoutes, { log: deps.operations });
  await app.register(scaleRoutes, { registry, operations: deps.operations, ...(deps.scale ? { scale: deps.scale } : {}), ...(deps.now ? { now: deps.now } : {}) });
  await app.register(callRoutes, { calls: deps.calls, ...(deps.now ? { now: deps.now } : {}) });
  await app.register(dispatcherRoutes, { dispatcher, managedSets });
  await app.register(clusterRoutes, { cluster });
  await app.register(healthRoutes, { readiness });
  await app.register(metricsRoutes, { metrics });
  await app.register(tokenRoutes, { ...(deps.tokens ? { tokens: deps.tokens } : {}), operations: deps.operations, ...(deps.now ? { now: deps.now } : {}) });
  await app.register(openapiRoutes);
  await app.register(docsRoutes);
  await app.register(uiRoutes);

  return app;
}
