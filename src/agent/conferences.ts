import {
  CONFERENCE_COMMAND_VERSION,
  DEFAULT_LINK_MEDIA_TIMEOUT_MS,
  LINK_ID_PATTERN,
  MAX_LINK_IDS_PER_ROOM,
  MAX_ROOMS_PER_SNAPSHOT,
  ROOM_NAME_PATTERN,
  type ConferenceCommandErrorCode,
  type ConferenceCommandReply,
  type ConferenceCommandRequest,
  type ConferenceMember,
  type LinkArgs,
  type NodeConference,
  type RoomSnapshot,
} from '../events/index.js';
import type { ApiReply } from './esl.js';
import type { EventHeaders } from './esl-frames.js';
import { parseCoreUuid } from './fs-output.js';
import { inputKinds, type Decision, type Machine } from './machine.js';

/**
 * The agent's view of every conference on its FreeSWITCH, as a pure machine fed with the
 * `CUSTOM conference::maintenance` events (conference-create, add-member, del-member,
 * conference-destroy; bgdial-result for the links this agent dialled) and with the truth read by
 * `conference json_list` after each (re)join. It publishes each of those four edges as a
 * `conference` message and a level-triggered `rooms` snapshot after each (re)join and once per
 * heartbeat while the node has a conference (and once more when it becomes empty), so a
 * control plane that missed an edge converges within one heartbeat.
 *
 * It also carries out the conference commands (link, unlink, conferences), which the commands
 * machine hands over once it has checked the request's node and the agent's readiness.
 *
 * A member is a cascade link when any of: its channel has `variable_sip_h_X-SBC-Cascade` (the
 * link id; only with the conference profile's verbose-events), its `Caller-Caller-ID-Name` or
 * `Caller-Orig-Caller-ID-Name` is `cascade`, or its Unique-ID is the Peer-UUID of the
 * bgdial-result of a link this agent dialled (which also gives the link id on the dialling
 * node, where member events carry no variables).
 */

const ROOM_NAME = new RegExp(ROOM_NAME_PATTERN);
const LINK_ID = new RegExp(LINK_ID_PATTERN);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CALL_ID = /^[!-~]{1,256}$/;
/** Bounds on what the machine remembers about links it dialled. */
const MAX_DIALED = 64;
const MAX_PEERS = 256;
const MAX_UNMATCHED = 64;
/** At most this many link id look-ups per json_list reading (a fresh agent on a busy node). */
const MAX_LOOKUPS_PER_READ = 64;

export type Direction = 'inbound' | 'outbound';

export interface MemberFact {
  readonly id: number;
  readonly uuid: string;
  readonly link: boolean;
  readonly linkId?: string;
  /** Unknown for a member only json_list has shown (it carries no direction). */
  readonly direction?: Direction;
  readonly callId?: string;
}

export interface ConferenceFact {
  readonly room: string;
  readonly conferenceUuid: string;
  /** Conference-Size (json_list's member_count). */
  readonly size: number;
  readonly members: readonly MemberFact[];
}

// ---------------------------------------------------------------------------------------------
// Reading FreeSWITCH

/** What one conference::maintenance event says, headers checked. */
export type ConferenceEventRead =
  | {
      readonly action: 'conference-create' | 'add-member' | 'del-member' | 'conference-destroy';
      readonly coreUuid: string;
      readonly room: string;
      readonly conferenceUuid: string;
      readonly size: number;
      /** add-member and del-member only. */
      readonly member?: MemberFact;
    }
  | { readonly action: 'bgdial-result'; readonly coreUuid: string; readonly jobUuid: string; readonly peerUuid?: string; readonly result: string };

export const IGNORED_CONFERENCE_EVENT: { readonly action: 'ignored' } = Object.freeze({ action: 'ignored' });

function header(h: EventHeaders, name: string): string | undefined {
  const v = h[name];
  return typeof v === 'string' ? v : undefined;
}

function int(h: EventHeaders, name: string): number | undefined {
  const v = header(h, name);
  return v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : undefined;
}

/** Whether an event is one this machine reads (the caller feeds only these). */
export function isConferenceEvent(h: EventHeaders): boolean {
  return header(h, 'Event-Name') === 'CUSTOM' && header(h, 'Event-Subclass') === 'conference::maintenance';
}

/** The link marks of a member event's channel headers (see the module comment). */
function linkMarks(h: EventHeaders): { link: boolean; linkId?: string } {
  const cascade = header(h, 'variable_sip_h_X-SBC-Cascade');
  const byName = header(h, 'Caller-Caller-ID-Name') === 'cascade' || header(h, 'Caller-Orig-Caller-ID-Name') === 'cascade';
  if (cascade !== undefined) return LINK_ID.test(cascade) ? { link: true, linkId: cascade } : { link: true };
  return { link: byName };
}

