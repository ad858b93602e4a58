import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { OPERATION_KINDS, OPERATION_OUTCOMES, type OperationLog, type StoredOperation } from '../../ports/operationLog.js';

export interface OperationRoutesDeps {
  readonly log: OperationLog;
}

const DEFAULT_LIMIT = 50;
/** The log keeps targets of at most 256 code points (OPERATION_BOUNDS in postgres/operationLog.ts): a longer one names nothing. */
const TARGET_MAX = 256;

const literalUnion = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));

export const OperationsQuery = Type.Object(
  {
    kind: Type.Optional(literalUnion(OPERATION_KINDS)),
    target: Type.Optional(Type.String({ minLength: 1, maxLength: TARGET_MAX, description: 'Only operations on this target: a node id, a machine id, `pool`' })),
    limit: Type.Optional(Type.String({ pattern: '^([1-9][0-9]?|[1-4][0-9]{2}|500)$', description: '1..500, default 50' })),
    // As long as any cursor the log makes (base64url of an id); a well-formed one it did not make is refused by the log.
    cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,24}$', description: 'The `next` of the previous page' })),
  },
  { additionalProperties: false },
);

export const OperationView = Type.Object(
  {
    id: Type.Integer({ description: 'Ascending in the order recorded' }),
    at: Type.String({ format: 'date-time' }),
    kind: literalUnion(OPERATION_KINDS),
    actor: Type.String({ description: 'Who: `token:<name>` (an API call with a token), `api:<client address>` (one without: SBC_API_AUTH=off), `leader:<replica>`, `autoscaler`' }),
    target: Type.String({ description: 'What it was done to: a node id, a machine id, `pool`' }),
    outcome: literalUnion(OPERATION_OUTCOMES),
    detail: Type.Record(Type.String(), Type.Unknown(), {
      description: 'Facts of the operation (deadline, replicas asked, cause, error); at most 8 KiB, a larger one says what it left out under `_truncated`',
    }),
  },
  { $id: 'Operation' },
);

export const OperationsPage = Type.Object({
  operations: Type.Array(OperationView, { description: 'Newest first' }),
  next: Type.Optional(Type.String({ description: 'Present when older operations match: pass it as `cursor`' })),
});


function operationView(o: StoredOperation): Static<typeof OperationView> {
  return { id: o.id, at: new Date(o.at).toISOString(), kind: o.kind, actor: o.actor, target: o.target, outcome: o.outcome, detail: { ...o.detail } };
}

/**
 * The operations resource: the audit of drains, undrains, scale decisions, provisioner
 * actions and forced hang-ups, from the operation log, newest first, a page at a time.
 */
export const operationRoutes: FastifyPluginCallbackTypebox<OperationRoutesDeps> = (app, deps, done) => {
  app.get('/v1/operations', {
    config: { scope: 'read' },
    schema: {
      tags: ['operations'],
      summary: 'What operators and the control plane did to the pool (drains, scaling, provisioning, hang-ups), newest first, filtered by kind and target; `next` pages on',
      querystring: OperationsQuery,
      response: { 200: OperationsPage },
    },
  }, async (req) => {
    const q = req.query;
    const page = await deps.log.list({
      limit: q.limit !== undefined ? Number(q.limit) : DEFAULT_LIMIT,
      ...(q.kind !== undefined ? { kind: q.kind } : {}),
      ...(q.target !== undefined ? { target: q.target } : {}),
      ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
    });
    return { operations: page.operations.map(operationView), ...(page.next !== undefined ? { next: page.next } : {}) };
  });
  done();
};
