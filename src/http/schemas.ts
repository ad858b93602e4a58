import { Type } from '@sinclair/typebox';
import { NODE_HEALTH, NODE_STATES } from '../core/node.js';
import { ROOM_KEY_PATTERN } from '../core/pins.js';
import { StatusResult } from '../events/commands.js';
import { NodeBlocker, NodeId } from '../events/schemas.js';
import { ERROR_CODES, type ErrorCode } from './errors.js';

const literalUnion = (values: readonly string[]) => Type.Union(values.map((v) => Type.Literal(v)));

export const NodeView = Type.Object(
  {
    nodeId: Type.String(),
    sipUri: Type.String(),
    hostname: Type.String(),
    machineId: Type.String({ description: 'The machine the node runs on (SBC_MACHINE_ID, or host:port of its SIP URI): where operator intent and the dispatcher slot are kept' }),
    state: literalUnion(NODE_STATES),
    health: literalUnion(NODE_HEALTH),
    capacity: Type.Integer(),
    sessions: Type.Integer(),
    agentVersion: Type.String(),
    priority: Type.Integer({ description: 'Dispatcher priority: the node\'s stable slot' }),
    heartbeatIntervalMs: Type.Integer(),
    joinedAt: Type.String({ format: 'date-time' }),
    lastSeenAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.String({ format: 'date-time' }),
    stateChangedAt: Type.String({ format: 'date-time' }),
    goneReason: Type.Optional(Type.String()),
    blockers: Type.Array(NodeBlocker, { description: 'What the agent\'s probe found that stops new calls (the node\'s rows are disabled while any is listed)' }),
  },
  { $id: 'Node' },
);

export const NodeStatusView = Type.Composite(
  [
    Type.Object({ nodeId: Type.String() }),
    Type.Omit(StatusResult, ['readAt']),
    Type.Object({ readAt: Type.String({ format: 'date-time', description: 'When the agent read these facts from FreeSWITCH' }) }),
  ],
  { $id: 'NodeStatus', description: 'Live facts of one FreeSWITCH, read through its agent when asked' },
);

export const NodeParams = Type.Object({ nodeId: NodeId }, { additionalProperties: false });

const StateList = Type.String({
  pattern: `^(${NODE_STATES.join('|')})(,(${NODE_STATES.join('|')}))*$`,
  description: `One or more node states, comma-separated: ${NODE_STATES.join(', ')}`,
});

