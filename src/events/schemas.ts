import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';

/**
 * One schema per NATS message, versioned by the `v` field. The agent and the control
 * plane both import this module, so what is published is what is accepted.
 *
 * Each schema is strict (no field it does not declare): a writer is checked against it
 * before it publishes, so a bug cannot put anything else on the bus. A reader first drops
 * the fields it does not know (a newer writer's additions, see reading.ts) and then checks
 * what is left against the same strict schema. Rules for changing them: README, "NATS
 * subject reference".
 */
export const SCHEMA_VERSION = 1 as const;

/** FreeSWITCH's Core-UUID: the identity of one FreeSWITCH process lifetime. */
export const NodeId = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
  description: 'FreeSWITCH Core-UUID (lower case). A restarted FreeSWITCH is a new node.',
});

const Seq = Type.Integer({
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
  description:
    'Monotonic per node: the agent starts it at its start-up time in ms and adds 1 per message, so it keeps rising across agent restarts.',
});

/**
 * What the agent's probe found that stops new calls: the SIP profile Kamailio sends to is not
 * RUNNING (`sofia profile <name> stop`), or inbound calls are paused (`fsctl pause [inbound]`,
 * which answers every INVITE 503). The node stays a member (its calls go on) but must get no
 * new ones.
 */
export const NODE_BLOCKERS = ['sip-profile-down', 'inbound-paused'] as const;
export const NodeBlocker = Type.Union(NODE_BLOCKERS.map((b) => Type.Literal(b)));
export type NodeBlocker = (typeof NODE_BLOCKERS)[number];

/**
 * The machine a node runs on: what an operator's wish (cordon, drain, weight) and the
 * dispatcher slot belong to, so a FreeSWITCH restarted there (a new Core-UUID) inherits them.
 * Written into the dispatcher row's attrs (`mid=`), so it holds no `;`, `=`, `,`, quote or
 * space, and is short enough that the attrs fit their 128-character column.
 */
export const MAX_MACHINE_ID_LENGTH = 48;
export const MACHINE_ID_PATTERN = `^[A-Za-z0-9\\[][A-Za-z0-9._:\\[\\]-]{0,${MAX_MACHINE_ID_LENGTH - 1}}$`;
export const MachineId = Type.String({
  pattern: MACHINE_ID_PATTERN,
  description:
    'Stable id of the machine (SBC_MACHINE_ID); absent, the control plane derives it from the SIP URI (host:port).',
});

const SentAt = Type.Integer({ minimum: 0, description: 'Sender wall clock, ms since the epoch.' });

const NodeFacts = {
  v: Type.Literal(SCHEMA_VERSION),
  nodeId: NodeId,
  seq: Seq,
  sentAt: SentAt,
  sipUri: Type.String({
    minLength: 1,
    maxLength: 192,
    description: 'Where Kamailio sends calls: sip:host[:port][;transport=...]; checked strictly by parseSipUri.',
  }),
  hostname: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$' }),
  capacity: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'FreeSWITCH max-sessions.' }),
  sessions: Type.Integer({ minimum: 0, maximum: 10_000_000, description: 'Current session count.' }),
  agentVersion: Type.String({ pattern: '^[0-9A-Za-z][0-9A-Za-z.+-]{0,31}$' }),
  heartbeatIntervalMs: Type.Integer({
    minimum: 100,
    maximum: 60_000,
    description: 'The agent heartbeat interval; the node expires after 3 missed heartbeats.',
  }),
  blockers: Type.Optional(
    Type.Array(NodeBlocker, {
      maxItems: 4,
      uniqueItems: true,
      description: 'Why this FreeSWITCH cannot take new calls right now (its probe found it); absent or empty: it can.',
    }),
  ),
  machineId: Type.Optional(MachineId),
  // FreeSWITCH's load, for the control plane's health sensors. Optional (a v1 reader drops them,
  // an older agent sends none) and each absent while the agent does not know it: never 0 for
  // unknown, as 0 is a real reading (no idle CPU, no new session).
  idleCpuPercent: Type.Optional(
    Type.Number({ minimum: 0, maximum: 100, description: "Idle CPU % of FreeSWITCH's host, from its last HEARTBEAT event (`Idle-CPU`)." }),
  ),
  sessionsPerSecond: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 1_000_000,
      description:
        'New sessions in the last whole second, from the last HEARTBEAT (`Session-Per-Sec-Last`; not `Session-Per-Sec`, the budget left in the current second).',
    }),
  ),
  sessionsPerSecondLimit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'FreeSWITCH sessions-per-second (switch.conf), as `fsctl sps` answers it.' }),
  ),
  heartbeatEventAt: Type.Optional(
    Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "When FreeSWITCH's last HEARTBEAT event reached the agent (agent clock, ms since the epoch)." }),
  ),
  heartbeatEventIntervalMs: Type.Optional(
    Type.Integer({
      minimum: 1000,
      maximum: 3_600_000,
      description: "FreeSWITCH's own event-heartbeat-interval (whole seconds, in ms), from the RE_SCHEDULE of its heartbeat task.",
    }),
  ),
};

