import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream } from '@nats-io/jetstream';
import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import pg from 'pg';
import pino from 'pino';
import { channelEventId, type NodeChannel } from '../src/events/calls.js';
import { encodeMessage } from '../src/events/codec.js';
import { subjects } from '../src/events/subjects.js';
import { createMetrics } from '../src/metrics/metrics.js';
import { startCallsConsumer, type CallsConsumer } from '../src/nats/callsConsumer.js';
import { ensureCallsStream, natsJetStreamRequests } from '../src/nats/callsStream.js';
import { PgCallStore } from '../src/postgres/callStore.js';
import { migrate } from '../src/postgres/migrations.js';
import { createPostgresDatabase, startNats } from '../test/support/services.js';
import { distribution, distributionLine, line, verdict } from './figures.js';
import { runBench } from './run.js';

/**
 * Call event ingest: agents' channel events from the calls JetStream stream into Postgres
 * through the control plane's consumer (src/nats/callsConsumer.ts, the same code and default
 * settings: batches of 1,000 or 20 ms, PgCallStore's one-statement insert).
 *
 * 1. Capacity: N events put into the stream with the consumer stopped (as after an outage),
 *    then the consumer started: events per second until the last row is written.
 * 2. Lag at the target rate: the consumer running, events published at TARGET/s for
 *    LIVE_SECONDS: every one must be stored, and the lag from publish to queryable (the row's
 *    received_at, Postgres' now() of the insert, minus the event's time, which is its publish
 *    time) is reported as p50/p99.
 * Publisher, consumer, nats-server and Postgres share this machine's cores.
 */
const TARGET = 20_000;
const CAPACITY_EVENTS = Number(process.env.BENCH_INGEST_EVENTS ?? 300_000);
const LIVE_SECONDS = Number(process.env.BENCH_INGEST_LIVE_SECONDS ?? 15);
const PREFIX = 'bench';
const NODES = 20;
const node = (i: number) => `f${String(i).padStart(7, '0')}-0000-4000-8000-000000000000`;
const uuid = (n: number) => {
  const h = n.toString(16).padStart(12, '0');
  return `a${h.slice(0, 7)}-0000-4000-8000-${h}`;
};
const EVENTS = ['create', 'answer', 'hangup'] as const;

/** Event `n`: leg n/3, its create, answer or hangup, on one of NODES nodes, stamped with its publish time. */
function eventMsg(n: number, atUs: number): NodeChannel {
  const leg = Math.floor(n / 3);
  const event = EVENTS[n % 3]!;
  const nodeId = node(leg % NODES);
  return {
    v: 1, nodeId, seq: n, sentAt: Math.floor(atUs / 1000), event, atUs, uuid: uuid(leg), direction: 'inbound',
    callId: `${leg}-bench@192.0.2.1`, caller: `10${leg % 1000}`, callee: '9000', decision: `kam-a-${leg.toString(16)}-00001-1-001`,
    ...(event === 'hangup' ? { cause: 'NORMAL_CLEARING', sipStatus: 200 } : {}),
  };
}

