import { Type } from '@sinclair/typebox';
import { NODE_HEALTH, NODE_STATES } from '../core/node.js';
import { ROOM_KEY_PATTERN } from '../core/pins.js';
import { HangupCauseSchema, StatusResult } from '../events/commands.js';
import { MachineId, NodeBlocker, NodeId } from '../events/schemas.js';
import { ERROR_CODES, type ErrorCode } from './errors.js';

const literalUnion = (values: readonly string[], options?: { description: string }) => Type.Union(values.map((v) => Type.Literal(v)), options);

export const NodeView = Type.Object(
  {
    nodeId: Type.String(),
    sipUri: Type.String(),
    hostname: Type.String(),
    machineId: Type.String({ description: 'The machine the node runs on (SBC_MACHINE_ID, or host:port of its SIP URI): where operator intent and the dispatcher slot are kept' }),
    state: literalUnion(NODE_STATES),
    health: literalUnion(NODE_HEALTH, {
      description: "The leader's last health evaluation (README, Health); with scoring off, critical while a blocker is listed",
    }),
    healthScore: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: 'The score that evaluation found: its worst sensor\'s (100 = fine)' })),
    healthSince: Type.Optional(Type.String({ format: 'date-time', description: 'Since when the node has had this health' })),
    healthAt: Type.Optional(Type.String({ format: 'date-time', description: 'When the leader last evaluated it' })),
    worstSensor: Type.Optional(Type.String({ description: 'The sensor that set the score' })),
    sensors: Type.Optional(
      Type.Array(
        Type.Object({
          sensor: Type.String(),
          value: Type.Number({ description: "In the sensor's unit (README, Health)" }),
          score: Type.Number({ minimum: 0, maximum: 100 }),
          detail: Type.Optional(Type.String()),
        }),
        { description: 'Every sensor that had a reading at the last evaluation' },
      ),
    ),
    load: Type.Optional(
      Type.Object(
        {
          idleCpuPercent: Type.Optional(Type.Number()),
          sessionsPerSecond: Type.Optional(Type.Integer()),
          sessionsPerSecondLimit: Type.Optional(Type.Integer()),
          heartbeatEventAt: Type.Optional(Type.String({ format: 'date-time' })),
        },
        { description: "FreeSWITCH's load as the node's last heartbeat stated it (HEARTBEAT event, fsctl sps)" },
      ),
    ),
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

/** A FreeSWITCH UUID, a SIP Call-ID or a routing decision id: printable ASCII without spaces. */
export const CallParams = Type.Object(
  { id: Type.String({ pattern: '^[!-~]{1,1024}$', description: 'A FreeSWITCH channel UUID, a SIP Call-ID or a routing decision id (X-SBC-Decision); URL-encode a `/`' }) },
  { additionalProperties: false },
);

const Micros = Type.Integer({ description: 'µs since the epoch' });
const At = (description: string) => Type.String({ format: 'date-time', description: `${description} (µs precision)` });

export const LegView = Type.Object(
  {
    uuid: Type.String(),
    nodeId: Type.String(),
    direction: Type.Optional(literalUnion(['inbound', 'outbound'])),
    callId: Type.Optional(Type.String()),
    otherLegs: Type.Array(Type.String(), { description: 'Every Other-Leg-Unique-ID the leg named' }),
    callUuids: Type.Array(Type.String(), { description: 'Every Channel-Call-UUID the leg named (a B-leg\'s can change during the call)' }),
    caller: Type.Optional(Type.String()),
    callee: Type.Optional(Type.String()),
    room: Type.Optional(Type.String()),
    memberId: Type.Optional(Type.Integer()),
    decision: Type.Optional(Type.String({ description: 'The routing decision that placed it (X-SBC-Decision)' })),
    link: Type.Optional(Type.String({ description: 'The cascade link it carries' })),
    startedAt: At('create'),
    answeredAt: Type.Optional(At('answer')),
    bridgedAt: Type.Optional(At('bridge')),
    endedAt: Type.Optional(At('hangup')),
    cause: Type.Optional(Type.String({ description: 'Hangup-Cause' })),
    sipStatus: Type.Optional(Type.Integer()),
    events: Type.Array(Type.Object({ event: Type.String(), at: At('when'), atUs: Micros, cause: Type.Optional(Type.String()) })),
  },
  { $id: 'CallLeg' },
);

export const RouteDecisionView = Type.Object(
  {
    id: Type.String(),
    kamailioId: Type.String(),
    callId: Type.Optional(Type.String()),
    kind: Type.String({ description: 'general, room, cascade or link' }),
    pin: Type.String({ description: 'none (hashed or round-robin), hit (followed a room pin), made (placed the room and pinned it), moved (a failover moved the pin)' }),
    room: Type.Optional(Type.String()),
    key: Type.Optional(Type.String()),
    link: Type.Optional(Type.String()),
    attempts: Type.Array(
      Type.Object({
        attempt: Type.Integer(),
        at: At('when Kamailio decided'),
        atUs: Micros,
        set: Type.Optional(Type.Integer()),
        alg: Type.Optional(Type.Integer()),
        dst: Type.Optional(Type.String()),
        result: Type.Optional(Type.Integer({ description: 'A reply Kamailio sent the caller itself' })),
        afterStatus: Type.Optional(Type.Integer({ description: 'The reply that caused this failover attempt' })),
        afterTimeout: Type.Optional(Type.Boolean({ description: 'That reply was Kamailio\'s own timeout (no answer)' })),
      }),
    ),
    legs: Type.Array(Type.String()),
  },
  { $id: 'RouteDecision' },
);

