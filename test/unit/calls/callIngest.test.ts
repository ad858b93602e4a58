import { describe, expect, it } from 'vitest';
import { ingestCallBatch, type IngestMessage } from '../../../src/calls/callIngest.js';
import { subjects } from '../../../src/events/subjects.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import type { CallEvent, WriteOutcome } from '../../../src/ports/callStore.js';
import { silentLogger } from '../../fakes/silentLogger.js';

const s = subjects('sbc');
const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const UUID = 'a0000000-0000-4000-8000-000000000001';
/** A node's id is its FreeSWITCH Core-UUID. */
const NODE = 'f0000000-0000-4000-8000-00000000000f';
const OTHER_NODE = 'f0000000-0000-4000-8000-0000000000ff';
const channel = { v: 1, nodeId: NODE, seq: 7, sentAt: 1, event: 'create', atUs: 1_764_650_000_000_001, uuid: UUID, direction: 'inbound', callId: 'c1@h', decision: 'k1-1-00001-1-001' };
const decisions = {
  v: 1,
  by: 'k1',
  decisions: [
    { id: 'k1-1-00001-1-001', attempt: 1, atUs: 1_764_650_000_000_000, callId: 'c1@h', kind: 'general', pin: 'none', set: 1, alg: 4, dst: 'sip:a' },
    { id: 'k1-1-00001-1-001', attempt: 2, atUs: 1_764_650_000_000_500, callId: 'c1@h', kind: 'general', pin: 'none', set: 1, alg: 4, dst: 'sip:b', after: { status: 503 } },
  ],
};

/** A message that records what was done with it. */
const message = (subject: string, data: unknown, storedAtNs?: bigint) => {
  const done: string[] = [];
  const m: IngestMessage & { done: string[] } = {
    subject,
    data: enc(data),
    ...(storedAtNs !== undefined ? { storedAtNs } : {}),
    done,
    ack: () => done.push('ack'),
    nak: (ms) => done.push(`nak ${ms}`),
    term: (reason) => done.push(`term ${reason}`),
  };
  return m;
};

/** A store that records each batch and answers as told. */
const recordingStore = (answer: (events: readonly CallEvent[]) => WriteOutcome | Error) => {
  const batches: CallEvent[][] = [];
  return {
    batches,
    append: (events: readonly CallEvent[]) => {
      batches.push([...events]);
      const a = answer(events);
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    },
  };
};
const wrote = (events: readonly CallEvent[], over: Partial<WriteOutcome> = {}): WriteOutcome => ({ inserted: events.length, duplicates: 0, truncated: {}, replaced: {}, outOfWindow: 0, ...over });
const value = async (metrics: ReturnType<typeof createMetrics>, name: string) => (await metrics.registry.getSingleMetric(name)!.get()).values.map((v) => [v.labels, v.value]);

describe('call event ingest', () => {
  it('writes a batch of channel events and decisions in one append, then acknowledges every message', async () => {
    const metrics = createMetrics();
    const store = recordingStore((e) => wrote(e));
    const a = message(s.channel(NODE), channel, 1_000_000_000n);
    const b = message(s.kamailioRoute('k1'), decisions);
    const r = await ingestCallBatch([a, b], { subjects: s, store, metrics, logger: silentLogger, retryDelayMs: 2000, now: () => 1500 });
    expect(r).toEqual({ written: true, events: 3 });
    expect(store.batches).toHaveLength(1);
    expect(store.batches[0]!.map((e) => e.id)).toEqual([`${NODE}:${UUID}:create:1764650000000001`, 'k1-1-00001-1-001:1', 'k1-1-00001-1-001:2']);
    expect(store.batches[0]![2]).toMatchObject({ source: 'kamailio', event: 'route', kamailioId: 'k1', decision: 'k1-1-00001-1-001', route: { attempt: 2, dst: 'sip:b', afterStatus: 503 } });
    expect([a.done, b.done]).toEqual([['ack'], ['ack']]);
    expect(await value(metrics, 'sbc_call_events_total')).toEqual([[{ outcome: 'inserted' }, 3]]);
    // Stored at 1.0 s, written at 1.5 s.
    const lag = (await metrics.registry.getSingleMetric('sbc_call_ingest_lag_seconds')!.get()).values.find((v) => (v as { metricName?: string }).metricName === 'sbc_call_ingest_lag_seconds_sum');
    expect(lag?.value).toBeCloseTo(0.5, 6);
  });

  it('a malformed or forged message is terminated and counted by reason; the rest of the batch is written', async () => {
    const metrics = createMetrics();
    const store = recordingStore((e) => wrote(e));
    const good = message(s.channel(NODE), channel);
    const forged = message(s.channel(OTHER_NODE), channel); // fs-1's event on fs-2's subject
    const broken = message(s.kamailioRoute('k1'), '{"v":1,');
    const foreign = message(s.kamailioRoute('k2'), decisions);
    const stray = message('sbc.calls.other', channel);
    await ingestCallBatch([good, forged, broken, foreign, stray], { subjects: s, store, metrics, logger: silentLogger, retryDelayMs: 2000 });
    expect(store.batches.map((b) => b.length)).toEqual([1]);
    expect([good, forged, broken, foreign, stray].map((m) => m.done)).toEqual([['ack'], ['term node-id-mismatch'], ['term json'], ['term kamailio-id-mismatch'], ['term subject']]);
    expect(new Map(await value(metrics, 'sbc_call_events_total') as [{ outcome: string }, number][]).size).toBe(5);
  });

  it('a failed write hands every message back for redelivery after the delay; nothing is acknowledged', async () => {
    const metrics = createMetrics();
    const store = recordingStore(() => new Error('connection refused'));
    const a = message(s.channel(NODE), channel);
    const bad = message(s.channel(NODE), { ...channel, v: 9 });
    const r = await ingestCallBatch([a, bad], { subjects: s, store, metrics, logger: silentLogger, retryDelayMs: 2000 });
    expect(r.written).toBe(false);
    expect([a.done, bad.done]).toEqual([['nak 2000'], ['term unsupported-version']]);
    expect(await value(metrics, 'sbc_call_ingest_batches_total')).toEqual([[{ outcome: 'error' }, 1]]);
  });

  it('duplicates, events out of the kept window and cut fields are counted', async () => {
    const metrics = createMetrics();
    const store = recordingStore((e) => wrote(e, { inserted: 0, duplicates: 1, outOfWindow: 2, truncated: { callId: 2 }, replaced: { caller: 1 } }));
    await ingestCallBatch([message(s.kamailioRoute('k1'), decisions), message(s.channel(NODE), channel)], { subjects: s, store, metrics, logger: silentLogger, retryDelayMs: 0 });
    expect(await value(metrics, 'sbc_call_events_total')).toEqual([
      [{ outcome: 'inserted' }, 0],
      [{ outcome: 'duplicate' }, 1],
      [{ outcome: 'out-of-window' }, 2],
    ]);
    expect(await value(metrics, 'sbc_call_event_fields_cut_total')).toEqual([
      [{ field: 'callId', how: 'truncated' }, 2],
      [{ field: 'caller', how: 'replaced' }, 1],
    ]);
  });
});