/**
 * Pure: one conference::maintenance event; IGNORED for an action of no interest (floor-change,
 * play-file-done, talking...); undefined when it lacks a header the action needs (counted).
 */
export function readConferenceEvent(h: EventHeaders): ConferenceEventRead | typeof IGNORED_CONFERENCE_EVENT | undefined {
  const coreUuid = parseCoreUuid(header(h, 'Core-UUID') ?? '');
  if (!coreUuid) return undefined;
  const action = header(h, 'Action');
  if (action === 'bgdial-result') {
    const jobUuid = header(h, 'Job-UUID');
    if (jobUuid === undefined || !UUID.test(jobUuid)) return undefined;
    const peer = header(h, 'Peer-UUID');
    return { action, coreUuid, jobUuid, result: header(h, 'Result') ?? '', ...(peer !== undefined && UUID.test(peer) ? { peerUuid: peer } : {}) };
  }
  if (action !== 'conference-create' && action !== 'add-member' && action !== 'del-member' && action !== 'conference-destroy') return IGNORED_CONFERENCE_EVENT;
  const room = header(h, 'Conference-Name');
  const conferenceUuid = header(h, 'Conference-Unique-ID');
  const size = int(h, 'Conference-Size');
  if (room === undefined || conferenceUuid === undefined || !UUID.test(conferenceUuid) || size === undefined) return undefined;
  if (action !== 'add-member' && action !== 'del-member') return { action, coreUuid, room, conferenceUuid, size };
  const id = int(h, 'Member-ID');
  const uuid = header(h, 'Unique-ID');
  const direction = header(h, 'Call-Direction');
  if (id === undefined || uuid === undefined || !UUID.test(uuid) || (direction !== 'inbound' && direction !== 'outbound')) return undefined;
  const callId = header(h, 'variable_sip_call_id');
  const member: MemberFact = { id, uuid, direction, ...linkMarks(h), ...(callId !== undefined && CALL_ID.test(callId) ? { callId } : {}) };
  return { action, coreUuid, room, conferenceUuid, size, member };
}

export type JsonListRead = { readonly ok: true; readonly conferences: readonly ConferenceFact[] } | { readonly ok: false; readonly detail: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Pure: the output of `conference json_list` (every conference; a JSON array, one object per
 * conference with its members). With no conference FreeSWITCH prints an empty array; `conference
 * list` says `+OK No active conferences.` (captured), which is read the same. A member without
 * a channel (a recording) is not listed; json_list shows no direction or variables, so only the
 * `cascade` caller id name marks a link here (an inbound one: on the dialling node the name is
 * flipped to the far end's after the answer).
 */
export function parseJsonList(output: string): JsonListRead {
  const text = output.trim();
  if (text === '' || text.startsWith('+OK No active conferences')) return { ok: true, conferences: [] };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, detail: `not JSON: ${JSON.stringify(text.slice(0, 80))}` };
  }
  if (!Array.isArray(json)) return { ok: false, detail: 'not a JSON array' };
  const conferences: ConferenceFact[] = [];
  for (const c of json) {
    if (!isObject(c) || typeof c.conference_name !== 'string' || typeof c.conference_uuid !== 'string' || !isCount(c.member_count)) {
      return { ok: false, detail: 'a conference without conference_name, conference_uuid or member_count' };
    }
    const members: MemberFact[] = [];
    for (const m of Array.isArray(c.members) ? (c.members as unknown[]) : []) {
      if (!isObject(m) || !isCount(m.id) || typeof m.uuid !== 'string' || !UUID.test(m.uuid)) continue;
      const link = m.caller_id_name === 'cascade';
      members.push({ id: m.id, uuid: m.uuid, link, ...(link ? { direction: 'inbound' as const } : {}) });
    }
    conferences.push({ room: c.conference_name, conferenceUuid: c.conference_uuid, size: c.member_count, members });
  }
  return { ok: true, conferences };
}

/** The `+OK Job-UUID: <uuid>` a bgdial answers (the BACKGROUND_JOB body under bgapi). */
export function parseBgdialJob(output: string): string | undefined {
  const m = /^\+OK Job-UUID: ([0-9a-f-]{36})\s*$/.exec(output);
  return m && UUID.test(m[1] as string) ? m[1] : undefined;
}

