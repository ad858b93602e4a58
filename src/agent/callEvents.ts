import type { Logger } from 'pino';
import { channelEventId, encodeChecked, type NodeChannel, type Subjects } from '../events/index.js';
import { readJsAnswer, type JetStreamRequests } from '../nats/callsStream.js';


/** The stream's answer to one publish. */
export interface PubAck {
  readonly stream: string;
  readonly seq: number;
  /** The stream had this message id already (a re-send within the duplicate window): not stored again. */
  readonly duplicate: boolean;
}

/** Publish with ack: resolves with the PubAck, rejects on no answer, a timeout, or an error answer. */
export interface AckedPublisher {
  publish(subject: string, data: Uint8Array, msgId: string, timeoutMs: number): Promise<PubAck>;
}

/**
 * JetStream's publish: a request to the stream's subject with `Nats-Msg-Id`; the server answers
 * a PubAck on the request's inbox. No stream yet: the server answers "no responders" (the request
 * rejects), so the event stays buffered until the control plane has created it.
 */
export function jetStreamPublisher(js: JetStreamRequests): AckedPublisher {
  return {
    async publish(subject, data, msgId, timeoutMs) {
      const answer = readJsAnswer(subject, await js.request(subject, data, { timeoutMs, headers: { 'Nats-Msg-Id': msgId } }));
      if (typeof answer.stream !== 'string' || typeof answer.seq !== 'number') throw new Error(`${subject}: not a PubAck`);
      return { stream: answer.stream, seq: answer.seq, duplicate: answer.duplicate === true };
    },
  };
}

export interface CallEventOptions {
  /** Messages held while the stream is unavailable (SBC_CALL_EVENT_BUFFER); the oldest are dropped beyond it. */
  readonly bufferSize: number;
  /** Publishes awaiting their PubAck at once (SBC_CALL_EVENT_IN_FLIGHT). */
  readonly maxInFlight: number;
  /** Bound on one publish's PubAck (SBC_CALL_EVENT_ACK_TIMEOUT_MS). */
  readonly ackTimeoutMs: number;
  /** Backoff after a failed publish, doubling up to the maximum. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
}

export interface CallEventCounts {
  /** Messages taken into the buffer. */
  readonly published: number;
  /** PubAcks received (duplicates included). */
  readonly acked: number;
  /** PubAcks that said the stream had the message already. */
  readonly duplicates: number;
  /** Publishes sent again after a failure. */
  readonly retried: number;
  /** Oldest messages dropped because the buffer was full. */
  readonly dropped: number;
  /** Messages that failed schema validation and were not sent (a bug if ever non-zero). */
  readonly refused: number;
  /** Held now, acked not yet (in flight included). */
  readonly buffered: number;
  readonly inFlight: number;
}

interface Entry {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly msgId: string;
  readonly log: Logger;
  sending: boolean;
  sentOnce: boolean;
  done: boolean;
}

/**
 * The agent's durable path for call events: each message goes into a bounded, ordered buffer and
 * stays there until the stream acknowledged it. Up to maxInFlight publishes are awaited at once
 * (pipelined); a publish that fails (no stream, NATS away, no ack in time) stops new sends until
 * those in flight settle, then, after a backoff, everything still held is sent again oldest first.
 * The message id `<nodeId>:<seq>` makes a re-send of a message the stream did store (its ack was
 * lost) harmless within the stream's duplicate window. A full buffer drops its oldest messages:
 * counted, and logged once per outage with the count, never once per message.
 *
 * Stream order follows seq except around a failure: a message sent after one that failed may be
 * stored first. Readers order one node's events by seq.
 */
export class CallEventPublisher {
  private readonly queue: Entry[] = [];
  private inFlight = 0;
  /** flowing: pipelined sends; failing: waiting for those in flight, then a backoff; probing: the oldest re-sent alone. */
  private mode: 'flowing' | 'failing' | 'probing' = 'flowing';
  private backoffMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private droppedThisOutage = 0;
  private readonly counters = { published: 0, acked: 0, duplicates: 0, retried: 0, dropped: 0, refused: 0 };
  private idleWaiters: Array<() => void> = [];
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;

  constructor(
    private readonly publisher: AckedPublisher,
    private readonly subjects: Subjects,
    private readonly opts: CallEventOptions,
    private readonly log: Logger,
  ) {
    if (opts.maxInFlight < 1 || opts.bufferSize < opts.maxInFlight) throw new Error('call events: need 1 <= maxInFlight <= bufferSize');
    this.retryMinMs = opts.retryMinMs ?? 250;
    this.retryMaxMs = opts.retryMaxMs ?? 5000;
    this.backoffMs = this.retryMinMs;
  }

