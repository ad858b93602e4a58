import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import type { NodeRecord } from '../../core/node.js';
import type { AgentCommands } from '../../nats/agentCommands.js';
import type { NodeRegistry } from '../../ports/nodeRegistry.js';
import type { MachineIntent } from '../../core/machine.js';
import { ConflictError, InvalidRequestError, NodeNotFoundError } from '../errors.js';
import { DrainBody, NodeDrainView, NodeParams, NodesQuery, NodeStatusView, NodeView } from '../schemas.js';

export interface NodeRoutesDeps {
  readonly registry: NodeRegistry;
  /** Commands to one node's agent (GET /v1/nodes/{nodeId}/status). */
  readonly agents: AgentCommands;
  /** Drain and undrain: how an intent change is put into effect (absent: those routes answer 409). */
  readonly drains?: DrainEffect;
  readonly now?: () => number;
}

/** How a drain or undrain written to a machine's intent takes effect. */
export interface DrainEffect {
  /** The intent changed: the leader reconciles (this replica, or the leader told over NATS). */
  changed(): void;
  /** Resolves true once this replica, if it leads, ran a pass after the change (within `timeoutMs`); false otherwise. */
  applied(timeoutMs: number): Promise<boolean>;
  /** A drain without a deadline gets this one (ms from now). */
  readonly defaultDeadlineMs: number;
}

/** How long a drain or undrain call waits for the leader's pass that applies it. */
const APPLY_WAIT_MS = 5000;
/** Compare-and-set attempts on the machine record before the call gives up (another writer kept winning). */
const CAS_ATTEMPTS = 5;

const iso = (ms: number) => new Date(ms).toISOString();

function toView(n: NodeRecord): Static<typeof NodeView> {
  return {
    nodeId: n.nodeId,
    sipUri: n.sipUri,
    hostname: n.hostname,
    machineId: n.machineId,
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

/** The nodes resource: `/v1/nodes`, `/v1/nodes/{nodeId}` and `/v1/nodes/{nodeId}/status`. */
export const nodeRoutes: FastifyPluginCallbackTypebox<NodeRoutesDeps> = (app, deps, done) => {
  app.get('/v1/nodes', {
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

  app.get('/v1/nodes/:nodeId', {
    schema: { tags: ['nodes'], summary: 'One node by its Core-UUID', params: NodeParams, response: { 200: NodeView } },
  }, async (req) => {
    const node = await deps.registry.get(req.params.nodeId);
    if (!node) throw new NodeNotFoundError(req.params.nodeId);
    return toView(node);
  });

  /*
   * Asks the node's agent over NATS: the one route that does not answer from what the control
   * plane last saw. A node the registry does not know is 404 before anything is asked; the
   * agent's silence is 504, its refusal 502 (HTTP_ERRORS).
   */
  app.get('/v1/nodes/:nodeId/status', {
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

  /**
   * Drain and undrain write the operator's intent on the node's machine (so a FreeSWITCH that
   * restarts there comes back draining) and answer once this replica's reconciler, if it
   * leads, has run a pass after it: the node out of new selection in every Kamailio that
   * answered (`applied`). Otherwise the leader applies it in its next pass.
   */
  const setDrain = async (nodeId: string, drain: MachineIntent['drain'] | undefined) => {
    const effect = deps.drains;
    if (!effect) throw new ConflictError('drains are not available on this control plane');
    const node = await deps.registry.get(nodeId);
    if (!node) throw new NodeNotFoundError(nodeId);
    if (node.state === 'gone' && drain !== undefined) throw new ConflictError(`node ${nodeId} is gone; nothing to drain`);
    for (let attempt = 0; ; attempt++) {
      const current = await deps.registry.getMachine(node.machineId);
      const { drain: _old, ...rest } = current ?? { machineId: node.machineId, slot: node.slot, nodeId: node.nodeId, rev: 0 };
      const next: MachineIntent = { ...rest, ...(drain ? { drain } : {}), rev: (current?.rev ?? 0) + 1 };
      if (await deps.registry.putMachine(next, current?.rev)) break;
      if (attempt + 1 >= CAS_ATTEMPTS) throw new ConflictError(`machine ${node.machineId} kept changing; try again`);
    }
    effect.changed();
    const applied = await effect.applied(APPLY_WAIT_MS);
    const after = (await deps.registry.get(nodeId)) ?? node;
    return { node: toView(after), drain: drain ? { deadline: iso(drain.deadline) } : null, remainingCalls: after.sessions, applied };
  };

  app.post('/v1/nodes/:nodeId/drain', {
    schema: {
      tags: ['nodes'],
      summary: 'Drains a node: no new calls or rooms from now on (callers of rooms pinned to it still reach it), its calls go on; drained once they are 0',
      params: NodeParams,
      body: DrainBody,
      response: { 200: NodeDrainView },
    },
    // `curl -X POST .../drain` with no body at all: the defaults.
    preValidation: (req, _reply, next) => {
      req.body ??= {};
      next();
    },
  }, async (req) => {
    const now = (deps.now ?? Date.now)();
    const deadline = req.body.deadline !== undefined ? Date.parse(req.body.deadline) : now + (deps.drains?.defaultDeadlineMs ?? 0);
    if (!(deadline > now)) throw new InvalidRequestError(`body/deadline must be in the future (got ${req.body.deadline ?? ''})`);
    return setDrain(req.params.nodeId, { deadline });
  });

  app.post('/v1/nodes/:nodeId/undrain', {
    schema: {
      tags: ['nodes'],
      summary: 'Lifts a drain: the node takes new calls and rooms again (draining or drained -> active)',
      params: NodeParams,
      response: { 200: NodeDrainView },
    },
  }, async (req) => setDrain(req.params.nodeId, undefined));

  done();
};