/**
 * The link's dial string: ONE space-free token (the conference API splits its arguments on
 * spaces), exactly the captured one plus the target, room and media timeout variables. Values
 * in `{...}` may not hold `,` (the variable separator) or anything that needs quoting; the
 * schema allows none, and this checks again.
 */
export function linkDialString(args: LinkArgs, sipProfile: string): { ok: true; dial: string } | { ok: false; detail: string } {
  const via = /^sip:(.+)$/.exec(args.via)?.[1];
  if (!via) return { ok: false, detail: `via ${JSON.stringify(args.via)} is not sip:host:port` };
  const vars: Array<[string, string]> = [
    ['sip_h_X-SBC-Cascade', args.linkId],
    ['sip_h_X-SBC-Target', args.target],
    ['sip_h_X-SBC-Room', args.room],
    ['origination_caller_id_name', 'cascade'],
    ['origination_caller_id_number', args.room],
    ['conference_member_flags', 'nomoh'],
    ['conference_enter_sound', 'silence_stream://20'],
    ['conference_exit_sound', 'silence_stream://20'],
    ['media_timeout', String(args.mediaTimeoutMs ?? DEFAULT_LINK_MEDIA_TIMEOUT_MS)],
  ];
  for (const [name, value] of vars) {
    if (!/^[^\s,{}'"^\\]+$/.test(value)) return { ok: false, detail: `${name} value ${JSON.stringify(value)} would need quoting` };
  }
  if (!/^[A-Za-z0-9_.-]+$/.test(sipProfile)) return { ok: false, detail: `SIP profile ${JSON.stringify(sipProfile)} would need quoting` };
  const dial = `{${vars.map(([n, v]) => `${n}=${v}`).join(',')}}sofia/${sipProfile}/${args.room}@${via}`;
  return /\s/.test(dial) ? { ok: false, detail: 'the dial string holds a space' } : { ok: true, dial };
}

/** `conference <room> bgdial <dial string> <caller id number> <caller id name>`, as the captures ran it. */
export function linkCommand(args: LinkArgs, sipProfile: string): { ok: true; command: string } | { ok: false; detail: string } {
  const d = linkDialString(args, sipProfile);
  return d.ok ? { ok: true, command: `conference ${args.room} bgdial ${d.dial} ${args.room} cascade` } : d;
}

// ---------------------------------------------------------------------------------------------
// Snapshots

const linkCount = (c: ConferenceFact) => c.members.filter((m) => m.link).length;

/** The rooms message's list: sorted by room name, bounded (the rest counted in `omitted`). */
export function roomsSnapshot(conferences: Readonly<Record<string, ConferenceFact>>): { rooms: RoomSnapshot[]; omitted?: number } {
  const all = Object.values(conferences).sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : a.conferenceUuid < b.conferenceUuid ? -1 : 1));
  const rooms = all.slice(0, MAX_ROOMS_PER_SNAPSHOT).map((c) => ({
    room: c.room,
    conferenceUuid: c.conferenceUuid,
    members: Math.min(c.size, 100_000),
    links: Math.min(linkCount(c), 100_000),
    linkIds: [...new Set(c.members.flatMap((m) => (m.link && m.linkId !== undefined ? [m.linkId] : [])))].sort().slice(0, MAX_LINK_IDS_PER_ROOM),
  }));
  const omitted = all.length - rooms.length;
  return omitted > 0 ? { rooms, omitted: Math.min(omitted, 1_000_000) } : { rooms };
}

// ---------------------------------------------------------------------------------------------
// The machine

interface Waiter {
  readonly id: string;
  readonly nodeId: string;
  readonly replyTo: string;
}

type PendingOp =
  | { readonly op: 'read'; readonly publish: boolean; readonly waiters: readonly Waiter[] }
  | { readonly op: 'dial'; readonly waiter: Waiter; readonly room: string; readonly linkId: string }
  | { readonly op: 'hup'; readonly waiter: Waiter; readonly memberId: number }
  /** `uuid_getvar <uuid> sip_h_X-SBC-Cascade`: the link id of a leg the events did not name. */
  | { readonly op: 'linkid'; readonly uuid: string };

