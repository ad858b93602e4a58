import type { ChannelEvent } from '../events/calls.js';
import type { DECISION_KINDS, DECISION_PINS } from '../events/routeDecisions.js';

/**
 * Every call event the control plane took from the calls stream (issue 8, call correlation),
 * durable and queryable: one row per channel event of a node (create, answer, bridge,
 * hangup) and one per attempt of a Kamailio routing decision. Adapter:
 * postgres/callStore.ts (partitioned by day); fake: test/fakes/inMemoryCallStore.ts, held to
 * the same contract (test/support/callStoreContract.ts).
 *
 * The store only keeps and finds events; what a call is (its legs, how they link) is worked out
 * by the pure core (src/core/callGraph.ts) from the events `eventsByKeys` answers.
 */

export type DecisionKind = (typeof DECISION_KINDS)[number];
export type DecisionPin = (typeof DECISION_PINS)[number];

/** What one attempt of a Kamailio routing decision said (source `kamailio`). */
export interface RouteDetail {
  readonly attempt: number;
  readonly kind: DecisionKind;
  readonly pin: DecisionPin;
  /** The room key (room, scoped by domain, or a cascade shard key). */
  readonly key?: string;
  readonly set?: number;
  readonly alg?: number;
  /** The destination chosen (absent for a refusal). */
  readonly dst?: string;
  /** A reply Kamailio sent the caller itself (no destination, a refusal, the last failure). */
  readonly result?: number;
  /** The reply that made Kamailio try this attempt (failover); absent on attempt 1. */
  readonly afterStatus?: number;
  /** That reply was Kamailio's own timeout (no answer), not a node's. */
  readonly afterTimeout?: boolean;
}

export interface CallEvent {
  /**
   * Unique per event, the same for a re-sent copy (at-least-once delivery): a node's
   * `<nodeId>:<uuid>:<event>:<atUs>`, a Kamailio's `<decision>:<attempt>`. Writing an id again
   * is a duplicate, not a second row.
   */
  readonly id: string;
  /** When it happened on its source's clock, µs since the epoch. */
  readonly atUs: number;
  readonly source: 'node' | 'kamailio';
  /** A channel event, or `route` for a routing decision's attempt. */
  readonly event: ChannelEvent | 'route';
  readonly nodeId?: string;
  readonly kamailioId?: string;
  /** FreeSWITCH Unique-ID (node events). */
  readonly uuid?: string;
  /** SIP Call-ID. */
  readonly callId?: string;
  /** Other-Leg-Unique-ID. */
  readonly otherLeg?: string;
  /** Channel-Call-UUID. */
  readonly callUuid?: string;
  readonly direction?: 'inbound' | 'outbound';
  readonly caller?: string;
  readonly callee?: string;
  readonly room?: string;
  readonly memberId?: number;
  /** Kamailio's routing decision id (X-SBC-Decision on the leg; the decision itself on a route event). */
  readonly decision?: string;
  /** The cascade link this leg carries (X-SBC-Cascade), or the link a route decision relayed. */
  readonly link?: string;
  /** Hangup-Cause (hangup events). */
  readonly cause?: string;
  /** variable_sip_term_status (hangup events). */
  readonly sipStatus?: number;
  readonly route?: RouteDetail;
}

/** What one append did. Nothing is refused whole: an over-long field is cut, and counted. */
export interface WriteOutcome {
  /** New rows. */
  readonly inserted: number;
  /** Events whose id the store already held (re-sent copies). */
  readonly duplicates: number;
  /** Fields cut to the store's bounds, by field name. */
  readonly truncated: Readonly<Record<string, number>>;
  /** Fields that held characters Postgres text cannot (NUL), replaced by U+FFFD. */
  readonly replaced: Readonly<Record<string, number>>;
  /** Events outside the time the store keeps (older than retention, or more than a day ahead): not written. */
  readonly outOfWindow: number;
}

/** The identifiers that tie events into one call; an event matches if any of its fields is in its set. */
export interface CallKeys {
  /** Matched against uuid, otherLeg and callUuid. */
  readonly uuids?: readonly string[];
  readonly callIds?: readonly string[];
  readonly decisions?: readonly string[];
  readonly links?: readonly string[];
  readonly rooms?: readonly string[];
}

/** Inclusive bounds, µs since the epoch. */
export interface TimeWindow {
  readonly fromUs: number;
  readonly toUs: number;
}

/** One leg (a FreeSWITCH channel) in a list of recent calls. */
export interface CallSummary {
  readonly uuid: string;
  readonly nodeId: string;
  readonly direction?: 'inbound' | 'outbound';
  readonly callId?: string;
  readonly caller?: string;
  readonly callee?: string;
  readonly room?: string;
  readonly decision?: string;
  /** The leg's create event (its first event when create was not seen). */
  readonly startedAtUs: number;
  readonly answeredAtUs?: number;
  readonly endedAtUs?: number;
  readonly cause?: string;
}

export interface RecentFilter {
  readonly nodeId?: string;
  readonly room?: string;
  /** Legs that started at or after. */
  readonly fromUs?: number;
  /** Legs that started at or before. */
  readonly toUs?: number;
  /** Legs that ended with this Hangup-Cause. */
  readonly cause?: string;
  /** 1..1000. */
  readonly limit: number;
  /** The `next` of the previous page. */
  readonly cursor?: string;
}

export interface RecentPage {
  /** Newest first (by start, then uuid). */
  readonly legs: readonly CallSummary[];
  /** Present when more legs match: pass it as `cursor` for the next page. */
  readonly next?: string;
}

export interface PartitionOutcome {
  /** Partitions made (names), for the days from yesterday to `daysAhead` after today. */
  readonly created: readonly string[];
  /** Whole partitions dropped, all of whose days are older than retention. */
  readonly dropped: readonly string[];
}

export interface CallStore {
  /** Writes events in one batch, idempotently (a known id is a duplicate). */
  append(events: readonly CallEvent[]): Promise<WriteOutcome>;
  /** Every event within the window that matches any key, oldest first, at most `limit`. */
  eventsByKeys(keys: CallKeys, window: TimeWindow, limit: number): Promise<CallEvent[]>;
  recent(filter: RecentFilter): Promise<RecentPage>;
  /** Makes the days to come and drops expired days (the call-partitions reconcile step). */
  maintainPartitions(nowMs: number): Promise<PartitionOutcome>;
  /** How far back the store keeps events, ms. */
  readonly retentionMs: number;
}

/** A cursor that is not one this store made (HTTP 400). */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
  constructor(detail: string) {
    super(`invalid cursor: ${detail}`);
  }
}

/** The store failed (Postgres unreachable, a query refused); `cause` holds the driver's error. */
export class CallStoreError extends Error {
  override readonly name = 'CallStoreError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
