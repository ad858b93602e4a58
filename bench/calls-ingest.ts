import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import pino from 'pino';
import { subjects } from '../src/events/subjects.js';
import { createMetrics } from '../src/metrics/metrics.js';
import { startCallsConsumer, type CallsConsumer } from '../src/nats/callsConsumer.js';
import { ensureCallsStream, natsJetStreamRequests } from '../src/nats/callsStream.js';
import { PgCallStore } from '../src/postgres/callStore.js';
import { migrate } from '../src/postgres/migrations.js';
import { startProcess } from '../test/support/process.js';
import { createPostgresDatabase, startNats } from '../test/support/services.js';
import { distribution, distributionLine, line, verdict } from './figures.js';
import type { PublishJob } from './callsPublisher.js';
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
const LIVE_SECONDS = Number(process.env.BENCH_INGEST_LIVE_SECONDS ?? 10);
const PREFIX = 'bench';
const NODES = 20;

/** Runs one publishing job in a process of its own (bench/callsPublisher.ts); resolves with the ms it took. */
async function publishInProcess(job: PublishJob): Promise<number> {
  const p = startProcess(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./callsPublisher.ts', import.meta.url)), JSON.stringify(job)]);
  await p.exited;
  const last = p.output().trim().split('\n').pop() ?? '';
  const r = JSON.parse(last.startsWith('{') ? last : '{"ok":false,"error":"no answer"}') as { ok: boolean; ms?: number; error?: string };
  if (!r.ok) throw new Error(`publisher: ${r.error ?? '?'}: ${p.output().slice(-1000)}`);
  return r.ms ?? 0;
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
  const s = subjects(PREFIX);
  const metrics = createMetrics();
  const logger = pino({ level: 'warn' });

  console.log(`setup: private nats-server (JetStream, file storage) and Postgres database on loopback; the control plane's calls consumer and PgCallStore in this process, defaults (batch 1,000 / 20 ms, max ack pending 20,000)`);
  console.log(`method: channel events of ${NODES} nodes (create, answer, hangup per leg), each published with its Nats-Msg-Id and awaited PubAck (up to 4,000 in flight)`);

  let next = 0;
  const publishRange = async (count: number, pace?: { perSecond: number }) => {
    const from = next;
    next += count;
    return publishInProcess({ natsUrl: nats.url, prefix: PREFIX, nodes: NODES, from, count, ...(pace ? { perSecond: pace.perSecond } : {}) });
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

  // 2. Live: the consumer running, events published at half the target and at the target;
  // lag publish -> queryable of each event.
  const live: { rate: number; offered: number; stored: number; count: number; lag: ReturnType<typeof distribution> }[] = [];
  for (const rate of [TARGET / 2, TARGET]) {
    await consumer.stop();
    consumer = await startConsumer();
    const before = await stored();
    const liveStartMs = Date.now();
    const liveCount = rate * LIVE_SECONDS;
    const liveMs = await publishRange(liveCount, { perSecond: rate });
    const until = performance.now() + 60_000;
    while ((await stored()) < before + liveCount && performance.now() < until) await sleep(50);
    const lags = (
      await pool.query<{ lag: number }>('SELECT (extract(epoch from received_at - at) * 1000)::float8 AS lag FROM sbc_call_events WHERE at >= to_timestamp($1::float8 / 1000)', [liveStartMs])
    ).rows.map((r) => Number(r.lag));
    const r = { rate, offered: liveCount / (liveMs / 1000), stored: (await stored()) - before, count: liveCount, lag: distribution(lags) };
    live.push(r);
    console.log(line(`live at ${rate}/s: offered`, `${Math.round(r.offered)} events/s for ${(liveMs / 1000).toFixed(1)} s; stored ${r.stored} of ${liveCount}`));
    console.log(distributionLine(`  publish -> queryable`, r.lag));
  }
  const rejected = (await metrics.callEvents.get()).values.filter((v) => String(v.labels.outcome).startsWith('rejected')).reduce((a, v) => a + v.value, 0);
  console.log(line('rejected / duplicates', `${rejected} / ${(await metrics.callEvents.get()).values.find((v) => v.labels.outcome === 'duplicate')?.value ?? 0}`));
  const atTarget = live[live.length - 1]!;
  const pass = capacity >= TARGET && live.every((r) => r.stored === r.count);
  console.log(verdict('calls-ingest', pass, `capacity ${Math.round(capacity)} events/s (target >= ${TARGET}); at ${Math.round(atTarget.offered)}/s offered: lag p50 ${atTarget.lag.p50.toFixed(1)} ms, p99 ${atTarget.lag.p99.toFixed(1)} ms; every event stored: ${live.every((r) => r.stored === r.count)}`));
});