export interface ConferencesState {
  /** The node the membership machine announces; nothing is published without one. */
  readonly nodeId: string | undefined;
  /** The FreeSWITCH process these conferences belong to (events of another one reset them). */
  readonly coreUuid: string | undefined;
  /** By Conference-Unique-ID. */
  readonly conferences: Readonly<Record<string, ConferenceFact>>;
  /** Links this agent dialled whose bgdial-result has not come yet. */
  readonly dialed: ReadonlyArray<{ readonly jobUuid: string; readonly room: string; readonly linkId: string }>;
  /** Link legs a bgdial-result named, by Peer-UUID, until their member joins. */
  readonly peers: ReadonlyArray<{ readonly uuid: string; readonly linkId: string }>;
  /** bgdial-results that came before the agent knew their job (the api reply still on its way). */
  readonly unmatched: ReadonlyArray<{ readonly jobUuid: string; readonly peerUuid: string }>;
  readonly pending: Readonly<Record<number, PendingOp>>;
  /** The token of the json_list read in flight, if any (reads are shared). */
  readonly reading: number | undefined;
  readonly nextToken: number;
  /** The last rooms snapshot published was empty (or none was): a tick publishes nothing more. */
  readonly quiet: boolean;
  readonly stopped: boolean;
  readonly counts: {
    /** Events about a conference whose name is not a publishable room name. */
    readonly unpublishable: number;
    readonly failedReads: number;
  };
}

export type ConferencesInput =
  | { readonly kind: 'node-announced'; readonly nodeId: string | undefined }
  | { readonly kind: 'reannounce' }
  | { readonly kind: 'conference-event'; readonly event: ConferenceEventRead }
  /** Once per heartbeat interval while a node is announced. */
  | { readonly kind: 'conference-tick' }
  | { readonly kind: 'conference-command'; readonly request: ConferenceCommandRequest; readonly replyTo: string }
  | { readonly kind: 'conference-api-done'; readonly token: number; readonly reply: ApiReply; readonly at: number }
  | { readonly kind: 'stop' };

export type ConferenceEdge = Omit<NodeConference, 'v' | 'seq' | 'sentAt'>;

export type ConferencesAction =
  | { readonly kind: 'publish-conference'; readonly body: ConferenceEdge }
  | { readonly kind: 'publish-rooms'; readonly nodeId: string; readonly rooms: readonly RoomSnapshot[]; readonly omitted?: number }
  /** Run this api command and feed the answer back as `conference-api-done` with this token. */
  | { readonly kind: 'conference-api'; readonly token: number; readonly command: string }
  | { readonly kind: 'reply-v2'; readonly replyTo: string; readonly reply: ConferenceCommandReply };

export interface ConferencesOptions {
  /** The Sofia profile links are dialled through (SBC_FS_SIP_PROFILE). */
  readonly sipProfile: string;
}

export const INITIAL_CONFERENCES: ConferencesState = {
  nodeId: undefined,
  coreUuid: undefined,
  conferences: {},
  dialed: [],
  peers: [],
  unmatched: [],
  pending: {},
  reading: undefined,
  nextToken: 1,
  quiet: true,
  stopped: false,
  counts: { unpublishable: 0, failedReads: 0 },
};

type Result = Decision<ConferencesState, ConferencesAction>;
const nothing = (state: ConferencesState, note?: string): Result => (note ? { state, actions: [], note } : { state, actions: [] });

export const JSON_LIST = 'conference json_list';

export function conferencesMachine(opts: ConferencesOptions): Machine<ConferencesState, ConferencesInput, ConferencesAction> {
  return {
    name: 'conferences',
    initial: INITIAL_CONFERENCES,
    takes: inputKinds<ConferencesInput['kind']>({
      'node-announced': true,
      reannounce: true,
      'conference-event': true,
      'conference-tick': true,
      'conference-command': true,
      'conference-api-done': true,
      stop: true,
    }),
    decide: (state, input) => decideConferences(state, input, opts),
  };
}

export function decideConferences(state: ConferencesState, input: ConferencesInput, opts: ConferencesOptions): Result {
  switch (input.kind) {
    case 'node-announced': {
      if (state.stopped) return nothing(state, 'stopped');
      if (input.nodeId === undefined) return nothing({ ...state, nodeId: undefined }, 'node left: nothing published until the next join');
      const fresh = input.nodeId !== state.coreUuid ? { ...state, conferences: {}, dialed: [], peers: [], unmatched: [], coreUuid: input.nodeId } : state;
      return read({ ...fresh, nodeId: input.nodeId }, { publish: true });
    }
    case 'reannounce':
      if (state.stopped || state.nodeId === undefined) return nothing(state, 'no node announced');
      return read(state, { publish: true });
    case 'conference-event':
      return onEvent(state, input.event);
    case 'conference-tick': {
      if (state.stopped || state.nodeId === undefined) return nothing(state, 'no node announced');
      if (state.quiet && Object.keys(state.conferences).length === 0) return nothing(state);
      return publishRooms(state);
    }
    case 'conference-command':
      return onCommand(state, input.request, input.replyTo, opts);
    case 'conference-api-done':
      return onApiDone(state, input.token, input.reply, input.at);
    case 'stop': {
      if (state.stopped) return nothing(state, 'already stopped');
      const waiters = Object.values(state.pending).flatMap((p) => (p.op === 'read' ? p.waiters : p.op === 'linkid' ? [] : [p.waiter]));
      const next: ConferencesState = { ...state, stopped: true, pending: {}, reading: undefined };
      return { state: next, actions: waiters.map((w) => refusal(w, 'not-ready', 'the agent is stopping')) };
    }
  }
}

