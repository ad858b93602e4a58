import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { inRouting } from '../../core/node.js';
import { participants, type RoomRecord } from '../../core/rooms.js';
import type { NodeRegistry } from '../../ports/nodeRegistry.js';
import type { RoomPolicy, RoomPolicyStore } from '../../ports/roomPolicyStore.js';
import type { RoomRegistry } from '../../ports/roomRegistry.js';
import { RoomNotFoundError, RoomPolicyNotFoundError } from '../errors.js';
import { RoomParams, RoomPolicyBody, RoomPolicyView, RoomView } from '../schemas.js';

export interface RoomRoutesDeps {
  readonly rooms: RoomRegistry;
  readonly registry: NodeRegistry;
  readonly policies: RoomPolicyStore;
  /** A policy changed: the leader pushes it to every Kamailio in its next pass. */
  readonly onPolicyChange?: () => void;
}

const policyView = (p: RoomPolicy): Static<typeof RoomPolicyView> => ({ room: p.room, mode: p.mode, shards: p.shards, updatedAt: iso(p.updatedAt) });

const iso = (ms: number) => new Date(ms).toISOString();

function toView(r: RoomRecord, nodeAt: ReadonlyMap<string, string>): Static<typeof RoomView> {
  return {
    room: r.room,
    pin: r.pin
      ? {
          key: r.pin.key,
          uri: r.pin.uri,
          nodeId: nodeAt.get(r.pin.uri) ?? null,
          by: r.pin.by,
          at: iso(r.pin.at),
          confirmedAt: r.confirmedAt !== undefined ? iso(r.confirmedAt) : null,
        }
      : null,
    nodes: [...r.halves]
      .sort((a, b) => participants(b) - participants(a) || (a.nodeId < b.nodeId ? -1 : 1))
      .map((h) => ({ nodeId: h.nodeId, conferenceUuid: h.conferenceUuid, members: h.members, links: h.links, updatedAt: iso(h.updatedAt) })),
    members: r.halves.reduce((n, h) => n + participants(h), 0),
    links: (r.links ?? []).map((l) => ({ linkId: l.linkId, from: l.from, to: l.to, at: iso(l.at) })),
    splitsRepaired: r.splitsRepaired,
  };
}

/** The rooms resource: `/v1/rooms` and `/v1/rooms/{room}`, from the room table (what the leader last decided, and what agents reported since). */
export const roomRoutes: FastifyPluginCallbackTypebox<RoomRoutesDeps> = (app, deps, done) => {
  const nodeAt = async () => new Map((await deps.registry.list()).filter((n) => inRouting(n.state)).map((n) => [n.sipUri, n.nodeId]));

  app.get('/v1/rooms', {
    config: { scope: 'read' },
    schema: { tags: ['rooms'], summary: 'Active rooms: their pin, each node\'s conference and member counts', response: { 200: Type.Object({ rooms: Type.Array(RoomView) }) } },
  }, async () => {
    const [rooms, at] = await Promise.all([deps.rooms.list(), nodeAt()]);
    return { rooms: rooms.sort((a, b) => (a.room < b.room ? -1 : 1)).map((r) => toView(r, at)) };
  });

  app.get('/v1/rooms/:room', {
    config: { scope: 'read' },
    schema: { tags: ['rooms'], summary: 'One active room by its key', params: RoomParams, response: { 200: RoomView } },
  }, async (req) => {
    const [room, at] = await Promise.all([deps.rooms.get(req.params.room), nodeAt()]);
    if (!room) throw new RoomNotFoundError(req.params.room);
    return toView(room, at);
  });
  app.get('/v1/rooms/:room/policy', {
    config: { scope: 'read' },
    schema: { tags: ['rooms'], summary: "A room's policy (cascade over several nodes)", params: RoomParams, response: { 200: RoomPolicyView } },
  }, async (req) => {
    const p = await deps.policies.get(req.params.room);
    if (!p) throw new RoomPolicyNotFoundError(req.params.room);
    return policyView(p);
  });

  app.put('/v1/rooms/:room/policy', {
    config: { scope: 'operate' },
    schema: { tags: ['rooms'], summary: 'Sets a room\'s policy: `{"mode":"cascade","shards":3}` spreads its participants over 3 nodes, linked in a tree', params: RoomParams, body: RoomPolicyBody, response: { 200: RoomPolicyView } },
  }, async (req) => {
    const p = await deps.policies.put({ room: req.params.room, mode: req.body.mode, shards: req.body.shards });
    deps.onPolicyChange?.();
    return policyView(p);
  });

  app.delete('/v1/rooms/:room/policy', {
    config: { scope: 'operate' },
    schema: { tags: ['rooms'], summary: "Removes a room's policy: new participants join it as an ordinary room", params: RoomParams, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    if (!(await deps.policies.delete(req.params.room))) throw new RoomPolicyNotFoundError(req.params.room);
    deps.onPolicyChange?.();
    return reply.code(204).send(null);
  });
  done();
};
