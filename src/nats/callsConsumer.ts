import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, JetStreamApiError, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { prepareCallBatch, writeCallBatch, type IngestDeps, type IngestMessage } from '../calls/callIngest.js';
import { callsStreamName, ensureCallsStream, natsJetStreamRequests, type CallsStreamOptions } from './callsStream.js';

/**
 * The control plane's side of the calls stream: one durable pull consumer that every replica
 * shares (JetStream hands each message to one of them), read in batches of up to `batchMax`
 * messages or `batchDelayMs` after the first, each batch written to the call store in one
 * append (src/calls/callIngest.ts). At most `maxAckPending` messages are out unacknowledged,
 * which bounds memory while Postgres is slow; a message not acknowledged within `ackWaitMs`
 * (a replica that died mid-batch) goes to another replica.
 */
export const CALLS_INGEST_CONSUMER = 'sbc-calls-ingest';

export interface CallsConsumerOptions extends Omit<IngestDeps, 'logger'> {
  readonly nats: NatsConnection;
  readonly prefix: string;
  readonly logger: Logger;
  readonly batchMax: number;
  readonly batchDelayMs: number;
  readonly ackWaitMs: number;
  readonly maxAckPending: number;
  readonly stream?: CallsStreamOptions;
}

export interface CallsConsumer {
  stop(): Promise<void>;
}

const NS_PER_MS = 1_000_000;
/** Appends to Postgres at once (the pool holds 4 clients: the reconciler and the API keep theirs). */
const WRITES_IN_FLIGHT = 2;

function ingestMessage(m: JsMsg): IngestMessage {
  return {
    subject: m.subject,
    data: m.data,
    storedAtNs: m.timestampNanos,
    ack: () => m.ack(),
    nak: (delayMs) => m.nak(delayMs),
    term: (reason) => m.term(reason),
  };
}

/** Ensures the stream and the durable consumer (idempotent: every replica does it), then consumes until stopped. */
export async function startCallsConsumer(o: CallsConsumerOptions): Promise<CallsConsumer> {
  await ensureCallsStream(natsJetStreamRequests(o.nats), o.prefix, o.stream);
  const stream = callsStreamName(o.prefix);
  const jsm = await jetstreamManager(o.nats);
  const config = {
    durable_name: CALLS_INGEST_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: o.ackWaitMs * NS_PER_MS,
    max_ack_pending: o.maxAckPending,
    // Each replica asks for a batch at a time; more than this many outstanding pulls is a bug.
    max_waiting: 512,
  };
  try {
    await jsm.consumers.info(stream, CALLS_INGEST_CONSUMER);
    await jsm.consumers.update(stream, CALLS_INGEST_CONSUMER, { ack_wait: config.ack_wait, max_ack_pending: config.max_ack_pending });
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.status !== 404) throw err;
    await jsm.consumers.add(stream, config);
  }
  const consumer = await jetstream(o.nats).consumers.get(stream, CALLS_INGEST_CONSUMER);
  const messages: ConsumerMessages = await consumer.consume({ max_messages: Math.min(o.maxAckPending, 2 * o.batchMax) });

  let buffer: IngestMessage[] = [];
  let timer: NodeJS.Timeout | undefined;
  // Decoding (this thread) overlaps Postgres writing the batches before it (Postgres'
  // process): up to WRITES_IN_FLIGHT appends at once, each batch decoded as it is cut.
  const writes = new Set<Promise<unknown>>();
  const flush = async (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = buffer;
    buffer = [];
    if (batch.length === 0) return;
    const prepared = prepareCallBatch(batch, o);
    while (writes.size >= WRITES_IN_FLIGHT) await Promise.race(writes);
    const w = writeCallBatch(prepared, o).finally(() => writes.delete(w));
    writes.add(w);
  };
  const loop = (async () => {
    for await (const m of messages) {
      buffer.push(ingestMessage(m));
      if (buffer.length >= o.batchMax) await flush();
      else timer ??= setTimeout(() => void flush().catch((err: unknown) => o.logger.error({ err }, 'call event batch failed')), o.batchDelayMs);
    }
  })().catch((err: unknown) => o.logger.error({ err }, 'calls stream consumer stopped'));
  o.logger.info({ stream, consumer: CALLS_INGEST_CONSUMER }, 'consuming call events');

  return {
    async stop() {
      await messages.close().catch(() => undefined);
      await loop;
      // What was taken is written (or handed back) before the store closes.
      await flush();
      await Promise.allSettled([...writes]);
    },
  };
}