function publishRooms(state: ConferencesState): Result {
  if (state.nodeId === undefined) return nothing(state);
  const snap = roomsSnapshot(state.conferences);
  return {
    state: { ...state, quiet: snap.rooms.length === 0 },
    actions: [{ kind: 'publish-rooms', nodeId: state.nodeId, rooms: snap.rooms, ...(snap.omitted !== undefined ? { omitted: snap.omitted } : {}) }],
  };
}

/** Starts a json_list read, or joins the one in flight. */
function read(state: ConferencesState, want: { publish: boolean; waiter?: Waiter }): Result {
  const current = state.reading !== undefined ? state.pending[state.reading] : undefined;
  if (state.reading !== undefined && current?.op === 'read') {
    const joined: PendingOp = { op: 'read', publish: current.publish || want.publish, waiters: want.waiter ? [...current.waiters, want.waiter] : current.waiters };
    return nothing({ ...state, pending: { ...state.pending, [state.reading]: joined } });
  }
  const token = state.nextToken;
  const op: PendingOp = { op: 'read', publish: want.publish, waiters: want.waiter ? [want.waiter] : [] };
  return {
    state: { ...state, nextToken: token + 1, reading: token, pending: { ...state.pending, [token]: op } },
    actions: [{ kind: 'conference-api', token, command: JSON_LIST }],
  };
}

function withConference(state: ConferencesState, c: ConferenceFact | undefined, uuid: string): ConferencesState {
  const conferences = { ...state.conferences };
  if (c) conferences[uuid] = c;
  else delete conferences[uuid];
  return { ...state, conferences };
}

function onEvent(state: ConferencesState, e: ConferenceEventRead): Result {
  // Events of another FreeSWITCH process than the one known: it restarted; start over.
  const base = e.coreUuid !== state.coreUuid ? { ...state, coreUuid: e.coreUuid, conferences: {}, dialed: [], peers: [], unmatched: [] } : state;
  if (e.action === 'bgdial-result') return onBgdialResult(base, e);
  if (!ROOM_NAME.test(e.room)) {
    return nothing({ ...base, counts: { ...base.counts, unpublishable: base.counts.unpublishable + 1 } }, `conference name ${JSON.stringify(e.room.slice(0, 140))} is not a room name: not published`);
  }
  const known = base.conferences[e.conferenceUuid];
  let next: ConferencesState;
  let member: MemberFact | undefined;
  switch (e.action) {
    case 'conference-create':
      next = withConference(base, { room: e.room, conferenceUuid: e.conferenceUuid, size: e.size, members: known?.members ?? [] }, e.conferenceUuid);
      break;
    case 'add-member': {
      const peer = e.member ? base.peers.find((p) => p.uuid === e.member?.uuid) : undefined;
      member = e.member && peer ? { ...e.member, link: true, linkId: e.member.linkId ?? peer.linkId } : e.member;
      const others = (known?.members ?? []).filter((m) => m.id !== member?.id);
      next = withConference(base, { room: e.room, conferenceUuid: e.conferenceUuid, size: e.size, members: member ? [...others, member] : others }, e.conferenceUuid);
      if (peer) next = { ...next, peers: next.peers.filter((p) => p !== peer) };
      break;
    }
    case 'del-member': {
      const stored = known?.members.find((m) => m.id === e.member?.id);
      member = stored && e.member ? { ...e.member, link: stored.link || e.member.link, ...(stored.linkId ?? e.member.linkId ? { linkId: stored.linkId ?? e.member.linkId } : {}) } : e.member;
      const others = (known?.members ?? []).filter((m) => m.id !== e.member?.id);
      next = withConference(base, { room: e.room, conferenceUuid: e.conferenceUuid, size: e.size, members: others }, e.conferenceUuid);
      break;
    }
    case 'conference-destroy':
      next = withConference(base, undefined, e.conferenceUuid);
      break;
  }
  const lookup = e.action === 'add-member' && member?.link === true && member.linkId === undefined ? lookupLinkIds(next, [member.uuid]) : { state: next, actions: [] };
  next = lookup.state;
  if (next.nodeId === undefined || next.nodeId !== e.coreUuid) return { state: next, actions: lookup.actions, note: 'no node announced for these events: tracked, not published' };
  const after = next.conferences[e.conferenceUuid];
  const body: ConferenceEdge = {
    nodeId: next.nodeId,
    event: EDGE[e.action],
    room: e.room,
    conferenceUuid: e.conferenceUuid,
    members: e.action === 'conference-destroy' ? 0 : Math.min(e.size, 100_000),
    links: after ? linkCount(after) : 0,
    ...(member ? { member: published(member) } : {}),
  };
  return { state: next, actions: [{ kind: 'publish-conference', body }, ...lookup.actions] };
}

