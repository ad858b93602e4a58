import {
  CHANNEL_EVENT_OF,
  CHANNEL_LINK_PATTERN,
  DECISION_ID_PATTERN,
  FREE_TEXT_PATTERN,
  HANGUP_CAUSE_PATTERN,
  MAX_CHANNEL_TEXT,
  PRINTABLE_ID_PATTERN,
  type ChannelEvent,
  type NodeChannel,
} from '../events/index.js';
import type { EventHeaders } from './esl-frames.js';
import { parseCoreUuid } from './fs-output.js';
import { inputKinds, type Decision, type Machine } from './machine.js';

/**
 * The agent's channel machine: each CHANNEL_CREATE, CHANNEL_ANSWER, CHANNEL_BRIDGE and
 * CHANNEL_HANGUP_COMPLETE of the announced FreeSWITCH becomes one `channel` message for the
 * calls stream (issue 8, "What to capture"). It keeps no per-channel state: every event carries
 * what the control plane needs to join the legs of a call (Unique-ID, Other-Leg-Unique-ID,
 * Channel-Call-UUID, the SIP Call-ID), so a restarted agent loses nothing but the events it
 * did not see.
 *
 * What the captures show (fixture README, main run step 4 and the cascade runs):
 * - an inbound SIP leg carries `variable_sip_call_id` from CHANNEL_CREATE on; an outbound leg only
 *   from CHANNEL_ANSWER on (its own UUID with outbound-use-uuid-as-callid), so its create has none;
 * - CHANNEL_BRIDGE fires once per bridge, on the A-leg (Other-Leg-Unique-ID = the B-leg); the
 *   B-leg names the A-leg in Other-Leg-Unique-ID from its CHANNEL_CREATE on;
 * - a B-leg's Channel-Call-UUID is the A-leg's from CS_INIT up to its hangup and its own again on
 *   CHANNEL_HANGUP_COMPLETE: `callUuid` is what the event said, not the call's identity;
 * - `variable_sip_h_X-SBC-Cascade` (a cascade link) is on the receiving leg (an INVITE header) and
 *   on the dialling leg (the dial string's variable, from CHANNEL_CREATE on);
 * - conference variables (`variable_conference_name`, `variable_conference_member_id`) appear on
 *   CHANNEL_HANGUP_COMPLETE of a member; before, only Kamailio's `X-SBC-Room` names the room.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PRINTABLE = new RegExp(PRINTABLE_ID_PATTERN);
const DECISION = new RegExp(DECISION_ID_PATTERN);
const LINK = new RegExp(CHANNEL_LINK_PATTERN);
const CAUSE = new RegExp(HANGUP_CAUSE_PATTERN);
const FREE_TEXT = new RegExp(FREE_TEXT_PATTERN);

/** A channel event's body as the machine builds it; the shell adds v, seq and sentAt. */
export type ChannelEdge = Omit<NodeChannel, 'v' | 'seq' | 'sentAt'>;

/** One channel event read: the FreeSWITCH process it came from, the edge, and the headers left out. */
export interface ChannelEventRead {
  readonly coreUuid: string;
  /** Without nodeId: the machine adds the announced node. */
  readonly edge: Omit<ChannelEdge, 'nodeId'>;
  /** Header names whose value did not fit the schema and was left out (counted). */
  readonly malformed: readonly string[];
}

