import Fastify, { LogController, type FastifyInstance, type FastifyBaseLogger } from 'fastify';
import swagger from '@fastify/swagger';
import { Type, type Static } from '@sinclair/typebox';
import { desiredSets, flattenSets, type DispatcherPolicy } from '../core/dispatcher.js';
import { compareWithKamailio } from '../core/kamailioView.js';
import type { NodeRecord } from '../core/node.js';
import type { KamailioRpc } from '../ports/kamailioRpc.js';
import type { Metrics } from '../metrics/metrics.js';
import type { NodeRegistry } from '../ports/nodeRegistry.js';
import type { AgentCommands } from '../nats/agentCommands.js';
import { answerClientError, answerFrameworkError, installErrorHandler, NodeNotFoundError, ServerClosingError } from './errors.js';
import type { ReadinessCheck } from './readiness.js';
import { countRefusedRequest, installRequestMetrics, observeRequest } from './requestMetrics.js';
import { installRouteConventions } from './routes.js';
import { registerNodeStatusRoute } from './nodeStatus.js';
import { DispatcherView, NodeParams, NodesQuery, NodeView, ReadyView } from './schemas.js';

export type { ReadinessCheck } from './readiness.js';

export interface AppDeps {
  readonly registry: NodeRegistry;
  /** Commands to one node's agent (GET /v1/nodes/{nodeId}/status). */
  readonly agents: AgentCommands;
  readonly kamailios: readonly KamailioRpc[];
  readonly policy: DispatcherPolicy;
  readonly managedSets: ReadonlySet<number>;
  readonly metrics: Metrics;
  /** Named checks for /readyz; each rejects when its dependency is not usable. */
  readonly readiness: Readonly<Record<string, ReadinessCheck>>;
  readonly logger?: FastifyBaseLogger;
  readonly version: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

function toView(n: NodeRecord): Static<typeof NodeView> {
  return {
    nodeId: n.nodeId,
    sipUri: n.sipUri,
    hostname: n.hostname,
    state: n.state,
    health: n.health,
    capacity: n.capacity,
    sessions: n.sessions,
    agentVersion: n.agentVersion,
    priority: n.slot,
    heartbeatIntervalMs: n.heartbeatIntervalMs,
    joinedAt: iso(n.joinedAt),
    lastSeenAt: iso(n.lastSeenAt),
    expiresAt: iso(n.expiresAt),
    stateChangedAt: iso(n.stateChangedAt),
    ...(n.goneReason ? { goneReason: n.goneReason } : {}),
    blockers: [...(n.blockers ?? [])],
  };
}

/** Builds the HTTP API without listening: tests call inject(), src/main.ts listens. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    // Probes and scrapes would flood the log; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
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
  });
  installErrorHandler(app);
  installRequestMetrics(app, deps.metrics);
  installRouteConventions(app);
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (_req, _reply, done) => done(closing ? new ServerClosingError() : undefined));
  await app.register(swagger, {
    openapi: {
      info: { title: 'Elastic SBC control plane', version: deps.version },
      tags: [{ name: 'nodes' }, { name: 'dispatcher' }, { name: 'operations' }],
    },
  });

  app.get<{ Querystring: Static<typeof NodesQuery> }>('/v1/nodes', {
    schema: {
      tags: ['nodes'],
      summary: 'Every node in the registry, or those in the given states',
      querystring: NodesQuery,
      response: { 200: Type.Object({ nodes: Type.Array(NodeView) }) },
    },
  }, async (req) => {
    const wanted = req.query.state === undefined ? undefined : new Set([req.query.state].flat().flatMap((s) => s.split(',')));
    const nodes = (await deps.registry.list()).filter((n) => wanted === undefined || wanted.has(n.state));
    return { nodes: nodes.sort((a, b) => a.slot - b.slot).map(toView) };
  });

  app.get<{ Params: Static<typeof NodeParams> }>('/v1/nodes/:nodeId', {
    schema: { tags: ['nodes'], summary: 'One node by its Core-UUID', params: NodeParams, response: { 200: NodeView } },
  }, async (req) => {
    const node = await deps.registry.get(req.params.nodeId);
    if (!node) throw new NodeNotFoundError(req.params.nodeId);
    return toView(node);
  });

  registerNodeStatusRoute(app, deps);

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
    return { desired: sets, kamailios };
  });

  app.get('/healthz', { schema: { tags: ['operations'], summary: 'Liveness: the process serves requests' } }, () => ({ status: 'ok' }));

  app.get('/readyz', {
    schema: { tags: ['operations'], summary: 'Readiness: every dependency usable', response: { 200: ReadyView, 503: ReadyView } },
  }, async (_req, reply) => {
    const entries = await Promise.all(
      Object.entries(deps.readiness).map(async ([name, check]): Promise<[string, { ok: boolean; detail?: string }]> => {
        try {
          const detail = await check();
          return [name, typeof detail === 'string' ? { ok: true, detail } : { ok: true }];
        } catch (err) {
          return [name, { ok: false, detail: (err as Error).message }];
        }
      }),
    );
    const checks: Record<string, { ok: boolean; detail?: string }> = Object.fromEntries(entries);
    const ready = entries.every(([, c]) => c.ok);
    return reply.code(ready ? 200 : 503).send({ ready, checks });
  });

  app.get('/metrics', { schema: { tags: ['operations'], summary: 'Prometheus metrics' } }, async (_req, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });

  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());

  return app;
}