/**
 * Asks FreeSWITCH for the X-SBC-Cascade header of legs whose link id no event or bgdial told:
 * on a node without verbose-events a link dialled by someone else, or by this agent before it
 * restarted, shows no variables.
 */
function lookupLinkIds(state: ConferencesState, uuids: readonly string[]): Result {
  let next = state;
  const actions: ConferencesAction[] = [];
  for (const uuid of uuids) {
    if (Object.values(next.pending).some((p) => p.op === 'linkid' && p.uuid === uuid)) continue;
    const started = startApi(next, { op: 'linkid', uuid }, `uuid_getvar ${uuid} sip_h_X-SBC-Cascade`);
    next = started.state;
    actions.push(...started.actions);
  }
  return { state: next, actions };
}

const EDGE = { 'conference-create': 'create', 'add-member': 'add-member', 'del-member': 'del-member', 'conference-destroy': 'destroy' } as const;

function published(m: MemberFact): ConferenceMember {
  return {
    id: m.id,
    uuid: m.uuid,
    link: m.link,
    ...(m.linkId !== undefined ? { linkId: m.linkId } : {}),
    direction: m.direction ?? 'inbound',
    ...(m.callId !== undefined ? { callId: m.callId } : {}),
  };
}

const bounded = <T>(list: readonly T[], max: number): T[] => list.slice(Math.max(0, list.length - max));

function onBgdialResult(state: ConferencesState, e: Extract<ConferenceEventRead, { action: 'bgdial-result' }>): Result {
  const dialed = state.dialed.find((d) => d.jobUuid === e.jobUuid);
  if (!e.peerUuid) {
    const dropped = dialed ? { ...state, dialed: state.dialed.filter((d) => d !== dialed) } : state;
    return nothing(dropped, `bgdial ${e.jobUuid} ended ${e.result || 'without a result'} and no leg`);
  }
  if (!dialed) return nothing({ ...state, unmatched: bounded([...state.unmatched, { jobUuid: e.jobUuid, peerUuid: e.peerUuid }], MAX_UNMATCHED) }, 'bgdial-result of a job not known (yet)');
  return nothing(markLink({ ...state, dialed: state.dialed.filter((d) => d !== dialed) }, e.peerUuid, dialed.linkId));
}

/** The leg `uuid` is link `linkId`: marks its member if it joined already, else remembers it for add-member. */
function markLink(state: ConferencesState, uuid: string, linkId: string, remember = true): ConferencesState {
  for (const c of Object.values(state.conferences)) {
    const m = c.members.find((x) => x.uuid === uuid);
    if (m) return withConference(state, { ...c, members: c.members.map((x) => (x === m ? { ...x, link: true, linkId } : x)) }, c.conferenceUuid);
  }
  return remember ? { ...state, peers: bounded([...state.peers, { uuid, linkId }], MAX_PEERS) } : state;
}

// ---------------------------------------------------------------------------------------------
// Commands

function refusal(w: { id: string; nodeId?: string; replyTo: string }, code: ConferenceCommandErrorCode, message: string): ConferencesAction {
  return {
    kind: 'reply-v2',
    replyTo: w.replyTo,
    reply: { v: CONFERENCE_COMMAND_VERSION, id: w.id, ...(w.nodeId !== undefined ? { nodeId: w.nodeId } : {}), ok: false, error: { code, message: message.slice(0, 512) } },
  };
}

const byRoom = (state: ConferencesState, room: string) => Object.values(state.conferences).find((c) => c.room === room);