function header(h: EventHeaders, name: string): string | undefined {
  const v = h[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Whether an event is one this machine reads (the shell feeds it only these). */
export function isChannelEvent(h: EventHeaders): boolean {
  const name = header(h, 'Event-Name');
  return name !== undefined && Object.hasOwn(CHANNEL_EVENT_OF, name);
}

/**
 * Free text as the schema takes it: control characters and lone surrogates replaced by U+FFFD
 * (JSON would escape each to six bytes), cut to MAX_CHANNEL_TEXT UTF-16 units without splitting
 * a surrogate pair. The control plane sees a caller id, never a refused event.
 */
export function truncateText(value: string): string {
  // eslint-disable-next-line no-control-regex
  let clean = value.replace(/[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
  if (clean.length > MAX_CHANNEL_TEXT) {
    const cut = /[\ud800-\udbff]/.test(clean[MAX_CHANNEL_TEXT - 1] ?? '') ? MAX_CHANNEL_TEXT - 1 : MAX_CHANNEL_TEXT;
    clean = clean.slice(0, cut);
  }
  return FREE_TEXT.test(clean) ? clean : '';
}

/**
 * Pure: one channel event; undefined when it lacks what every message needs (Core-UUID,
 * Unique-ID, Call-Direction, Event-Date-Timestamp), which the shell counts. An optional header
 * whose value does not fit (a Call-ID with spaces, a decision id too long) is left out and named
 * in `malformed`.
 */
export function readChannelEvent(h: EventHeaders): ChannelEventRead | undefined {
  const coreUuid = parseCoreUuid(header(h, 'Core-UUID') ?? '');
  const event: ChannelEvent | undefined = CHANNEL_EVENT_OF[header(h, 'Event-Name') ?? ''];
  const uuid = header(h, 'Unique-ID');
  const direction = header(h, 'Call-Direction');
  const at = header(h, 'Event-Date-Timestamp');
  if (!coreUuid || !event || !uuid || !UUID.test(uuid) || (direction !== 'inbound' && direction !== 'outbound')) return undefined;
  if (at === undefined || !/^\d{1,16}$/.test(at) || !Number.isSafeInteger(Number(at))) return undefined;
  const malformed: string[] = [];
  const fields: Record<string, string | number> = {};
  const take = (name: string, field: string, ok: (v: string) => boolean, as: (v: string) => string | number = (v) => v) => {
    const v = header(h, name);
    if (v === undefined) return;
    if (ok(v)) fields[field] = as(v);
    else malformed.push(name);
  };
  take('variable_sip_call_id', 'callId', (v) => PRINTABLE.test(v));
  take('Other-Leg-Unique-ID', 'otherLeg', (v) => UUID.test(v));
  take('Channel-Call-UUID', 'callUuid', (v) => UUID.test(v));
  take('Caller-Caller-ID-Number', 'caller', () => true, truncateText);
  take('Caller-Destination-Number', 'callee', () => true, truncateText);
  // The conference the channel is in, else the room Kamailio routed it to.
  if (header(h, 'variable_conference_name') !== undefined) take('variable_conference_name', 'room', (v) => PRINTABLE.test(v));
  else take('variable_sip_h_X-SBC-Room', 'room', (v) => PRINTABLE.test(v));
  take('variable_conference_member_id', 'memberId', (v) => /^\d{1,10}$/.test(v) && Number(v) <= 2_147_483_647, Number);
  take('variable_sip_h_X-SBC-Decision', 'decision', (v) => DECISION.test(v));
  take('variable_sip_h_X-SBC-Cascade', 'link', (v) => LINK.test(v));
  if (event === 'hangup') take('Hangup-Cause', 'cause', (v) => CAUSE.test(v));
  take('variable_sip_term_status', 'sipStatus', (v) => /^[1-6]\d\d$/.test(v), Number);
  const edge = { event, atUs: Number(at), uuid, direction, ...fields } as Omit<ChannelEdge, 'nodeId'>;
  return { coreUuid, edge, malformed };
}

// ---------------------------------------------------------------------------------------------
// The machine

export interface ChannelsState {
  /** The node the membership machine announces; nothing is published without one. */
  readonly nodeId: string | undefined;
  readonly stopped: boolean;
  readonly counts: {
    /** Channel events of a FreeSWITCH process that is not the announced node (or of none yet). */
    readonly unannounced: number;
    /** Optional headers left out because their value did not fit the schema. */
    readonly malformedFields: number;
  };
}

export type ChannelsInput =
  | { readonly kind: 'node-announced'; readonly nodeId: string | undefined }
  | { readonly kind: 'channel-event'; readonly event: ChannelEventRead }
  | { readonly kind: 'stop' };

export type ChannelsAction = { readonly kind: 'publish-channel'; readonly body: ChannelEdge; readonly malformed: readonly string[] };

export const INITIAL_CHANNELS: ChannelsState = Object.freeze({ nodeId: undefined, stopped: false, counts: Object.freeze({ unannounced: 0, malformedFields: 0 }) });

export function decideChannels(state: ChannelsState, input: ChannelsInput): Decision<ChannelsState, ChannelsAction> {
  switch (input.kind) {
    case 'node-announced':
      return { state: { ...state, nodeId: input.nodeId }, actions: [] };
    case 'stop':
      return { state: { ...state, stopped: true }, actions: [] };
    case 'channel-event': {
      const { event } = input;
      const malformedFields = state.counts.malformedFields + event.malformed.length;
      // The events of another process (a restarted FreeSWITCH not yet announced) belong to no node.
      if (state.stopped || state.nodeId === undefined || state.nodeId !== event.coreUuid) {
        return {
          state: { ...state, counts: { unannounced: state.counts.unannounced + 1, malformedFields } },
          actions: [],
          note: 'channel event of no announced node: not published',
        };
      }
      const next = event.malformed.length > 0 ? { ...state, counts: { ...state.counts, malformedFields } } : state;
      return { state: next, actions: [{ kind: 'publish-channel', body: { nodeId: state.nodeId, ...event.edge }, malformed: event.malformed }] };
    }
  }
}

export const channelsMachine: Machine<ChannelsState, ChannelsInput, ChannelsAction> = {
  name: 'channels',
  initial: INITIAL_CHANNELS,
  takes: inputKinds<ChannelsInput['kind']>({ 'node-announced': true, 'channel-event': true, stop: true }),
  decide: decideChannels,
};
