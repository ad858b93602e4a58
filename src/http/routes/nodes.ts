import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import type { HealthReport } from '../../core/health.js';
import type { NodeRecord } from '../../core/node.js';
import type { HealthStore } from '../../ports/healthStore.js';
import type { AgentCommands } from '../../nats/agentCommands.js';
import type { NodeRegistry } from '../../ports/nodeRegistry.js';
import { NodeNotFoundError } from '../errors.js';
import { NodeParams, NodesQuery, NodeStatusView, NodeView } from '../schemas.js';

export interface NodeRoutesDeps {
  readonly registry: NodeRegistry;
  /** Commands to one node's agent (GET /v1/nodes/{nodeId}/status). */
  readonly agents: AgentCommands;
  /** The leader's health reports (absent: health scoring is off; `health` then says what the agent's probe found). */
  readonly health?: Pick<HealthStore, 'all'>;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function toView(n: NodeRecord, report?: HealthReport): Static<typeof NodeView> {
  const load = n.load;
  return {
    nodeId: n.nodeId,
    sipUri: n.sipUri,
    hostname: n.hostname,
    machineId: n.machineId,
    state: n.state,
    health: report?.state ?? n.health,
    ...(report
      ? {
          healthScore: report.score,
          healthSince: iso(report.since),
          healthAt: iso(report.at),
          ...(report.worst ? { worstSensor: report.worst } : {}),
          sensors: report.readings.map((r) => ({ sensor: r.sensor, value: r.value, score: r.score, ...(r.detail !== undefined ? { detail: r.detail } : {}) })),
        }
      : {}),
    ...(load
      ? {
          load: {
            ...(load.idleCpuPercent !== undefined ? { idleCpuPercent: load.idleCpuPercent } : {}),
            ...(load.sessionsPerSecond !== undefined ? { sessionsPerSecond: load.sessionsPerSecond } : {}),
            ...(load.sessionsPerSecondLimit !== undefined ? { sessionsPerSecondLimit: load.sessionsPerSecondLimit } : {}),
            ...(load.heartbeatEventAt !== undefined ? { heartbeatEventAt: iso(load.heartbeatEventAt) } : {}),
          },
        }
      : {}),
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

/** The stored reports; none when scoring is off. A store that fails fails the request (500), like the registry. */
export async function healthReports(deps: Pick<NodeRoutesDeps, 'health'>): Promise<Map<string, HealthReport>> {
  return deps.health ? deps.health.all() : new Map();
}

/** The nodes resource: `/v1/nodes`, `/v1/nodes/{nodeId}` and `/v1/nodes/{nodeId}/status`. */
export const nodeRoutes: FastifyPluginCallbackTypebox<NodeRoutesDeps> = (app, deps, done) => {
  app.get('/v1/nodes', {
    config: { scope: 'read' },
    schema: {
      tags: ['nodes'],
      summary: 'Every node in the registry, or those in the given states',
      querystring: NodesQuery,
      response: { 200: Type.Object({ nodes: Type.Array(NodeView) }) },
    },
  }, async (req) => {
    const wanted = req.query.state === undefined ? undefined : new Set([req.query.state].flat().flatMap((s) => s.split(',')));
    const [all, reports] = await Promise.all([deps.registry.list(), healthReports(deps)]);
    const nodes = all.filter((n) => wanted === undefined || wanted.has(n.state));
    return { nodes: nodes.sort((a, b) => a.slot - b.slot).map((n) => toView(n, reports.get(n.nodeId))) };
  });

  app.get('/v1/nodes/:nodeId', {
    config: { scope: 'read' },
    schema: { tags: ['nodes'], summary: 'One node by its Core-UUID', params: NodeParams, response: { 200: NodeView } },
  }, async (req) => {
    const [node, reports] = await Promise.all([deps.registry.get(req.params.nodeId), healthReports(deps)]);
    if (!node) throw new NodeNotFoundError(req.params.nodeId);
    return toView(node, reports.get(node.nodeId));
  });

  /*
   * Asks the node's agent over NATS: the one route that does not answer from what the control
   * plane last saw. A node the registry does not know is 404 before anything is asked; the
   * agent's silence is 504, its refusal 502 (HTTP_ERRORS).
   */
  app.get('/v1/nodes/:nodeId/status', {
    config: { scope: 'read' },
    schema: {
      tags: ['nodes'],
      summary: 'Live FreeSWITCH facts of one node, read through its agent now',
      params: NodeParams,
      response: { 200: NodeStatusView },
    },
  }, async (req) => {
    const { nodeId } = req.params;
    if (!(await deps.registry.get(nodeId))) throw new NodeNotFoundError(nodeId);
    const status = await deps.agents.status(nodeId);
    return { nodeId, ...status, readAt: new Date(status.readAt).toISOString() };
  });

  done();
};