function onCommand(state: ConferencesState, request: ConferenceCommandRequest, replyTo: string, opts: ConferencesOptions): Result {
  const waiter: Waiter = { id: request.id, nodeId: request.nodeId, replyTo };
  if (state.stopped) return { state, actions: [refusal(waiter, 'not-ready', 'the agent is stopping')] };
  if (request.command === 'conferences') return read(state, { publish: false, waiter });
  const conference = byRoom(state, request.args.room);
  if (request.command === 'unlink') {
    const member = conference?.members.find((m) => m.link && m.linkId === request.args.linkId);
    if (!conference || !member) {
      return { state, actions: [{ kind: 'reply-v2', replyTo, reply: { v: CONFERENCE_COMMAND_VERSION, id: request.id, nodeId: request.nodeId, ok: true, command: 'unlink', result: { found: false } } }] };
    }
    return startApi(state, { op: 'hup', waiter, memberId: member.id }, `conference ${conference.room} hup ${member.id}`);
  }
  const { args } = request;
  if (!conference) return { state, actions: [refusal(waiter, 'bad-request', `no conference ${args.room} on this node: a link is dialled only from a room this node hosts`)] };
  if (conference.members.length > 0 && conference.members.every((m) => m.link && m.direction === 'inbound')) {
    return {
      state,
      actions: [refusal(waiter, 'cascade-loop', `room ${args.room} holds only links that arrived from other nodes; a node never dials out for a leg that arrived marked`)],
    };
  }
  const up = conference.members.find((m) => m.link && m.linkId === args.linkId);
  if (up) return { state, actions: [refusal(waiter, 'bad-request', `link ${args.linkId} is already member ${up.id} of room ${args.room}`)] };
  if (state.dialed.some((d) => d.linkId === args.linkId && d.room === args.room) || Object.values(state.pending).some((p) => p.op === 'dial' && p.linkId === args.linkId && p.room === args.room)) {
    return { state, actions: [refusal(waiter, 'bad-request', `link ${args.linkId} is being dialled already`)] };
  }
  const cmd = linkCommand(args, opts.sipProfile);
  if (!cmd.ok) return { state, actions: [refusal(waiter, 'bad-request', cmd.detail)] };
  return startApi(state, { op: 'dial', waiter, room: args.room, linkId: args.linkId }, cmd.command);
}

function startApi(state: ConferencesState, op: PendingOp, command: string): Result {
  const token = state.nextToken;
  return { state: { ...state, nextToken: token + 1, pending: { ...state.pending, [token]: op } }, actions: [{ kind: 'conference-api', token, command }] };
}

/** Why an api command gave no usable answer, as a command error. */
function apiFailure(reply: Extract<ApiReply, { ok: false }>): { code: ConferenceCommandErrorCode; message: string } {
  if (reply.answered) return { code: 'freeswitch-error', message: reply.error };
  return { code: reply.timedOut ? 'timeout' : 'not-ready', message: reply.error };
}

function onApiDone(state: ConferencesState, token: number, reply: ApiReply, at: number): Result {
  const op = state.pending[token];
  if (!op) return nothing(state, `api ${token} is no longer awaited`);
  const pending = { ...state.pending };
  delete pending[token];
  const base: ConferencesState = { ...state, pending, ...(state.reading === token ? { reading: undefined } : {}) };
  switch (op.op) {
    case 'read':
      return onRead(base, op, reply, at);
    case 'dial': {
      if (!reply.ok) {
        const f = apiFailure(reply);
        return { state: base, actions: [refusal(op.waiter, f.code, `bgdial: ${f.message}`)] };
      }
      const jobUuid = parseBgdialJob(reply.output);
      if (!jobUuid) return { state: base, actions: [refusal(op.waiter, 'freeswitch-error', `bgdial answered ${JSON.stringify(reply.output.trim().slice(0, 120))}`)] };
      const early = base.unmatched.find((u) => u.jobUuid === jobUuid);
      const next = early
        ? markLink({ ...base, unmatched: base.unmatched.filter((u) => u !== early) }, early.peerUuid, op.linkId)
        : { ...base, dialed: bounded([...base.dialed, { jobUuid, room: op.room, linkId: op.linkId }], MAX_DIALED) };
      const ok: ConferenceCommandReply = { v: CONFERENCE_COMMAND_VERSION, id: op.waiter.id, nodeId: op.waiter.nodeId, ok: true, command: 'link', result: { jobUuid } };
      return { state: next, actions: [{ kind: 'reply-v2', replyTo: op.waiter.replyTo, reply: ok }] };
    }
    case 'hup': {
      const answer = (found: boolean): ConferencesAction => ({
        kind: 'reply-v2',
        replyTo: op.waiter.replyTo,
        reply: { v: CONFERENCE_COMMAND_VERSION, id: op.waiter.id, nodeId: op.waiter.nodeId, ok: true, command: 'unlink', result: { found, ...(found ? { memberId: op.memberId } : {}) } },
      });
      if (reply.ok && /^\+OK hup \d+/.test(reply.output)) return { state: base, actions: [answer(true)] };
      const text = reply.ok ? reply.output : reply.error;
      // Gone meanwhile (it hung up, or the conference ended): nothing left to unlink.
      if (/Non-Existant ID|not found/i.test(text)) return { state: base, actions: [answer(false)] };
      if (!reply.ok) {
        const f = apiFailure(reply);
        return { state: base, actions: [refusal(op.waiter, f.code, `hup: ${f.message}`)] };
      }
      return { state: base, actions: [refusal(op.waiter, 'freeswitch-error', `hup answered ${JSON.stringify(text.trim().slice(0, 120))}`)] };
    }
    case 'linkid': {
      const value = reply.ok ? reply.output.trim() : '';
      // `_undef_` (no such header: not a link), an error, or no such channel any more: nothing learned.
      if (!LINK_ID.test(value) || value === '_undef_') return nothing(base, `no link id for ${op.uuid}`);
      return nothing(markLink(base, op.uuid, value, false));
    }
  }
}

