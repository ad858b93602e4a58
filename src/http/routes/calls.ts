import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { traceCall } from '../../calls/traceCall.js';
import type { CallGraph } from '../../core/callGraph.js';
import type { CallStore, CallSummary } from '../../ports/callStore.js';
import { CallNotFoundError } from '../errors.js';
import { CallGraphView, CallParams, CallsQuery, CallSummaryView } from '../schemas.js';

export interface CallRoutesDeps {
  readonly calls: CallStore;
  readonly now?: () => number;
}

/** µs since the epoch as RFC 3339 with six decimals (Date has only ms). */
export function isoMicros(us: number): string {
  const ms = Math.floor(us / 1000);
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, (_, m: string) => `.${m}${String(us - ms * 1000).padStart(3, '0')}Z`);
}

function graphView(id: string, g: CallGraph): Static<typeof CallGraphView> {
  return {
    id,
    legs: g.legs.map((l) => ({
      ...l,
      otherLegs: [...l.otherLegs],
      callUuids: [...l.callUuids],
      startedAt: isoMicros(l.startedAtUs),
      ...(l.answeredAtUs !== undefined ? { answeredAt: isoMicros(l.answeredAtUs) } : {}),
      ...(l.bridgedAtUs !== undefined ? { bridgedAt: isoMicros(l.bridgedAtUs) } : {}),
      ...(l.endedAtUs !== undefined ? { endedAt: isoMicros(l.endedAtUs) } : {}),
      events: l.events.map((e) => ({ ...e, at: isoMicros(e.atUs) })),
    })),
    decisions: g.decisions.map((d) => ({ ...d, legs: [...d.legs], attempts: d.attempts.map((a) => ({ ...a, at: isoMicros(a.atUs) })) })),
    joins: [...g.joins],
    nodes: [...g.nodes],
    kamailios: [...g.kamailios],
    rooms: [...g.rooms],
    links: [...g.links],
    firstAt: isoMicros(g.firstAtUs),
    lastAt: isoMicros(g.lastAtUs),
    truncated: g.truncated,
  };
}

function summaryView(s: CallSummary): Static<typeof CallSummaryView> {
  const { startedAtUs, answeredAtUs, endedAtUs, ...rest } = s;
  return {
    ...rest,
    startedAt: isoMicros(startedAtUs),
    ...(answeredAtUs !== undefined ? { answeredAt: isoMicros(answeredAtUs) } : {}),
    ...(endedAtUs !== undefined ? { endedAt: isoMicros(endedAtUs) } : {}),
  };
}

/**
 * The calls resource (issue 8, call correlation), from the call store: what the calls stream
 * brought in, never a live question to a node. `/v1/calls/{id}` answers the whole call an id
 * belongs to; `/v1/calls` lists recent legs, newest first, a page at a time.
 */
export const callRoutes: FastifyPluginCallbackTypebox<CallRoutesDeps> = (app, deps, done) => {
  const now = deps.now ?? Date.now;
  app.get('/v1/calls/:id', {
    config: { scope: 'read' },
    schema: {
      tags: ['calls'],
      summary: 'The whole call a FreeSWITCH UUID, SIP Call-ID or routing decision id belongs to: every leg, on which node, the routing decisions and their failovers, times and causes',
      params: CallParams,
      response: { 200: CallGraphView },
    },
  }, async (req) => {
    const g = await traceCall(deps.calls, req.params.id, { nowMs: now() });
    if (!g) throw new CallNotFoundError(req.params.id);
    return graphView(req.params.id, g);
  });

  app.get('/v1/calls', {
    config: { scope: 'read' },
    schema: {
      tags: ['calls'],
      summary: 'Recent call legs, newest first, filtered by node, room, start time and hangup cause; `next` pages on',
      querystring: CallsQuery,
      response: { 200: Type.Object({ legs: Type.Array(CallSummaryView), next: Type.Optional(Type.String()) }) },
    },
  }, async (req) => {
    const q = req.query;
    const page = await deps.calls.recent({
      limit: q.limit !== undefined ? Number(q.limit) : 50,
      ...(q.node !== undefined ? { nodeId: q.node } : {}),
      ...(q.room !== undefined ? { room: q.room } : {}),
      ...(q.from !== undefined ? { fromUs: Date.parse(q.from) * 1000 } : {}),
      ...(q.to !== undefined ? { toUs: Date.parse(q.to) * 1000 } : {}),
      ...(q.cause !== undefined ? { cause: q.cause } : {}),
      ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
    });
    return { legs: page.legs.map(summaryView), ...(page.next !== undefined ? { next: page.next } : {}) };
  });
  done();
};
