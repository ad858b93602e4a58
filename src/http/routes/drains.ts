import { MachineConflictError, updateMachine } from '../../registry/machines.js';
import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { Static } from '@sinclair/typebox';
import { estimateDrainEnd } from '../../core/drain.js';
import type { MachineDrain, MachineIntent } from '../../core/machine.js';
import type { NodeRecord } from '../../core/node.js';
import { NodeId } from '../../events/schemas.js';
import type { NodeRegistry } from '../../ports/nodeRegistry.js';
import { recordOperation, type OperationLog } from '../../ports/operationLog.js';
import type { RoomRegistry } from '../../ports/roomRegistry.js';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { actorOf } from '../auth.js';
import { ConflictError, InvalidRequestError, NodeNotFoundError } from '../errors.js';
import { DrainBody, NodeDrainView, NodeOrMachineParams } from '../schemas.js';
import { toView } from './nodes.js';

export interface DrainRoutesDeps {
  readonly registry: NodeRegistry;
  /** The rooms a draining node still hosts, and the pins to it. */
  readonly rooms: Pick<RoomRegistry, 'list'>;
  /** How an intent change is put into effect (absent: drain and undrain answer 409). */
  readonly drains?: DrainEffect;
  /** The audit log: every drain and undrain asked. */
  readonly operations?: Pick<OperationLog, 'record'>;
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

const iso = (ms: number) => new Date(ms).toISOString();
const isNodeId = TypeCompiler.Compile(NodeId);

/**
 * A drain's resource: `POST /v1/nodes/{id}/drain`, `POST /v1/nodes/{id}/undrain` and
 * `GET /v1/nodes/{id}/drain` (its progress: calls and rooms left, the estimated end). `{id}`
 * is a node's Core-UUID or its machine's id: a preStop hook knows its pod name, not the
 * Core-UUID of the FreeSWITCH inside.
 *
 * Drain and undrain write the operator's intent on the node's machine (so a FreeSWITCH that
 * restarts there comes back draining) and answer once this replica's reconciler, if it leads,
 * has run a pass after it: the node out of new selection in every Kamailio that answered
 * (`applied`). Otherwise the leader applies it in its next pass.
 */
export const drainRoutes: FastifyPluginCallbackTypebox<DrainRoutesDeps> = (app, deps, done) => {
  const now = () => (deps.now ?? Date.now)();

  /** The node meant: by Core-UUID; else the live node of that machine (the machine's last one, else the newest there). */
  const resolve = async (id: string): Promise<NodeRecord> => {
    if (isNodeId.Check(id)) {
      const n = await deps.registry.get(id);
      if (!n) throw new NodeNotFoundError(id);
      return n;
    }
    const machine = await deps.registry.getMachine(id);
    const last = machine ? await deps.registry.get(machine.nodeId) : undefined;
    if (last && last.state !== 'gone') return last;
    const onMachine = (await deps.registry.list()).filter((n) => n.machineId === id).sort((a, b) => (a.state === 'gone' ? 1 : 0) - (b.state === 'gone' ? 1 : 0) || b.joinedAt - a.joinedAt);
    const found = onMachine[0] ?? last;
    if (!found) throw new NodeNotFoundError(id);
    return found;
  };

  const view = async (node: NodeRecord, machine: MachineIntent | undefined, applied: boolean): Promise<Static<typeof NodeDrainView>> => {
    const rooms = await deps.rooms.list();
    const remainingRooms = rooms.filter((r) => r.halves.some((h) => h.nodeId === node.nodeId && h.members > 0)).map((r) => r.room).sort();
    const pinnedRooms = rooms.filter((r) => r.pin?.uri === node.sipUri).length;
    const drain = machine?.drain;
    const end = drain && node.state === 'draining' ? estimateDrainEnd(drain, node.sessions, now()) : node.state === 'drained' ? node.stateChangedAt : undefined;
    return {
      node: toView(node),
      drain: drain
        ? {
            deadline: iso(drain.deadline),
            onDeadline: drain.onDeadline ?? 'keep',
            ...(drain.hangupCause ? { hangupCause: drain.hangupCause } : {}),
            ...(drain.since !== undefined ? { since: iso(drain.since) } : {}),
            ...(drain.by ? { by: drain.by } : {}),
          }
        : null,
      remainingCalls: node.sessions,
      remainingRooms,
      pinnedRooms,
      inboundPaused: machine?.inboundPaused === true,
      estimatedEnd: end === undefined ? null : iso(end),
      applied,
    };
  };

  const setDrain = async (id: string, drain: MachineDrain | undefined, actor: string) => {
    const effect = deps.drains;
    if (!effect) throw new ConflictError('drains are not available on this control plane');
    const node = await resolve(id);
    if (node.state === 'gone' && drain !== undefined) throw new ConflictError(`node ${node.nodeId} is gone; nothing to drain`);
    const written = await updateMachine(deps.registry, node.machineId, (current) => {
      const { drain: old, rev: _rev, ...rest } = current ?? { machineId: node.machineId, slot: node.slot, nodeId: node.nodeId, rev: 0 };
      // Asked again while draining: the new terms, but the drain began when it first did.
      const kept = drain && old ? { ...drain, ...(old.since !== undefined ? { since: old.since, startSessions: old.startSessions ?? node.sessions } : {}) } : drain;
      return { ...rest, ...(kept ? { drain: kept } : {}) };
    }).catch((err: unknown) => {
      if (err instanceof MachineConflictError) throw new ConflictError(`machine ${node.machineId} kept changing; try again`);
      throw err;
    });
    await audit(drain ? 'drain' : 'undrain', actor, node, drain ? { deadline: iso(drain.deadline), onDeadline: drain.onDeadline, ...(drain.hangupCause ? { hangupCause: drain.hangupCause } : {}) } : {});
    effect.changed();
    const applied = await effect.applied(APPLY_WAIT_MS);
    const after = (await deps.registry.get(node.nodeId)) ?? node;
    return view(after, (await deps.registry.getMachine(node.machineId)) ?? written, applied);
  };

  const audit = (kind: 'drain' | 'undrain', actor: string, node: NodeRecord, detail: Record<string, unknown>) =>
    recordOperation(deps.operations, { kind, actor, target: node.nodeId, outcome: 'requested', detail: { machineId: node.machineId, ...detail }, at: now() }, app.log);

  app.get('/v1/nodes/:nodeId/drain', {
    config: { scope: 'read' },
    schema: {
      tags: ['nodes'],
      summary: 'A drain\'s progress: the node\'s state, its calls and rooms left, whether it is paused inbound, the estimated end',
      params: NodeOrMachineParams,
      response: { 200: NodeDrainView },
    },
  }, async (req) => {
    const node = await resolve(req.params.nodeId);
    return view(node, await deps.registry.getMachine(node.machineId), node.state === 'draining' || node.state === 'drained');
  });

  app.post('/v1/nodes/:nodeId/drain', {
    config: { scope: 'operate' },
    schema: {
      tags: ['nodes'],
      summary: 'Drains a node: no new calls or rooms from now on (callers of rooms pinned to it still reach it), its calls go on; drained once they are 0',
      params: NodeOrMachineParams,
      body: DrainBody,
      response: { 200: NodeDrainView },
    },
    // `curl -X POST .../drain` with no body at all: the defaults.
    preValidation: (req, _reply, next) => {
      req.body ??= {};
      next();
    },
  }, async (req) => {
    const t = now();
    const { body } = req;
    const deadline = body.deadline !== undefined ? Date.parse(body.deadline) : t + (deps.drains?.defaultDeadlineMs ?? 0);
    if (!(deadline > t)) throw new InvalidRequestError(`body/deadline must be in the future (got ${body.deadline ?? ''})`);
    if (body.hangupCause !== undefined && body.onDeadline !== 'hangup') throw new InvalidRequestError('body/hangupCause is for onDeadline "hangup" only');
    const node = await resolve(req.params.nodeId);
    const drain: MachineDrain = {
      deadline,
      onDeadline: body.onDeadline ?? 'keep',
      ...(body.hangupCause ? { hangupCause: body.hangupCause } : {}),
      since: t,
      startSessions: node.sessions,
      by: 'operator',
    };
    return setDrain(node.nodeId, drain, actorOf(req));
  });

  app.post('/v1/nodes/:nodeId/undrain', {
    config: { scope: 'operate' },
    schema: {
      tags: ['nodes'],
      summary: 'Lifts a drain: the node takes new calls and rooms again (draining or drained -> active); FreeSWITCH paused inbound for it is resumed',
      params: NodeOrMachineParams,
      response: { 200: NodeDrainView },
    },
  }, async (req) => setDrain(req.params.nodeId, undefined, actorOf(req)));

  done();
};