export const NodesQuery = Type.Object(
  {
    state: Type.Optional(
      Type.Union([StateList, Type.Array(StateList, { minItems: 1 })], {
        description: 'Only nodes in these states; comma-separated (state=joining,active) or repeated (state=joining&state=active)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const ErrorBody = Type.Object(
  {
    error: Type.Unsafe<ErrorCode>({ type: 'string', enum: ERROR_CODES, description: 'Stable error code (the README error table)' }),
    message: Type.String({ description: 'For people; may change' }),
    requestId: Type.Optional(Type.String({ description: 'On 5xx: the key to the log line' })),
  },
);

const Row = Type.Object({
  setid: Type.Integer(),
  destination: Type.String(),
  flags: Type.Integer(),
  priority: Type.Integer(),
  attrs: Type.String(),
  description: Type.String(),
});

const LoadedDestination = Type.Object({
  setId: Type.Integer(),
  uri: Type.String(),
  flags: Type.String(),
  priority: Type.Integer(),
  attrs: Type.String(),
});

const HeldMarkView = Type.Object({
  setId: Type.Integer(),
  uri: Type.String(),
  nodeId: Type.Optional(Type.String({ description: 'The node whose destination it is' })),
  since: Type.String({ format: 'date-time', description: 'When the control plane first saw the mark' }),
  until: Type.String({ format: 'date-time', description: 'When it sets the destination active again' }),
});

export const DispatcherView = Type.Object({
  pass: Type.Union([
    Type.Object({
      id: Type.Integer({ description: 'The reconcile pass these rows come from (its id is in the log lines of that pass)' }),
      at: Type.String({ format: 'date-time' }),
      ok: Type.Boolean({ description: 'False when the pass failed (e.g. the table could not be written): its rows are what it wanted, not what the table holds' }),
    }),
    Type.Null(),
  ]),
  desired: Type.Array(
    Type.Object({
      setId: Type.Integer(),
      purpose: Type.String(),
      algorithm: Type.Integer(),
      destinations: Type.Array(Row),
    }),
  ),
  keptForUnknownNodes: Type.Integer({ description: 'Rows kept for nodes the registry has no record of (registry lost), within SBC_UNKNOWN_NODE_GRACE_MS' }),
  kamailios: Type.Array(
    Type.Object({
      kamailio: Type.String(),
      status: literalUnion(['in-sync', 'drift', 'unreachable', 'not-observed']),
      observedAt: Type.Optional(Type.String({ format: 'date-time', description: "When this Kamailio's dispatcher.list was last read (or failed)" })),
      error: Type.Optional(Type.String()),
      loaded: Type.Optional(Type.Array(LoadedDestination)),
      missing: Type.Optional(Type.Array(Row)),
      extra: Type.Optional(Type.Array(LoadedDestination)),
      changed: Type.Optional(Type.Array(LoadedDestination)),
      marks: Type.Optional(Type.Array(HeldMarkView, { description: "Destinations this Kamailio marked inactive itself after a failed call, respected until `until`" })),
    }),
  ),
});

export const ReadyView = Type.Object({
  ready: Type.Boolean(),
  checks: Type.Record(Type.String(), Type.Object({ ok: Type.Boolean(), detail: Type.Optional(Type.String()) })),
});

export const ClusterView = Type.Object({
  replicaId: Type.String({ description: 'This replica (SBC_INSTANCE_ID)' }),
  role: literalUnion(['leader', 'follower']),
  epoch: Type.Union([Type.Integer(), Type.Null()], { description: "The cluster's epoch as this replica last saw it (its own while it leads)" }),
  leaderId: Type.Union([Type.String(), Type.Null()], { description: 'The replica holding the leader lock; null while it is vacant' }),
  replicas: Type.Array(
    Type.Object({
      replicaId: Type.String(),
      order: Type.Union([Type.Integer(), Type.Null()], { description: 'SBC_REPLICA_ORDER; null for none' }),
      role: literalUnion(['leader', 'follower']),
      lastSeenMsAgo: Type.Integer({ description: 'Since its last renew, by the database clock' }),
      live: Type.Boolean({ description: 'Renewed within the lease' }),
    }),
  ),
});

export const RoomParams = Type.Object(
  { room: Type.String({ pattern: ROOM_KEY_PATTERN.source, description: 'Room key: the number, or <domain>/<number> (URL-encode the slash) with SBC_ROOM_SCOPE=domain' }) },
  { additionalProperties: false },
);

export const RoomView = Type.Object({
  room: Type.String(),
  pin: Type.Union([
    Type.Object({
      key: Type.String(),
      uri: Type.String({ description: 'Where every Kamailio sends the room\'s callers' }),
      nodeId: Type.Union([NodeId, Type.Null()], { description: 'The live node at that URI; null when none is' }),
      by: Type.String({ description: 'The Kamailio that placed the room (SBC_KAMAILIO_ID), or control' }),
      at: Type.String({ format: 'date-time' }),
      confirmedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'When a conference on that node confirmed it; null while it waits (SBC_ROOM_PIN_GRACE_MS)' }),
    }),
    Type.Null(),
  ]),
  nodes: Type.Array(
    Type.Object({
      nodeId: NodeId,
      conferenceUuid: Type.String(),
      members: Type.Integer({ description: 'Every member, links included' }),
      links: Type.Integer({ description: 'Members that are cascade links to other nodes' }),
      updatedAt: Type.String({ format: 'date-time' }),
    }),
    { description: 'Each node\'s conference of this room, as its agent reported it' },
  ),
  members: Type.Integer({ description: 'Participants over all nodes (links not counted)' }),
  links: Type.Array(
    Type.Object({
      linkId: Type.String(),
      from: NodeId,
      to: NodeId,
      at: Type.String({ format: 'date-time' }),
    }),
    { description: 'Cascade links the control plane made for this room: `from`\'s conference dialed `to`\'s' },
  ),
  splitsRepaired: Type.Integer({ description: 'Times the room was found on two nodes without a cascade and its pin pointed at the larger half' }),
});

export const RoomPolicyBody = Type.Object(
  {
    mode: Type.Literal('cascade', { description: 'Spread the room over several nodes, linked in a tree' }),
    shards: Type.Integer({ minimum: 2, maximum: 64, description: 'How many nodes (shards); each participant is put in one, from a stable participant key (SBC_ROOM_SHARD_KEY)' }),
  },
  { additionalProperties: false },
);

export const RoomPolicyView = Type.Object({
  room: Type.String(),
  mode: Type.Literal('cascade'),
  shards: Type.Integer(),
  updatedAt: Type.String({ format: 'date-time' }),
});