  counts(): CallEventCounts {
    return { ...this.counters, buffered: this.queue.length, inFlight: this.inFlight };
  }

  /** Validates, buffers and (when the stream is reachable) sends one channel event. False when refused. */
  publish(msg: NodeChannel): boolean {
    const log = this.log.child({ nodeId: msg.nodeId, callId: msg.callId, uuid: msg.uuid });
    const checked = encodeChecked('channel', msg);
    if (!checked.ok) {
      this.counters.refused += 1;
      log.error({ kind: 'channel', detail: checked.detail, message: msg }, 'refusing to publish an invalid message');
      return false;
    }
    if (this.closed) return false;
    this.queue.push({ subject: this.subjects.channel(msg.nodeId), data: checked.data, msgId: channelEventId(msg), log, sending: false, sentOnce: false, done: false });
    this.counters.published += 1;
    log.debug({ seq: msg.seq, event: msg.event }, 'channel event queued');
    this.dropOverflow();
    this.pump();
    return true;
  }

  /** Resolves true once every held message was acknowledged, false at the timeout (or when closed with some held). */
  async flush(timeoutMs: number): Promise<boolean> {
    if (this.queue.length === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([idle, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops sending (what is held is lost; flush first). */
  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.queue.length > 0) this.log.warn({ held: this.queue.length }, 'call events not acknowledged at shutdown: lost');
  }

  private dropOverflow(): void {
    let dropped = 0;
    // The oldest not in flight go first; an in-flight one may be stored already.
    while (this.queue.length > this.opts.bufferSize) {
      const at = this.queue.findIndex((e) => !e.sending);
      if (at < 0) break;
      const [entry] = this.queue.splice(at, 1);
      if (entry) entry.done = true;
      dropped += 1;
    }
    if (dropped === 0) return;
    this.counters.dropped += dropped;
    if (this.droppedThisOutage === 0) {
      this.log.warn({ bufferSize: this.opts.bufferSize, dropped: this.counters.dropped }, 'call event buffer full: dropping the oldest events until the stream is back');
    }
    this.droppedThisOutage += dropped;
  }

  private pump(): void {
    if (this.closed || this.mode !== 'flowing') return;
    for (const entry of this.queue) {
      if (this.inFlight >= this.opts.maxInFlight) return;
      if (!entry.sending) this.send(entry);
    }
  }

  private send(entry: Entry): void {
    entry.sending = true;
    this.inFlight += 1;
    if (entry.sentOnce) this.counters.retried += 1;
    entry.sentOnce = true;
    this.publisher
      .publish(entry.subject, entry.data, entry.msgId, this.opts.ackTimeoutMs)
      .then(
        (ack) => this.onAck(entry, ack),
        (err: unknown) => this.onFailure(err, entry),
      )
      .catch((err: unknown) => this.log.error({ err }, 'call event bookkeeping failed'));
  }

  private onAck(entry: Entry, ack: PubAck): void {
    this.inFlight -= 1;
    entry.sending = false;
    if (!entry.done) {
      entry.done = true;
      const at = this.queue.indexOf(entry);
      if (at >= 0) this.queue.splice(at, 1);
    }
    this.counters.acked += 1;
    if (ack.duplicate) this.counters.duplicates += 1;
    entry.log.debug({ msgId: entry.msgId, streamSeq: ack.seq, duplicate: ack.duplicate }, 'channel event stored');
    if (this.mode === 'probing') {
      this.mode = 'flowing';
      this.log.info({ dropped: this.droppedThisOutage, held: this.queue.length }, 'call events reach the stream again; sending what was held');
      this.backoffMs = this.retryMinMs;
      this.droppedThisOutage = 0;
    } else if (this.mode === 'failing' && this.inFlight === 0) {
      this.scheduleRetry();
    }
    this.pump();
    this.notifyIdle();
  }

  private onFailure(err: unknown, entry: Entry): void {
    this.inFlight -= 1;
    entry.sending = false;
    if (this.mode === 'flowing') {
      this.log.warn({ err: err instanceof Error ? err.message : String(err), held: this.queue.length }, 'call events cannot reach the stream; holding them');
    }
    this.mode = 'failing';
    if (this.inFlight === 0) this.scheduleRetry();
  }

  /** Once nothing is in flight: after the backoff, the oldest held message goes alone; its answer says whether the stream is back. */
  private scheduleRetry(): void {
    if (this.closed || this.retryTimer !== undefined) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.retryMaxMs, this.backoffMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed) return;
      const head = this.queue.find((e) => !e.sending);
      if (!head) {
        this.mode = 'flowing';
        return;
      }
      this.mode = 'probing';
      this.send(head);
    }, delay);
    this.retryTimer.unref();
  }

  private notifyIdle(): void {
    if (this.queue.length > 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
