import { buildCallGraph, callKeysOf, keyCount, mergeKeys, newKeys, NO_KEYS, type CallGraph } from '../core/callGraph.js';
import { FsUuid } from '../events/schemas.js';
import type { CallEvent, CallKeys, CallStore, TimeWindow } from '../ports/callStore.js';

/**
 * `GET /v1/calls/{id}` and `sbcctl trace`: the whole call one identifier belongs to. The id
 * is looked up as a FreeSWITCH UUID, a SIP Call-ID and a routing decision id at once; then
 * every key the found events name (Call-IDs, Other-Leg-Unique-ID, Channel-Call-UUID, decision
 * ids, cascade link ids, conference rooms) is followed, a round per hop, until no new key
 * appears or the bounds are reached. The answer is the connected part of what was found that
 * holds the id (a conference room joins only legs that were up at the same time), so a busy
 * room or a phone that reuses its Call-ID does not pull in strangers.
 */
export interface TraceOptions {
  readonly nowMs: number;
  /** Events read at most; beyond it the graph is marked truncated. */
  readonly maxEvents?: number;
  /** How far either side of the id's newest event the lookup reaches (a call longer than this is cut). */
  readonly spanMs?: number;
  /** Rounds of key-following at most. */
  readonly maxRounds?: number;
}

export const DEFAULT_TRACE_MAX_EVENTS = 5000;
export const DEFAULT_TRACE_SPAN_MS = 24 * 3600 * 1000;
const DEFAULT_MAX_ROUNDS = 12;
const DAY_US = 24 * 3600 * 1_000_000;
const FS_UUID = new RegExp(FsUuid.pattern ?? '^$');

export async function traceCall(store: Pick<CallStore, 'eventsByKeys' | 'retentionMs'>, id: string, o: TraceOptions): Promise<CallGraph | undefined> {
  const maxEvents = o.maxEvents ?? DEFAULT_TRACE_MAX_EVENTS;
  const nowUs = o.nowMs * 1000;
  // Stored UUIDs are FreeSWITCH's shape (events/schemas.ts FsUuid) and routing.lua's decision
  // ids never are (their third part has 5 digits): ask only the columns the id can be in.
  const uuidShaped = FS_UUID.test(id);
  const seedKeys: Required<CallKeys> = { ...NO_KEYS, uuids: uuidShaped ? [id] : [], callIds: [id], decisions: uuidShaped ? [] : [id] };
  const seed = await store.eventsByKeys(seedKeys, { fromUs: nowUs - store.retentionMs * 1000, toUs: nowUs + DAY_US }, maxEvents);
  if (seed.length === 0) return undefined;
  // A Call-ID a phone used again days later: the newest use is the call asked for.
  const newest = Math.max(...seed.map((e) => e.atUs));
  const spanUs = (o.spanMs ?? DEFAULT_TRACE_SPAN_MS) * 1000;
  const window: TimeWindow = { fromUs: newest - spanUs, toUs: newest + spanUs };
  const found = new Map<string, CallEvent>();
  const take = (evs: readonly CallEvent[]) => {
    for (const e of evs) if (e.atUs >= window.fromUs && e.atUs <= window.toUs) found.set(e.id, e);
  };
  take(seed);
  let seen = seedKeys;
  let truncated = seed.length >= maxEvents;
  for (let round = 0; round < (o.maxRounds ?? DEFAULT_MAX_ROUNDS) && !truncated; round++) {
    const next = newKeys(callKeysOf([...found.values()]), seen);
    if (keyCount(next) === 0) break;
    seen = mergeKeys(seen, next);
    const budget = maxEvents - found.size;
    const got = await store.eventsByKeys(next, window, budget + 1);
    take(got);
    if (got.length > budget || found.size >= maxEvents) truncated = true;
  }
  const graph = buildCallGraph([...found.values()], { openEndUs: nowUs, truncated });
  return componentOf(graph, id, [...found.values()], nowUs, truncated);
}

/** The part of `graph` connected to the legs and decisions the id names. */
function componentOf(graph: CallGraph, id: string, events: readonly CallEvent[], nowUs: number, truncated: boolean): CallGraph {
  const adjacent = new Map<string, Set<string>>();
  const link = (a: string, b: string) => {
    adjacent.set(a, (adjacent.get(a) ?? new Set()).add(b));
    adjacent.set(b, (adjacent.get(b) ?? new Set()).add(a));
  };
  for (const j of graph.joins) link(`leg:${j.a}`, `leg:${j.b}`);
  for (const d of graph.decisions) for (const l of d.legs) link(`decision:${d.id}`, `leg:${l}`);
  const start = [
    ...graph.legs.filter((l) => l.uuid === id || l.callId === id || l.decision === id || l.otherLegs.includes(id) || l.callUuids.includes(id)).map((l) => `leg:${l.uuid}`),
    ...graph.decisions.filter((d) => d.id === id || d.callId === id).map((d) => `decision:${d.id}`),
  ];
  const reached = new Set(start);
  const queue = [...start];
  for (let v = queue.shift(); v !== undefined; v = queue.shift()) {
    for (const w of adjacent.get(v) ?? []) {
      if (!reached.has(w)) {
        reached.add(w);
        queue.push(w);
      }
    }
  }
  const legs = new Set(graph.legs.filter((l) => reached.has(`leg:${l.uuid}`)).map((l) => l.uuid));
  const decisions = new Set(graph.decisions.filter((d) => reached.has(`decision:${d.id}`)).map((d) => d.id));
  const kept = events.filter((e) => (e.source === 'node' ? e.uuid !== undefined && legs.has(e.uuid) : e.decision !== undefined && decisions.has(e.decision)));
  return buildCallGraph(kept, { openEndUs: nowUs, truncated });
}
