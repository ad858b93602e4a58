import {
  InvalidCursorError,
  type CallEvent,
  type CallKeys,
  type CallStore,
  type CallSummary,
  type PartitionOutcome,
  type RecentFilter,
  type RecentPage,
  type TimeWindow,
  type WriteOutcome,
} from '../../src/ports/callStore.js';
import { withoutUndefined } from '../../src/core/callEvents.js';

const DAY_MS = 86_400_000;

/**
 * The call store in memory, for unit tests of what sits on the CallStore port (the HTTP
 * routes, the trace, the ingest). Same answers as postgres/callStore.ts for what it models:
 * duplicates by id, the window of kept time, eventsByKeys' order and bound, recent() paging.
 * It does not cut over-long fields (the adapter's bounds are the adapter's).
 */
export class InMemoryCallStore implements CallStore {
  readonly events = new Map<string, CallEvent>();
  readonly retentionMs: number;
  private readonly now: () => number;
  /** Fails every call with this error while set (a store that is down). */
  failWith: Error | undefined;

  constructor(opts: { retentionMs?: number; now?: () => number } = {}) {
    this.retentionMs = opts.retentionMs ?? 7 * DAY_MS;
    this.now = opts.now ?? Date.now;
  }

  append(events: readonly CallEvent[]): Promise<WriteOutcome> {
    if (this.failWith) return Promise.reject(this.failWith);
    let inserted = 0;
    let duplicates = 0;
    let outOfWindow = 0;
    const nowUs = this.now() * 1000;
    for (const e of events) {
      if (e.atUs < nowUs - this.retentionMs * 1000 || e.atUs > nowUs + DAY_MS * 1000) {
        outOfWindow++;
        continue;
      }
      if (this.events.has(e.id)) duplicates++;
      else {
        this.events.set(e.id, e);
        inserted++;
      }
    }
    return Promise.resolve({ inserted, duplicates, truncated: {}, replaced: {}, outOfWindow });
  }

  eventsByKeys(keys: CallKeys, window: TimeWindow, limit: number): Promise<CallEvent[]> {
    if (this.failWith) return Promise.reject(this.failWith);
    const has = (list: readonly string[] | undefined, v: string | undefined) => v !== undefined && (list ?? []).includes(v);
    const matches = (e: CallEvent) =>
      has(keys.uuids, e.uuid) ||
      has(keys.uuids, e.otherLeg) ||
      has(keys.uuids, e.callUuid) ||
      has(keys.callIds, e.callId) ||
      has(keys.decisions, e.decision) ||
      has(keys.links, e.link) ||
      has(keys.rooms, e.room);
    const found = [...this.events.values()]
      .filter((e) => e.atUs >= window.fromUs && e.atUs <= window.toUs && matches(e))
      .sort((a, b) => a.atUs - b.atUs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return Promise.resolve(found.slice(0, limit));
  }

  recent(f: RecentFilter): Promise<RecentPage> {
    if (this.failWith) return Promise.reject(this.failWith);
    let after: { atUs: number; uuid: string } | undefined;
    if (f.cursor !== undefined) {
      const m = /^(\d+)_([0-9a-f-]{36})$/.exec(f.cursor);
      if (!m) return Promise.reject(new InvalidCursorError('not one this store made'));
      after = { atUs: Number(m[1]), uuid: m[2]! };
    }
    const legs = new Map<string, CallEvent[]>();
    for (const e of this.events.values()) if (e.source === 'node' && e.uuid !== undefined) legs.set(e.uuid, [...(legs.get(e.uuid) ?? []), e]);
    const summaries: CallSummary[] = [];
    for (const [uuid, evs] of legs) {
      const create = evs.find((e) => e.event === 'create');
      if (!create) continue;
      const answer = evs.find((e) => e.event === 'answer');
      const hangup = evs.find((e) => e.event === 'hangup');
      const last = <K extends keyof CallEvent>(k: K) => [create, answer, hangup].reduce<CallEvent[K] | undefined>((v, e) => e?.[k] ?? v, undefined);
      const s = {
        uuid,
        nodeId: create.nodeId ?? '',
        direction: create.direction,
        callId: last('callId'),
        caller: create.caller,
        callee: create.callee,
        room: last('room'),
        decision: last('decision'),
        startedAtUs: create.atUs,
        answeredAtUs: answer?.atUs,
        endedAtUs: hangup?.atUs,
        cause: hangup?.cause,
      };
      summaries.push(withoutUndefined<CallSummary>(s));
    }
    const kept = summaries
      .filter((s) => f.nodeId === undefined || s.nodeId === f.nodeId)
      .filter((s) => f.room === undefined || s.room === f.room)
      .filter((s) => f.fromUs === undefined || s.startedAtUs >= f.fromUs)
      .filter((s) => f.toUs === undefined || s.startedAtUs <= f.toUs)
      .filter((s) => f.cause === undefined || s.cause === f.cause)
      .sort((a, b) => b.startedAtUs - a.startedAtUs || (a.uuid < b.uuid ? 1 : -1))
      .filter((s) => after === undefined || s.startedAtUs < after.atUs || (s.startedAtUs === after.atUs && s.uuid < after.uuid));
    const page = kept.slice(0, f.limit);
    const lastLeg = page[page.length - 1];
    return Promise.resolve(kept.length > f.limit && lastLeg ? { legs: page, next: `${lastLeg.startedAtUs}_${lastLeg.uuid}` } : { legs: page });
  }

  maintainPartitions(): Promise<PartitionOutcome> {
    return Promise.resolve({ created: [], dropped: [] });
  }
}