export const NodeJoined = Type.Object(
  {
    ...NodeFacts,
    reason: Type.Union([Type.Literal('start'), Type.Literal('reannounce')]),
  },
  { additionalProperties: false, $id: 'NodeJoinedV1' },
);
export type NodeJoined = Static<typeof NodeJoined>;

export const NodeHeartbeat = Type.Object(NodeFacts, { additionalProperties: false, $id: 'NodeHeartbeatV1' });
export type NodeHeartbeat = Static<typeof NodeHeartbeat>;

/** FreeSWITCH's load as `joined` and `heartbeat` carry it (each field absent while unknown). */
export type LoadFacts = Pick<NodeHeartbeat, 'idleCpuPercent' | 'sessionsPerSecond' | 'sessionsPerSecondLimit' | 'heartbeatEventAt' | 'heartbeatEventIntervalMs'>;

export const NodeLeftReason = Type.Union([
  Type.Literal('agent-stopping'),
  Type.Literal('freeswitch-shutdown'),
  Type.Literal('esl-lost'),
  Type.Literal('core-uuid-changed'),
]);
export type NodeLeftReason = Static<typeof NodeLeftReason>;

export const NodeLeft = Type.Object(
  {
    v: Type.Literal(SCHEMA_VERSION),
    nodeId: NodeId,
    seq: Seq,
    sentAt: SentAt,
    reason: NodeLeftReason,
  },
  { additionalProperties: false, $id: 'NodeLeftV1' },
);
export type NodeLeft = Static<typeof NodeLeft>;

export const ReannounceRequest = Type.Object(
  {
    v: Type.Literal(SCHEMA_VERSION),
    requestedAt: SentAt,
    requester: Type.String({ minLength: 1, maxLength: 128 }),
  },
  { additionalProperties: false, $id: 'ReannounceRequestV1' },
);
export type ReannounceRequest = Static<typeof ReannounceRequest>;

export type NodeMessage =
  | { kind: 'joined'; msg: NodeJoined }
  | { kind: 'heartbeat'; msg: NodeHeartbeat }
  | { kind: 'left'; msg: NodeLeft };

/**
 * A conference room's name as the agent publishes it (FreeSWITCH's Conference-Name): what
 * Kamailio's room pins and the cascade links name. A conference with any other name is not
 * published (the agent counts it and logs it at debug).
 */
export const ROOM_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$';
export const RoomName = Type.String({ pattern: ROOM_NAME_PATTERN, description: 'Conference-Name' });

/** A cascade link's id, chosen by the control plane; sent as the SIP header X-SBC-Cascade. */
export const LINK_ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
export const LinkId = Type.String({ pattern: LINK_ID_PATTERN });

