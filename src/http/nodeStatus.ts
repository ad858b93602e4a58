import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { StatusResult } from '../events/commands.js';
import type { AgentCommands } from '../nats/agentCommands.js';
import type { NodeRegistry } from '../ports/nodeRegistry.js';
import { NodeNotFoundError } from './errors.js';
import { NodeParams } from './schemas.js';

export const NodeStatusView = Type.Composite(
  [
    Type.Object({ nodeId: Type.String() }),
    Type.Omit(StatusResult, ['readAt']),
    Type.Object({ readAt: Type.String({ format: 'date-time', description: 'When the agent read these facts from FreeSWITCH' }) }),
  ],
  { $id: 'NodeStatus', description: 'Live facts of one FreeSWITCH, read through its agent when asked' },
);

export interface NodeStatusDeps {
  readonly registry: NodeRegistry;
  readonly agents: AgentCommands;
}

/**
 * `GET /v1/nodes/{nodeId}/status`: asks the node's agent over NATS (the one route that does
 * not answer from what the control plane last saw). A node the registry does not know is 404
 * before anything is asked; the agent's silence is 504, its refusal 502 (HTTP_ERRORS).
 */
export function registerNodeStatusRoute(app: FastifyInstance, deps: NodeStatusDeps): void {
  app.get<{ Params: Static<typeof NodeParams> }>('/v1/nodes/:nodeId/status', {
    schema: {
      tags: ['nodes'],
      summary: 'Live FreeSWITCH facts of one node, read through its agent now',
      params: NodeParams,
      response: { 200: NodeStatusView },
    },
  }, async (req): Promise<Static<typeof NodeStatusView>> => {
    const { nodeId } = req.params;
    if (!(await deps.registry.get(nodeId))) throw new NodeNotFoundError(nodeId);
    const status = await deps.agents.status(nodeId);
    return { nodeId, ...status, readAt: new Date(status.readAt).toISOString() };
  });
}
