import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream } from '@nats-io/jetstream';
import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import { channelEventId, type NodeChannel } from '../src/events/calls.js';
import { encodeMessage } from '../src/events/codec.js';
import { subjects } from '../src/events/subjects.js';

/**
 * The agents of bench/calls-ingest.ts, in a process of their own (as agents are; sharing the
 * consumer's event loop would slow both): publishes events [from,
 * from + count) into the calls stream, each with its Nats-Msg-Id and awaited PubAck, paced at
 * `perSecond` when given, and posts the time it took.
 */
export interface PublishJob {
  readonly natsUrl: string;
  readonly prefix: string;
  readonly nodes: number;
  readonly from: number;
  readonly count: number;
  readonly perSecond?: number;
}

const EVENTS = ['create', 'answer', 'hangup'] as const;
const node = (i: number) => `f${String(i).padStart(7, '0')}-0000-4000-8000-000000000000`;
export const benchUuid = (n: number): string => {
  const h = n.toString(16).padStart(12, '0');
  return `a${h.slice(0, 7)}-0000-4000-8000-${h}`;
};

/** Event `n`: leg n/3, its create, answer or hangup, on one of `nodes` nodes, stamped with its publish time. */
export function benchEvent(n: number, nodes: number, atUs: number): NodeChannel {
  const leg = Math.floor(n / 3);
  const event = EVENTS[n % 3]!;
  return {
    v: 1, nodeId: node(leg % nodes), seq: n, sentAt: Math.floor(atUs / 1000), event, atUs, uuid: benchUuid(leg), direction: 'inbound',
    callId: `${leg}-bench@192.0.2.1`, caller: `10${leg % 1000}`, callee: '9000', decision: `kam-a-${leg.toString(16)}-00001-1-001`,
    ...(event === 'hangup' ? { cause: 'NORMAL_CLEARING', sipStatus: 200 } : {}),
  };
}

async function publish(job: PublishJob): Promise<number> {
  const nc = await connect({ servers: job.natsUrl });
  const js = jetstream(nc);
  const s = subjects(job.prefix);
  const inflight = new Set<Promise<unknown>>();
  const t0 = performance.now();
  for (let i = 0; i < job.count; i++) {
    if (job.perSecond !== undefined) {
      const wait = t0 + (i * 1000) / job.perSecond - performance.now();
      if (wait > 1) await sleep(wait);
    }
    const n = job.from + i;
    const msg = benchEvent(n, job.nodes, Date.now() * 1000 + (n % 1000));
    const h = natsHeaders();
    h.set('Nats-Msg-Id', channelEventId(msg));
    const p = js.publish(s.channel(msg.nodeId), encodeMessage(msg), { headers: h }).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 4000) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const took = performance.now() - t0;
  await nc.close();
  return took;
}

// Run as a script (`node --import tsx bench/callsPublisher.ts '<job json>'`): one JSON line on stdout.
if (import.meta.url === `file://${process.argv[1]}`) {
  publish(JSON.parse(process.argv[2] ?? '{}') as PublishJob).then(
    (ms) => process.stdout.write(`${JSON.stringify({ ok: true, ms })}\n`),
    (err: unknown) => {
      process.stdout.write(`${JSON.stringify({ ok: false, error: String(err) })}\n`);
      process.exitCode = 1;
    },
  );
}
