import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { planScale, poolOf } from '../../core/scale.js';
import type { NodeRegistry } from '../../ports/nodeRegistry.js';
import { recordOperation, type OperationLog } from '../../ports/operationLog.js';
import type { ProvisionerKind } from '../../ports/provisioner.js';
import type { ScaleTargetStore } from '../../ports/scaleTargetStore.js';
import { actorOf } from '../auth.js';
import { ConflictError, InvalidRequestError } from '../errors.js';

export interface ScaleRoutesDeps {
  readonly registry: NodeRegistry;
  readonly scale?: {
    readonly targets: ScaleTargetStore;
    readonly provisioner: ProvisionerKind;
    readonly minReplicas: number;
    readonly maxReplicas: number;
    /** The target changed: the leader reconciles. */
    changed(): void;
  };
  readonly operations: Pick<OperationLog, 'record' | 'list'>;
  readonly now?: () => number;
}

export const ScaleBody = Type.Object({ replicas: Type.Integer({ minimum: 0, maximum: 10_000, description: 'How many FreeSWITCH machines the pool is to hold' }) }, { additionalProperties: false });

const PoolNode = Type.Object({
  nodeId: Type.String(),
  machineId: Type.String(),
  state: Type.String(),
  sessions: Type.Integer(),
  drainedBy: Type.Optional(Type.Union([Type.Literal('operator'), Type.Literal('scale')])),
});

export const ScaleView = Type.Object(
  {
    target: Type.Union([Type.Object({ replicas: Type.Integer(), requestedAt: Type.String({ format: 'date-time' }), by: Type.String() }), Type.Null()], { description: 'The pool size last asked; null: never asked' }),
    provisioner: Type.Union([Type.Literal('none'), Type.Literal('command'), Type.Literal('docker'), Type.Literal('kubernetes')]),
    serving: Type.Integer({ description: 'Machines taking new calls (joining or active, not draining or cordoned)' }),
    nodes: Type.Array(PoolNode, { description: 'Every live node of the pool' }),
    settled: Type.Boolean({ description: 'The pool holds the target: as many serving as asked, no scale drain left' }),
    lastProvision: Type.Union([Type.Object({ at: Type.String({ format: 'date-time' }), outcome: Type.String(), detail: Type.Record(Type.String(), Type.Unknown()) }), Type.Null()], { description: 'The scale step\'s last request of the provisioner' }),
  },
  { $id: 'Scale' },
);

/**
 * The pool's size: `POST /v1/scale {replicas}` sets the target (a request while another is in
 * progress is merged: the latest target wins, and what was drained for the old one is kept
 * or lifted as the new one needs); the leader's scale step gets the pool there
 * (core/scale.ts). `GET /v1/scale`: the target, the pool and the provisioner's last request.
 */
export const scaleRoutes: FastifyPluginCallbackTypebox<ScaleRoutesDeps> = (app, deps, done) => {
  const now = () => (deps.now ?? Date.now)();

  const view = async (): Promise<Static<typeof ScaleView>> => {
    const [target, nodes, machines, last] = await Promise.all([
      deps.scale?.targets.get(),
      deps.registry.list(),
      deps.registry.listMachines(),
      deps.operations.list({ kind: 'provision', limit: 1 }),
    ]);
    const pool = poolOf(nodes, machines);
    const plan = planScale(target, pool, { kind: 'any' }, () => 0);
    const op = last.operations[0];
    return {
      target: target ? { replicas: target.replicas, requestedAt: new Date(target.requestedAt).toISOString(), by: target.by } : null,
      provisioner: deps.scale?.provisioner ?? 'none',
      serving: plan.serving,
      nodes: pool
        .sort((a, b) => a.node.slot - b.node.slot)
        .map((p) => ({ nodeId: p.node.nodeId, machineId: p.node.machineId, state: p.node.state, sessions: p.node.sessions, ...(p.machine?.drain?.by ? { drainedBy: p.machine.drain.by } : {}) })),
      settled: target === undefined || plan.settled,
      lastProvision: op ? { at: new Date(op.at).toISOString(), outcome: op.outcome, detail: { ...op.detail } } : null,
    };
  };

  app.get('/v1/scale', {
    config: { scope: 'read' },
    schema: { tags: ['nodes'], summary: 'The pool\'s target size, its nodes, and the provisioner\'s last request', response: { 200: ScaleView } },
  }, view);

  app.post('/v1/scale', {
    config: { scope: 'operate' },
    schema: {
      tags: ['nodes'],
      summary: 'Sets the pool\'s size: scale-down drains the nodes with the fewest calls and pinned rooms first and removes them once drained; scale-up asks the provisioner',
      body: ScaleBody,
      response: { 202: ScaleView },
    },
  }, async (req, reply) => {
    const scale = deps.scale;
    if (!scale) throw new ConflictError('scaling is not available on this control plane');
    const { replicas } = req.body;
    if (replicas < scale.minReplicas || replicas > scale.maxReplicas) {
      throw new InvalidRequestError(`body/replicas must be within ${scale.minReplicas}..${scale.maxReplicas} (SBC_SCALE_MIN_REPLICAS, SBC_SCALE_MAX_REPLICAS); got ${replicas}`);
    }
    if (scale.provisioner === 'none') {
      const pool = poolOf(await deps.registry.list(), await deps.registry.listMachines());
      if (replicas > pool.length) throw new ConflictError(`no provisioner (SBC_PROVISIONER=none) to start machines: the pool has ${pool.length}, ${replicas} asked`);
    }
    const by = actorOf(req);
    const previous = await scale.targets.get();
    await scale.targets.put({ replicas, requestedAt: now(), by });
    await recordOperation(deps.operations, { kind: 'scale', actor: by, target: 'pool', outcome: 'requested', detail: { replicas, ...(previous ? { previous: previous.replicas } : {}) }, at: now() }, req.log);
    scale.changed();
    return reply.code(202).send(await view());
  });

  done();
};
