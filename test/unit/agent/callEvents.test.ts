import { describe, expect, it } from 'vitest';
import { CallEventPublisher, type AckedPublisher, type PubAck } from '../../../src/agent/callEvents.js';
import { subjects, type NodeChannel } from '../../../src/events/index.js';
import { silentLogger } from '../../fakes/silentLogger.js';

const NODE = '858bc0bf-fea0-4ae3-aed6-d8303ec5ad26';
const s = subjects('sbc');

const msg = (seq: number): NodeChannel => ({
  v: 1, nodeId: NODE, seq, sentAt: 1, event: 'create', atUs: 1_796_000_000_000_000 + seq, uuid: 'e64dddbd-f757-419c-8e3a-0ed58a9e3b4d', direction: 'inbound', callId: `${seq}-1@h`,
});
/** The id of msg(seq): channelEventId, spelled out. */
const id = (seq: number) => `${NODE}:e64dddbd-f757-419c-8e3a-0ed58a9e3b4d:create:${1_796_000_000_000_000 + seq}`;

/**
 * A behavioural JetStream stand-in: a stream keyed by message id (de-duplicating like the real
 * one), which can be made unreachable; records every publish attempt in order.
 */
class FakeStream implements AckedPublisher {
  up = true;
  readonly attempts: string[] = [];
  readonly stored: string[] = [];
  /** Answers held back until released (to test pipelining). */
  hold = false;
  private readonly held: Array<() => void> = [];

  publish(subject: string, _data: Uint8Array, msgId: string): Promise<PubAck> {
    this.attempts.push(msgId);
    expect(subject).toBe(s.channel(NODE));
    return new Promise((resolve, reject) => {
      const answer = () => {
        if (!this.up) return reject(new Error('no responders'));
        const duplicate = this.stored.includes(msgId);
        if (!duplicate) this.stored.push(msgId);
        resolve({ stream: 'SBC_CALLS', seq: this.stored.indexOf(msgId) + 1, duplicate });
      };
      if (this.hold) this.held.push(answer);
      else queueMicrotask(answer);
    });
  }

  release(): void {
    for (const a of this.held.splice(0)) a();
  }
  get waiting(): number {
    return this.held.length;
  }
}

const settle = () => new Promise((r) => setTimeout(r, 0));
async function until(what: string, ok: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const publisher = (stream: FakeStream, bufferSize = 100, maxInFlight = 4) =>
  new CallEventPublisher(stream, s, { bufferSize, maxInFlight, ackTimeoutMs: 1000, retryMinMs: 5, retryMaxMs: 20 }, silentLogger);

describe('call events: publish with ack through a bounded buffer', () => {
  it('each message goes out once with Nats-Msg-Id <nodeId>:<uuid>:<event>:<atUs>, and is held until acknowledged', async () => {
    const stream = new FakeStream();
    const p = publisher(stream);
    for (const seq of [10, 11, 12]) expect(p.publish(msg(seq))).toBe(true);
    expect(await p.flush(1000)).toBe(true);
    expect(stream.attempts).toEqual([id(10), id(11), id(12)]);
    expect(p.counts()).toMatchObject({ published: 3, acked: 3, retried: 0, dropped: 0, refused: 0, buffered: 0, inFlight: 0 });
  });

  it('pipelined: up to maxInFlight await their acks at once, no more', async () => {
    const stream = new FakeStream();
    stream.hold = true;
    const p = publisher(stream, 100, 4);
    for (let seq = 1; seq <= 10; seq++) p.publish(msg(seq));
    expect(stream.waiting).toBe(4);
    expect(p.counts()).toMatchObject({ inFlight: 4, buffered: 10 });
    stream.hold = false;
    stream.release();
    expect(await p.flush(1000)).toBe(true);
    expect(stream.stored).toEqual(Array.from({ length: 10 }, (_, i) => id(i + 1)));
  });

  it('while the stream is away messages are held; once back they are re-sent oldest first and each stored once', async () => {
    const stream = new FakeStream();
    stream.up = false;
    const p = publisher(stream);
    for (let seq = 1; seq <= 20; seq++) p.publish(msg(seq));
    await until('a few retries', () => p.counts().retried >= 3);
    expect(stream.stored).toEqual([]);
    // While away, only the oldest is probed (one at a time).
    expect(new Set(stream.attempts.slice(4))).toEqual(new Set([id(1)]));
    stream.up = true;
    expect(await p.flush(2000)).toBe(true);
    expect(stream.stored).toEqual(Array.from({ length: 20 }, (_, i) => id(i + 1)));
    expect(p.counts()).toMatchObject({ published: 20, acked: 20, dropped: 0, buffered: 0 });
  });

  it('a full buffer drops the oldest, counts them, and keeps the newest in order', async () => {
    const stream = new FakeStream();
    stream.up = false;
    const p = publisher(stream, 10, 2);
    for (let seq = 1; seq <= 25; seq++) p.publish(msg(seq));
    expect(p.counts()).toMatchObject({ published: 25, dropped: 15, buffered: 10 });
    stream.up = true;
    expect(await p.flush(2000)).toBe(true);
    // The first ones were in flight when the buffer filled (kept: they may be stored already); then the 8 newest.
    expect(stream.stored).toEqual([1, 2, 18, 19, 20, 21, 22, 23, 24, 25].map((n) => id(n)));
  });

  it('a re-send of a message the stream already has is harmless: acknowledged as a duplicate, stored once', async () => {
    const stream = new FakeStream();
    const p = publisher(stream);
    p.publish(msg(7));
    expect(await p.flush(1000)).toBe(true);
    // The same seq again (an ack lost, the agent sends again).
    p.publish(msg(7));
    expect(await p.flush(1000)).toBe(true);
    expect(stream.stored).toEqual([id(7)]);
    expect(p.counts()).toMatchObject({ acked: 2, duplicates: 1 });
  });

  it('an invalid message is refused and never sent', async () => {
    const stream = new FakeStream();
    const p = publisher(stream);
    expect(p.publish({ ...msg(1), callId: 'with space' })).toBe(false);
    await settle();
    expect(stream.attempts).toEqual([]);
    expect(p.counts()).toMatchObject({ refused: 1, published: 0 });
  });

  it('flush gives up at its bound while the stream is away', async () => {
    const stream = new FakeStream();
    stream.up = false;
    const p = publisher(stream);
    p.publish(msg(1));
    expect(await p.flush(50)).toBe(false);
    p.close();
    expect(p.counts().buffered).toBe(1);
  });
});
