import type { Logger } from 'pino';
import { channelCallEvent, routeCallEvent } from '../core/callEvents.js';
import { decodeNodeChannel } from '../events/codec.js';
import { decodeDecisionMessage } from '../events/routeDecisions.js';
import type { Subjects } from '../events/subjects.js';
import type { Metrics } from '../metrics/metrics.js';
import type { CallEvent, CallStore } from '../ports/callStore.js';

/**
 * One batch of messages from the calls stream into the call store (issue 8): each message
 * decoded at the edge (a node's channel event, a Kamailio's batch of routing decisions),
 * mapped, and written in one append. Acknowledged only once written; a write that fails is
 * handed back (nak, redelivered after a delay) so nothing is lost while Postgres is away; a
 * malformed message is terminated (never redelivered), counted and logged. Writes are
 * idempotent (event ids), so a redelivery after a lost ack is a counted duplicate.
 */
export interface IngestMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** When the stream stored it, ns since the epoch (the ingest lag is measured from it). */
  readonly storedAtNs?: bigint;
  ack(): void;
  nak(delayMs: number): void;
  term(reason: string): void;
}

export interface IngestDeps {
  readonly subjects: Subjects;
  readonly store: Pick<CallStore, 'append'>;
  readonly metrics: Pick<Metrics, 'callEvents' | 'callEventFieldsCut' | 'callIngestLag' | 'callIngestBatches'>;
  readonly logger: Logger;
  /** How long a message whose write failed waits before it is delivered again. */
  readonly retryDelayMs: number;
  readonly now?: () => number;
}

export type BatchOutcome = { readonly written: true; readonly events: number } | { readonly written: false; readonly error: unknown };

/** The events one message carries, or why it is refused. */
function eventsOf(subjects: Subjects, m: IngestMessage): { ok: true; events: CallEvent[] } | { ok: false; reason: string; detail: string } {
  if (subjects.parseChannelSubject(m.subject) !== undefined) {
    const d = decodeNodeChannel(subjects, m.subject, m.data);
    return d.ok ? { ok: true, events: [channelCallEvent(d.value)] } : d;
  }
  const d = decodeDecisionMessage(subjects, m.subject, m.data);
  return d.ok ? { ok: true, events: d.attempts.map((a) => routeCallEvent(d.kamailioId, a)) } : d;
}

/**
 * The callId and uuid a refused message claims, for its log line (a log store joins on them);
 * untrusted, so only short strings, and nothing when it is not JSON or too large to read.
 */
function claimedIds(data: Uint8Array): { callId?: string; uuid?: string } {
  if (data.byteLength > 64 * 1024) return {};
  try {
    const v = JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>;
    const short = (x: unknown) => (typeof x === 'string' && x.length <= 256 ? x : undefined);
    const callId = short(v.callId);
    const uuid = short(v.uuid);
    return { ...(callId !== undefined ? { callId } : {}), ...(uuid !== undefined ? { uuid } : {}) };
  } catch {
    return {};
  }
}

/** A batch decoded: the messages whose events are to be written, and the events. */
export interface PreparedBatch {
  readonly taken: readonly IngestMessage[];
  readonly events: readonly CallEvent[];
}

/** Decodes a batch at the edge; a refused message is terminated, counted and logged here. */
export function prepareCallBatch(batch: readonly IngestMessage[], deps: Pick<IngestDeps, 'subjects' | 'metrics' | 'logger'>): PreparedBatch {
  const taken: IngestMessage[] = [];
  const events: CallEvent[] = [];
  for (const m of batch) {
    const r = eventsOf(deps.subjects, m);
    if (!r.ok) {
      deps.metrics.callEvents.inc({ outcome: `rejected-${r.reason}` });
      deps.logger.warn({ subject: m.subject.slice(0, 200), reason: r.reason, detail: r.detail, ...claimedIds(m.data) }, 'call event refused');
      m.term(r.reason);
      continue;
    }
    taken.push(m);
    events.push(...r.events);
  }
  return { taken, events };
}

/** Writes a prepared batch in one append, then acknowledges its messages (or hands them back). */
export async function writeCallBatch({ taken, events }: PreparedBatch, deps: IngestDeps): Promise<BatchOutcome> {
  const { metrics, logger } = deps;
  const now = deps.now ?? Date.now;
  if (events.length === 0) return { written: true, events: 0 };
  let outcome;
  try {
    outcome = await deps.store.append(events);
  } catch (err) {
    metrics.callIngestBatches.inc({ outcome: 'error' });
    logger.error({ err, messages: taken.length, events: events.length }, 'call events could not be written; they are delivered again');
    for (const m of taken) m.nak(deps.retryDelayMs);
    return { written: false, error: err };
  }
  metrics.callIngestBatches.inc({ outcome: 'ok' });
  metrics.callEvents.inc({ outcome: 'inserted' }, outcome.inserted);
  if (outcome.duplicates > 0) metrics.callEvents.inc({ outcome: 'duplicate' }, outcome.duplicates);
  if (outcome.outOfWindow > 0) {
    metrics.callEvents.inc({ outcome: 'out-of-window' }, outcome.outOfWindow);
    logger.warn({ events: outcome.outOfWindow }, 'call events outside the kept time (older than retention or over a day ahead: a wrong clock?) not written');
  }
  for (const [how, counts] of [['truncated', outcome.truncated], ['replaced', outcome.replaced]] as const) {
    for (const [field, n] of Object.entries(counts)) if (n > 0) metrics.callEventFieldsCut.inc({ field, how }, n);
  }
  const nowNs = BigInt(now()) * 1_000_000n;
  for (const m of taken) {
    m.ack();
    if (m.storedAtNs !== undefined && m.storedAtNs <= nowNs) metrics.callIngestLag.observe(Number(nowNs - m.storedAtNs) / 1e9);
  }
  return { written: true, events: events.length };
}

/** Decodes and writes one batch. */
export async function ingestCallBatch(batch: readonly IngestMessage[], deps: IngestDeps): Promise<BatchOutcome> {
  return writeCallBatch(prepareCallBatch(batch, deps), deps);
}
