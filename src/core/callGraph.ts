import type { CallEvent, CallKeys, DecisionKind, DecisionPin } from '../ports/callStore.js';
import { withoutUndefined } from './callEvents.js';

/**
 * What one call is, worked out from its stored events (issue 8): its legs (FreeSWITCH
 * channels), the Kamailio routing decisions that placed them, and why the legs belong
 * together. Pure: src/calls/traceCall.ts fetches the events (following the keys this module
 * names) and hands them here.
 *
 * Legs are joined on several keys, never on one alone: a B-leg's Channel-Call-UUID can change
 * during the call, an outbound leg carries its Call-ID only from answer on, and public CDR
 * reports show call_uuid alone wrong in about 1 % of calls.
 */

export type JoinKind = 'call-id' | 'other-leg' | 'call-uuid' | 'decision' | 'link' | 'room';

/** Why two legs are in one graph. `a` < `b` (uuids), one entry per pair and kind. */
export interface LegJoin {
  readonly a: string;
  readonly b: string;
  readonly by: JoinKind;
}

export interface LegEvent {
  readonly event: string;
  readonly atUs: number;
  readonly cause?: string;
}

export interface Leg {
  readonly uuid: string;
  readonly nodeId: string;
  readonly direction?: 'inbound' | 'outbound';
  /** The leg's SIP Call-ID (an outbound leg's from answer on). */
  readonly callId?: string;
  /** Every Other-Leg-Unique-ID it named. */
  readonly otherLegs: readonly string[];
  /** Every Channel-Call-UUID it named (a B-leg's can change). */
  readonly callUuids: readonly string[];
  readonly caller?: string;
  readonly callee?: string;
  readonly room?: string;
  readonly memberId?: number;
  readonly decision?: string;
  readonly link?: string;
  readonly startedAtUs: number;
  readonly answeredAtUs?: number;
  readonly bridgedAtUs?: number;
  readonly endedAtUs?: number;
  readonly cause?: string;
  readonly sipStatus?: number;
  readonly events: readonly LegEvent[];
}

export interface RouteAttemptView {
  readonly attempt: number;
  readonly atUs: number;
  readonly set?: number;
  readonly alg?: number;
  readonly dst?: string;
  readonly result?: number;
  readonly afterStatus?: number;
  readonly afterTimeout?: boolean;
}

export interface RouteDecisionView {
  readonly id: string;
  readonly kamailioId: string;
  readonly callId?: string;
  readonly kind: DecisionKind;
  readonly pin: DecisionPin;
  readonly room?: string;
  readonly key?: string;
  readonly link?: string;
  /** In attempt order. */
  readonly attempts: readonly RouteAttemptView[];
  /** The legs that carry this decision (X-SBC-Decision) or its Call-ID. */
  readonly legs: readonly string[];
}

export interface CallGraph {
  /** By start, then uuid. */
  readonly legs: readonly Leg[];
  readonly decisions: readonly RouteDecisionView[];
  readonly joins: readonly LegJoin[];
  readonly nodes: readonly string[];
  readonly kamailios: readonly string[];
  readonly rooms: readonly string[];
  readonly links: readonly string[];
  readonly firstAtUs: number;
  readonly lastAtUs: number;
  /** The lookup stopped at its bound of legs or events: more may belong to the call. */
  readonly truncated: boolean;
}

const sortedUnique = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

/** The keys a set of events points at (what the next round of a lookup asks the store for). */
export function callKeysOf(events: readonly CallEvent[], opts: { readonly rooms: boolean } = { rooms: true }): Required<CallKeys> {
  const uuids = new Set<string>();
  const callIds = new Set<string>();
  const decisions = new Set<string>();
  const links = new Set<string>();
  const rooms = new Set<string>();
  for (const e of events) {
    for (const u of [e.uuid, e.otherLeg, e.callUuid]) if (u !== undefined) uuids.add(u);
    if (e.callId !== undefined) callIds.add(e.callId);
    if (e.decision !== undefined) decisions.add(e.decision);
    if (e.link !== undefined) links.add(e.link);
    if (opts.rooms && e.room !== undefined) rooms.add(e.room);
  }
  return { uuids: sortedUnique(uuids), callIds: sortedUnique(callIds), decisions: sortedUnique(decisions), links: sortedUnique(links), rooms: sortedUnique(rooms) };
}