export const CallGraphView = Type.Object(
  {
    id: Type.String({ description: 'The id asked for' }),
    legs: Type.Array(LegView),
    decisions: Type.Array(RouteDecisionView),
    joins: Type.Array(Type.Object({ a: Type.String(), b: Type.String(), by: literalUnion(['call-id', 'other-leg', 'call-uuid', 'decision', 'link', 'room']) }), { description: 'Why two legs are in one call' }),
    nodes: Type.Array(Type.String()),
    kamailios: Type.Array(Type.String()),
    rooms: Type.Array(Type.String()),
    links: Type.Array(Type.String()),
    firstAt: At('the first event'),
    lastAt: At('the last event'),
    truncated: Type.Boolean({ description: 'The lookup reached its bound: more may belong to the call' }),
  },
  { $id: 'CallGraph' },
);

export const CallsQuery = Type.Object(
  {
    node: Type.Optional(NodeId),
    room: Type.Optional(Type.String({ pattern: ROOM_KEY_PATTERN.source })),
    from: Type.Optional(Type.String({ format: 'date-time', description: 'Legs that started at or after' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'Legs that started at or before' })),
    cause: Type.Optional(Type.String({ pattern: '^[A-Z0-9_]{1,64}$', description: 'Hangup-Cause, e.g. NORMAL_CLEARING' })),
    limit: Type.Optional(Type.String({ pattern: '^([1-9][0-9]{0,2}|1000)$', description: '1..1000, default 50' })),
    cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,512}$', description: 'The `next` of the previous page' })),
  },
  { additionalProperties: false },
);

export const CallSummaryView = Type.Object(
  {
    uuid: Type.String(),
    nodeId: Type.String(),
    direction: Type.Optional(literalUnion(['inbound', 'outbound'])),
    callId: Type.Optional(Type.String()),
    caller: Type.Optional(Type.String()),
    callee: Type.Optional(Type.String()),
    room: Type.Optional(Type.String()),
    decision: Type.Optional(Type.String()),
    startedAt: At('create'),
    answeredAt: Type.Optional(At('answer')),
    endedAt: Type.Optional(At('hangup')),
    cause: Type.Optional(Type.String()),
  },
  { $id: 'CallSummary' },
);

/** A node by its Core-UUID, or its machine by the id its agent announced (the machine's live node is meant). */
export const NodeOrMachineParams = Type.Object(
  { nodeId: Type.Union([NodeId, MachineId], { description: 'A node\'s Core-UUID, or a machine id (SBC_MACHINE_ID, or host:port): the live node on that machine' }) },
  { additionalProperties: false },
);

export const DrainBody = Type.Object(
  {
    deadline: Type.Optional(Type.String({ format: 'date-time', description: 'When the drain stops waiting for calls to end (RFC 3339); default SBC_DRAIN_DEADLINE_MS from now' })),
    onDeadline: Type.Optional(Type.Union([Type.Literal('hangup'), Type.Literal('keep')], { description: 'At the deadline: hangup ends the remaining calls (hupall with hangupCause); keep (default) leaves them and raises sbc_drains_past_deadline' })),
    hangupCause: Type.Optional(HangupCauseSchema),
  },
  { additionalProperties: false },
);

const DrainView = Type.Object(
  {
    deadline: Type.String({ format: 'date-time' }),
    onDeadline: Type.Union([Type.Literal('hangup'), Type.Literal('keep')]),
    hangupCause: Type.Optional(HangupCauseSchema),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'When the drain was asked' })),
    by: Type.Optional(Type.Union([Type.Literal('operator'), Type.Literal('scale')], { description: 'An operator\'s drain, or a scale-down\'s (the provisioner removes the machine once drained)' })),
  },
);

export const NodeDrainView = Type.Object(
  {
    node: NodeView,
    drain: Type.Union([DrainView, Type.Null()], { description: 'The machine\'s drain, null when it has none' }),
    remainingCalls: Type.Integer({ description: 'The node\'s calls as its agent last counted them' }),
    remainingRooms: Type.Array(Type.String(), { description: 'Rooms whose conference on the node has members, as its agent last reported them' }),
    pinnedRooms: Type.Integer({ description: 'How many of the rooms\' pins send callers to this node (its inbound calls are paused once this is 0)' }),
    inboundPaused: Type.Boolean({ description: 'The leader paused the node\'s FreeSWITCH inbound for the drain (fsctl pause inbound)' }),
    estimatedEnd: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'When its calls should have ended, at the rate they have ended since the drain began; null while none has ended (or no drain)' }),
    applied: Type.Boolean({ description: 'This replica leads and has run a pass since: the node is out of new selection in every Kamailio that answered (or back in, for undrain); GET: the node is draining or drained' }),
  },
  { $id: 'NodeDrain' },
);