await runBench('calls-ingest', 8 * 60_000, async (cleanup) => {
  process.env.TEST_NO_DOCKER ??= '1';
  const nats = await startNats({ ownProcessGroup: true });
  cleanup.push('nats-server', () => nats.stop());
  const db = await createPostgresDatabase();
  cleanup.push('postgres database', () => db.stop());
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  cleanup.push('postgres pool', () => pool.end());
  await migrate(pool);
  const store = new PgCallStore(pool, { retentionMs: 7 * 86_400_000 });
  await store.maintainPartitions(Date.now());
  const nc = await connect({ servers: nats.url });
  cleanup.push('nats connection', () => nc.close());
  await ensureCallsStream(natsJetStreamRequests(nc), PREFIX);
  const js = jetstream(nc);
  const s = subjects(PREFIX);
  const metrics = createMetrics();
  const logger = pino({ level: 'warn' });

  console.log(`setup: private nats-server (JetStream, file storage) and Postgres database on loopback; the control plane's calls consumer and PgCallStore in this process, defaults (batch 1,000 / 20 ms, max ack pending 20,000)`);
  console.log(`method: channel events of ${NODES} nodes (create, answer, hangup per leg), each published with its Nats-Msg-Id and awaited PubAck (up to 4,000 in flight)`);

  let next = 0;
  /** Publishes events [from, to) as fast as acks allow, pipelined. */
  const publishRange = async (count: number, pace?: { perSecond: number }) => {
    const inflight = new Set<Promise<unknown>>();
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      if (pace) {
        const due = t0 + (i * 1000) / pace.perSecond;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
      }
      const n = next++;
      const msg = eventMsg(n, Date.now() * 1000 + (n % 1000));
      const h = natsHeaders();
      h.set('Nats-Msg-Id', channelEventId(msg));
      const p = js.publish(s.channel(msg.nodeId), encodeMessage(msg), { headers: h }).finally(() => inflight.delete(p));
      inflight.add(p);
      if (inflight.size >= 4000) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    return performance.now() - t0;
  };
  const stored = async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM sbc_call_events')).rows[0]!.n);
  const startConsumer = () =>
    startCallsConsumer({
      nats: nc, prefix: PREFIX, subjects: s, store, metrics, logger,
      batchMax: 1000, batchDelayMs: 20, ackWaitMs: 30_000, maxAckPending: 20_000, retryDelayMs: 2000,
    });

  // 1. Capacity: fill the stream, then drain it.
  const fillMs = await publishRange(CAPACITY_EVENTS);
  console.log(line('stream filled', `${CAPACITY_EVENTS} events in ${(fillMs / 1000).toFixed(1)} s (${Math.round(CAPACITY_EVENTS / (fillMs / 1000))}/s published)`));
  const t0 = performance.now();
  let consumer: CallsConsumer = await startConsumer();
  cleanup.push('calls consumer', () => consumer.stop());
  let drainedAt = 0;
  while (performance.now() - t0 < 300_000) {
    if ((await stored()) >= CAPACITY_EVENTS) {
      drainedAt = performance.now();
      break;
    }
    await sleep(50);
  }
  if (drainedAt === 0) throw new Error(`the consumer did not drain ${CAPACITY_EVENTS} events within 300 s (${await stored()} stored)`);
  const capacity = CAPACITY_EVENTS / ((drainedAt - t0) / 1000);
  console.log(line('capacity (drain of a full stream)', `${Math.round(capacity)} events/s (${CAPACITY_EVENTS} in ${((drainedAt - t0) / 1000).toFixed(2)} s)`));

  // 2. Live: publish at the target rate with the consumer running; lag publish -> queryable.
  await consumer.stop();
  consumer = await startConsumer();
  const liveStartMs = Date.now();
  const liveCount = TARGET * LIVE_SECONDS;
  const liveMs = await publishRange(liveCount, { perSecond: TARGET });
  const offered = liveCount / (liveMs / 1000);
  const until = performance.now() + 60_000;
  while ((await stored()) < CAPACITY_EVENTS + liveCount && performance.now() < until) await sleep(50);
  const total = await stored();
  const lags = (
    await pool.query<{ lag: number }>('SELECT (extract(epoch from received_at - at) * 1000)::float8 AS lag FROM sbc_call_events WHERE at >= to_timestamp($1::float8 / 1000)', [liveStartMs])
  ).rows.map((r) => Number(r.lag));
  const lag = distribution(lags);
  console.log(line('live: offered rate', `${Math.round(offered)} events/s for ${(liveMs / 1000).toFixed(1)} s (${liveCount} events)`));
  console.log(line('live: stored', `${total - CAPACITY_EVENTS} of ${liveCount}`));
  console.log(distributionLine('live: publish -> queryable', lag));
  const rejected = (await metrics.callEvents.get()).values.filter((v) => String(v.labels.outcome).startsWith('rejected')).reduce((a, v) => a + v.value, 0);
  console.log(line('rejected / duplicates', `${rejected} / ${(await metrics.callEvents.get()).values.find((v) => v.labels.outcome === 'duplicate')?.value ?? 0}`));
  const pass = capacity >= TARGET && offered >= TARGET * 0.95 && total === CAPACITY_EVENTS + liveCount;
  console.log(verdict('calls-ingest', pass, `capacity ${Math.round(capacity)} events/s (target >= ${TARGET}); at ${Math.round(offered)}/s offered, lag p50 ${lag.p50.toFixed(1)} ms, p99 ${lag.p99.toFixed(1)} ms, ${total - CAPACITY_EVENTS}/${liveCount} stored`));
});