/** The keys of `next` not already in `seen` (each key is asked for once). */
export function newKeys(next: Required<CallKeys>, seen: Required<CallKeys>): Required<CallKeys> {
  const minus = (a: readonly string[], b: readonly string[]) => {
    const s = new Set(b);
    return a.filter((x) => !s.has(x));
  };
  return {
    uuids: minus(next.uuids, seen.uuids),
    callIds: minus(next.callIds, seen.callIds),
    decisions: minus(next.decisions, seen.decisions),
    links: minus(next.links, seen.links),
    rooms: minus(next.rooms, seen.rooms),
  };
}

export const keyCount = (k: CallKeys): number =>
  (k.uuids?.length ?? 0) + (k.callIds?.length ?? 0) + (k.decisions?.length ?? 0) + (k.links?.length ?? 0) + (k.rooms?.length ?? 0);

export const mergeKeys = (a: Required<CallKeys>, b: Required<CallKeys>): Required<CallKeys> => ({
  uuids: sortedUnique([...a.uuids, ...b.uuids]),
  callIds: sortedUnique([...a.callIds, ...b.callIds]),
  decisions: sortedUnique([...a.decisions, ...b.decisions]),
  links: sortedUnique([...a.links, ...b.links]),
  rooms: sortedUnique([...a.rooms, ...b.rooms]),
});

export const NO_KEYS: Required<CallKeys> = Object.freeze({ uuids: [], callIds: [], decisions: [], links: [], rooms: [] });

const byTime = (a: CallEvent, b: CallEvent) => a.atUs - b.atUs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** One leg from its events (oldest first): the latest value of each field wins, except where noted. */
export function legOf(uuid: string, events: readonly CallEvent[]): Leg {
  const sorted = [...events].sort(byTime);
  const first = sorted[0];
  if (first === undefined) throw new Error(`leg ${uuid} has no events`);
  const last = <K extends keyof CallEvent>(k: K): CallEvent[K] | undefined => {
    for (let i = sorted.length - 1; i >= 0; i--) {
      const v = sorted[i]![k];
      if (v !== undefined) return v;
    }
    return undefined;
  };
  const at = (event: string) => sorted.find((e) => e.event === event)?.atUs;
  const hangup = [...sorted].reverse().find((e) => e.event === 'hangup');
  const leg = {
    uuid,
    nodeId: first.nodeId ?? '',
    direction: last('direction'),
    callId: last('callId'),
    otherLegs: sortedUnique(sorted.flatMap((e) => (e.otherLeg === undefined ? [] : [e.otherLeg]))),
    callUuids: sortedUnique(sorted.flatMap((e) => (e.callUuid === undefined ? [] : [e.callUuid]))),
    caller: last('caller'),
    callee: last('callee'),
    room: last('room'),
    memberId: last('memberId'),
    decision: last('decision'),
    link: last('link'),
    startedAtUs: at('create') ?? first.atUs,
    answeredAtUs: at('answer'),
    bridgedAtUs: at('bridge'),
    endedAtUs: hangup?.atUs,
    cause: hangup?.cause,
    sipStatus: hangup?.sipStatus,
    events: sorted.map((e) => (e.cause === undefined ? { event: e.event, atUs: e.atUs } : { event: e.event, atUs: e.atUs, cause: e.cause })),
  };
  return withoutUndefined<Leg>(leg);
}

/** When a leg is over (or, still up, `openEndUs`). */
export const legEndUs = (l: Leg, openEndUs: number): number => l.endedAtUs ?? openEndUs;

/** Whether two legs were up at the same time (a room joins only those). */
export const overlaps = (a: Leg, b: Leg, openEndUs: number): boolean => a.startedAtUs <= legEndUs(b, openEndUs) && b.startedAtUs <= legEndUs(a, openEndUs);