/** A FreeSWITCH UUID (Conference-Unique-ID, a channel's Unique-ID). */
export const FsUuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });

const MemberCount = (description?: string) => Type.Integer({ minimum: 0, maximum: 100_000, ...(description ? { description } : {}) });

export const CONFERENCE_EVENTS = ['create', 'add-member', 'del-member', 'destroy'] as const;
export type ConferenceEvent = (typeof CONFERENCE_EVENTS)[number];

export const ConferenceMember = Type.Object(
  {
    id: Type.Integer({ minimum: 0, maximum: 2_147_483_647, description: 'Member-ID (counts up per FreeSWITCH process)' }),
    uuid: FsUuid,
    link: Type.Boolean({ description: 'A cascade link member (either direction)' }),
    linkId: Type.Optional(LinkId),
    direction: Type.Union([Type.Literal('inbound'), Type.Literal('outbound')]),
    callId: Type.Optional(Type.String({ pattern: '^[!-~]{1,256}$', description: 'SIP Call-ID, when FreeSWITCH shows it (verbose-events)' })),
  },
  { additionalProperties: false },
);
export type ConferenceMember = Static<typeof ConferenceMember>;

/** One edge of a conference on one node: created, a member in or out, destroyed. */
export const NodeConference = Type.Object(
  {
    v: Type.Literal(SCHEMA_VERSION),
    nodeId: NodeId,
    seq: Seq,
    sentAt: SentAt,
    event: Type.Union(CONFERENCE_EVENTS.map((e) => Type.Literal(e))),
    room: RoomName,
    conferenceUuid: FsUuid,
    members: MemberCount('Conference-Size after the event; 0 on destroy'),
    links: MemberCount('Link members in the conference after the event'),
    member: Type.Optional(ConferenceMember),
  },
  { additionalProperties: false, $id: 'NodeConferenceV1' },
);
export type NodeConference = Static<typeof NodeConference>;

/** Bounds of a rooms snapshot; what lies beyond them is counted, not listed (README). */
export const MAX_ROOMS_PER_SNAPSHOT = 500;
export const MAX_LINK_IDS_PER_ROOM = 4;

export const RoomSnapshot = Type.Object(
  {
    room: RoomName,
    conferenceUuid: FsUuid,
    members: MemberCount(),
    links: MemberCount(),
    linkIds: Type.Array(LinkId, { maxItems: MAX_LINK_IDS_PER_ROOM, uniqueItems: true, description: 'Known link ids, smallest first' }),
  },
  { additionalProperties: false },
);
export type RoomSnapshot = Static<typeof RoomSnapshot>;

/** Every conference on one node, level-triggered: after each (re)join and once per heartbeat while any exists. */
export const NodeRooms = Type.Object(
  {
    v: Type.Literal(SCHEMA_VERSION),
    nodeId: NodeId,
    seq: Seq,
    sentAt: SentAt,
    rooms: Type.Array(RoomSnapshot, { maxItems: MAX_ROOMS_PER_SNAPSHOT, description: 'Sorted by room name' }),
    omitted: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Rooms beyond the bound, not listed' })),
  },
  { additionalProperties: false, $id: 'NodeRoomsV1' },
);
export type NodeRooms = Static<typeof NodeRooms>;

/** What the agent publishes about its conferences, on `{prefix}.node.{nodeId}.conference|rooms`. */
export type ConferenceNodeMessage = { kind: 'conference'; msg: NodeConference } | { kind: 'rooms'; msg: NodeRooms };

function compile<T extends TSchema>(schema: T): TypeCheck<T> {
  return TypeCompiler.Compile(schema);
}

/** The strict v1 checker of each kind: what a writer may send, what a reader keeps. */
export const checkers = {
  joined: compile(NodeJoined),
  heartbeat: compile(NodeHeartbeat),
  left: compile(NodeLeft),
  conference: compile(NodeConference),
  rooms: compile(NodeRooms),
  reannounce: compile(ReannounceRequest),
} as const;