/** A json_list reading: the truth replaces what the events built, keeping what only events and bgdial told (links, ids, directions). */
function onRead(state: ConferencesState, op: Extract<PendingOp, { op: 'read' }>, reply: ApiReply, at: number): Result {
  const parsed: JsonListRead = reply.ok ? parseJsonList(reply.output) : { ok: false, detail: reply.error };
  if (!parsed.ok) {
    const f: { code: ConferenceCommandErrorCode; message: string } = reply.ok ? { code: 'freeswitch-error', message: parsed.detail } : apiFailure(reply);
    const next = { ...state, counts: { ...state.counts, failedReads: state.counts.failedReads + 1 } };
    const actions = op.waiters.map((w) => refusal(w, f.code, `${JSON_LIST}: ${f.message}`));
    // A failed reading at a join still publishes what the events built: the control plane hears something.
    if (op.publish) {
      const published = publishRooms(next);
      return { state: published.state, actions: [...actions, ...published.actions], note: `${JSON_LIST} failed: ${f.message}` };
    }
    return { state: next, actions, note: `${JSON_LIST} failed: ${f.message}` };
  }
  const previous = new Map(Object.values(state.conferences).flatMap((c) => c.members.map((m) => [m.uuid, m] as const)));
  const conferences: Record<string, ConferenceFact> = {};
  let peers = state.peers;
  let unpublishable = state.counts.unpublishable;
  for (const c of parsed.conferences) {
    if (!ROOM_NAME.test(c.room) || !UUID.test(c.conferenceUuid)) {
      unpublishable += 1;
      continue;
    }
    const members = c.members.map((m): MemberFact => {
      const old = previous.get(m.uuid);
      const peer = peers.find((p) => p.uuid === m.uuid);
      if (peer) peers = peers.filter((p) => p !== peer);
      const linkId = old?.linkId ?? peer?.linkId;
      const direction = old?.direction ?? m.direction;
      return {
        id: m.id,
        uuid: m.uuid,
        link: m.link || old?.link === true || peer !== undefined,
        ...(linkId !== undefined ? { linkId } : {}),
        ...(direction !== undefined ? { direction } : {}),
        ...(old?.callId !== undefined ? { callId: old.callId } : {}),
      };
    });
    conferences[c.conferenceUuid] = { ...c, members };
  }
  // Legs whose link id nothing told: links without one, and members this agent never saw an event of.
  const unknown = Object.values(conferences)
    .flatMap((c) => c.members)
    .filter((m) => (m.link && m.linkId === undefined) || (!m.link && !previous.has(m.uuid)))
    .slice(0, MAX_LOOKUPS_PER_READ)
    .map((m) => m.uuid);
  const looked = lookupLinkIds({ ...state, conferences, peers, counts: { ...state.counts, unpublishable } }, unknown);
  const next = looked.state;
  const snap = roomsSnapshot(conferences);
  const actions: ConferencesAction[] = op.waiters.map((w) => ({
    kind: 'reply-v2',
    replyTo: w.replyTo,
    reply: { v: CONFERENCE_COMMAND_VERSION, id: w.id, nodeId: w.nodeId, ok: true, command: 'conferences', result: { ...snap, readAt: at } },
  }));
  if (!op.publish) return { state: next, actions: [...actions, ...looked.actions] };
  const published = publishRooms(next);
  return { state: published.state, actions: [...actions, ...published.actions, ...looked.actions] };
}