/** Every reason two legs belong together. */
export function legJoins(legs: readonly Leg[], decisions: readonly RouteDecisionView[], openEndUs: number): LegJoin[] {
  const out = new Map<string, LegJoin>();
  const add = (x: string, y: string, by: JoinKind) => {
    if (x === y) return;
    const [a, b] = x < y ? [x, y] : [y, x];
    out.set(`${a} ${b} ${by}`, { a, b, by });
  };
  const uuids = new Set(legs.map((l) => l.uuid));
  const group = (key: (l: Leg) => string | undefined, by: JoinKind, filter: (a: Leg, b: Leg) => boolean = () => true) => {
    const groups = new Map<string, Leg[]>();
    for (const l of legs) {
      const k = key(l);
      if (k !== undefined) groups.set(k, [...(groups.get(k) ?? []), l]);
    }
    for (const g of groups.values()) for (let i = 0; i < g.length; i++) for (let j = i + 1; j < g.length; j++) if (filter(g[i]!, g[j]!)) add(g[i]!.uuid, g[j]!.uuid, by);
  };
  group((l) => l.callId, 'call-id');
  group((l) => l.decision, 'decision');
  group((l) => l.link, 'link');
  group((l) => l.room, 'room', (a, b) => overlaps(a, b, openEndUs));
  for (const l of legs) {
    for (const o of l.otherLegs) if (uuids.has(o)) add(l.uuid, o, 'other-leg');
    for (const c of l.callUuids) if (uuids.has(c)) add(l.uuid, c, 'call-uuid');
  }
  // A decision's Call-ID is the inbound leg's; a leg that lost its X-SBC-Decision still joins through it.
  for (const d of decisions) {
    const carriers = legs.filter((l) => l.decision === d.id || (d.callId !== undefined && l.callId === d.callId));
    for (let i = 0; i < carriers.length; i++) for (let j = i + 1; j < carriers.length; j++) add(carriers[i]!.uuid, carriers[j]!.uuid, 'decision');
  }
  return [...out.values()].sort((x, y) => (x.a + x.b + x.by < y.a + y.b + y.by ? -1 : 1));
}

/** The routing decisions among the events, each with its attempts in order. */
export function decisionsOf(events: readonly CallEvent[], legs: readonly Leg[]): RouteDecisionView[] {
  const byId = new Map<string, CallEvent[]>();
  for (const e of events) if (e.event === 'route' && e.decision !== undefined) byId.set(e.decision, [...(byId.get(e.decision) ?? []), e]);
  const out: RouteDecisionView[] = [];
  for (const [id, evs] of byId) {
    const attempts = [...evs].sort((a, b) => (a.route?.attempt ?? 0) - (b.route?.attempt ?? 0) || byTime(a, b));
    const head = attempts[0]!;
    const d = {
      id,
      kamailioId: head.kamailioId ?? '',
      callId: head.callId,
      kind: head.route?.kind ?? 'general',
      pin: head.route?.pin ?? 'none',
      room: head.room,
      key: head.route?.key,
      link: head.link,
      attempts: attempts.map((a) => {
        const r = a.route;
        const v = { attempt: r?.attempt ?? 1, atUs: a.atUs, set: r?.set, alg: r?.alg, dst: r?.dst, result: r?.result, afterStatus: r?.afterStatus, afterTimeout: r?.afterTimeout };
        return withoutUndefined<RouteAttemptView>(v);
      }),
      legs: legs.filter((l) => l.decision === id || (head.callId !== undefined && l.callId === head.callId)).map((l) => l.uuid),
    };
    out.push(withoutUndefined<RouteDecisionView>(d));
  }
  return out.sort((a, b) => (a.attempts[0]?.atUs ?? 0) - (b.attempts[0]?.atUs ?? 0) || (a.id < b.id ? -1 : 1));
}

/**
 * The call graph of a set of events (deduplicated by id). `openEndUs` stands for the end of a
 * leg still up (now), for the room-overlap rule.
 */
export function buildCallGraph(events: readonly CallEvent[], opts: { readonly openEndUs: number; readonly truncated?: boolean }): CallGraph {
  const unique = [...new Map(events.map((e) => [e.id, e])).values()].sort(byTime);
  const perLeg = new Map<string, CallEvent[]>();
  for (const e of unique) if (e.source === 'node' && e.uuid !== undefined) perLeg.set(e.uuid, [...(perLeg.get(e.uuid) ?? []), e]);
  const legs = [...perLeg].map(([uuid, evs]) => legOf(uuid, evs)).sort((a, b) => a.startedAtUs - b.startedAtUs || (a.uuid < b.uuid ? -1 : 1));
  const decisions = decisionsOf(unique, legs);
  return {
    legs,
    decisions,
    joins: legJoins(legs, decisions, opts.openEndUs),
    nodes: sortedUnique(legs.map((l) => l.nodeId)),
    kamailios: sortedUnique(decisions.map((d) => d.kamailioId)),
    rooms: sortedUnique(unique.flatMap((e) => (e.room === undefined ? [] : [e.room]))),
    links: sortedUnique(unique.flatMap((e) => (e.link === undefined ? [] : [e.link]))),
    firstAtUs: unique[0]?.atUs ?? 0,
    lastAtUs: unique[unique.length - 1]?.atUs ?? 0,
    truncated: opts.truncated ?? false,
  };
}
