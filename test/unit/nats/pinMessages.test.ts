import { describe, expect, it } from 'vitest';
import { decodePinMessage } from '../../../src/events/pins.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { consumePinMessages } from '../../../src/nats/pinMessages.js';
import { FakeMessageBus } from '../../fakes/fakeMessageBus.js';
import { InMemoryRoomRegistry } from '../../fakes/inMemoryRoomRegistry.js';
import { silentLogger } from '../../fakes/silentLogger.js';

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
// Exactly what routing.lua's ksr_pin_flush writes (a batch of queue_pin items).
const fromLua = '{"v":2,"by":"k1","pins":[{"room":"3000","key":"3000","uri":"sip:127.0.0.1:5080","at":1764650000123}]}';
// What a Kamailio of the previous release wrote: one pin per message.
const fromLuaV1 = '{"v":1,"room":"3000","key":"3000","uri":"sip:127.0.0.1:5080","by":"k1","at":1764650000123}';

describe('pin messages from Kamailio', () => {
  it('decodes what routing.lua publishes (a batch) and what its previous release did (one pin), with and without a shard', () => {
    const one = { room: '3000', pin: { key: '3000', uri: 'sip:127.0.0.1:5080', at: 1764650000123, by: 'k1' } };
    expect(decodePinMessage(enc(fromLua))).toEqual({ ok: true, pins: [one] });
    expect(decodePinMessage(enc(fromLuaV1))).toEqual({ ok: true, pins: [one] });
    const batch = decodePinMessage(
      enc({ v: 2, by: 'k1', pins: [{ room: '3000', key: '3000-2', shard: 2, uri: 'sip:10.0.0.1:5060', at: 5 }, { room: '3001', key: '3001', uri: 'sip:10.0.0.2:5060', at: 6 }] }),
    );
    expect(batch).toEqual({
      ok: true,
      pins: [
        { room: '3000', shard: 2, pin: { key: '3000-2', uri: 'sip:10.0.0.1:5060', at: 5, by: 'k1' } },
        { room: '3001', pin: { key: '3001', uri: 'sip:10.0.0.2:5060', at: 6, by: 'k1' } },
      ],
    });
    const shard = decodePinMessage(enc({ v: 1, room: '3000', key: '3000-2', shard: 2, uri: 'sip:10.0.0.1:5060', by: 'k1', at: 5 }));
    expect(shard).toMatchObject({ ok: true, pins: [{ shard: 2, pin: { key: '3000-2' } }] });
  });

  it('refuses forged and malformed ones with a reason', () => {
    const reason = (v: unknown) => {
      const d = decodePinMessage(enc(v));
      return d.ok ? 'ok' : d.reason;
    };
    expect(reason('{"v":1')).toBe('json');
    expect(reason({ v: 2, room: '3000', key: '3000', uri: 'sip:1.2.3.4:5060', by: 'k', at: 1 })).toBe('schema');
    expect(reason({ v: 3, room: '3000', key: '3000', uri: 'sip:1.2.3.4:5060', by: 'k', at: 1 })).toBe('schema');
    const item = { room: '3000', key: '3000', uri: 'sip:1.2.3.4:5060', at: 1 };
    expect(reason({ v: 2, by: 'k', pins: [] })).toBe('schema');
    expect(reason({ v: 2, pins: [item] })).toBe('schema');
    expect(reason({ v: 2, by: 'k', pins: Array.from({ length: 33 }, () => item) })).toBe('schema');
    // one bad item refuses the whole batch
    expect(reason({ v: 2, by: 'k', pins: [item, { ...item, uri: 'sip:1.2.3.4:5060;x="' }] })).toBe('uri');
    expect(reason({ v: 2, by: 'k', pins: [item, { ...item, key: '3001' }] })).toBe('schema');
    expect(reason({ v: 1, room: '30 00', key: '3000', uri: 'sip:1.2.3.4:5060', by: 'k', at: 1 })).toBe('schema');
    expect(reason({ v: 1, room: '3000', key: '3001', uri: 'sip:1.2.3.4:5060', by: 'k', at: 1 })).toBe('schema');
    expect(reason({ v: 1, room: '3000', key: '3000', uri: 'sip:1.2.3.4:5060;x="', by: 'k', at: 1 })).toBe('uri');
    expect(reason({ v: 1, room: '3000', key: '3000', uri: 'sip:1.2.3.4:5060', by: 'k', at: -1 })).toBe('schema');
    expect(reason('x'.repeat(40_000))).toBe('too-large');
    const bad = new Uint8Array([0x7b, 0xff, 0x7d]);
    expect(decodePinMessage(bad)).toMatchObject({ ok: false, reason: 'json' });
  });

  it('records a pin once, counts what it kept and refused, asks for a pass only when taken', async () => {
    const bus = new FakeMessageBus();
    const rooms = new InMemoryRoomRegistry();
    const metrics = createMetrics();
    let passes = 0;
    const sub = consumePinMessages(bus, 'sbc.kamailio.pins', { rooms, metrics, logger: silentLogger, onPin: () => passes++ });
    bus.publish('sbc.kamailio.pins', enc(fromLua));
    bus.publish('sbc.kamailio.pins', enc(fromLuaV1.replace('5080', '5090'))); // same time, other node: kept
    bus.publish('sbc.kamailio.pins', enc('nonsense'));
    await sub.drain();
    expect((await rooms.get('3000'))?.pin?.uri).toBe('sip:127.0.0.1:5080');
    expect(passes).toBe(1);
    // A batch: each pin recorded and counted; one pass asked for the whole message.
    const sub2 = consumePinMessages(bus, 'sbc.kamailio.pins.2', { rooms, metrics, logger: silentLogger, onPin: () => passes++ });
    bus.publish(
      'sbc.kamailio.pins.2',
      enc({ v: 2, by: 'k2', pins: [{ room: '3000', key: '3000', uri: 'sip:127.0.0.1:5070', at: 1 }, { room: '3002', key: '3002', uri: 'sip:127.0.0.1:5070', at: 2 }] }),
    );
    await sub2.drain();
    expect((await rooms.get('3000'))?.pin?.uri).toBe('sip:127.0.0.1:5070');
    expect((await rooms.get('3002'))?.pin?.by).toBe('k2');
    expect(passes).toBe(2);
    const outcomes: Record<string, number> = Object.fromEntries((await metrics.pinMessages.get()).values.map((v) => [String(v.labels.outcome), v.value]));
    expect(outcomes).toEqual({ taken: 3, kept: 1, 'rejected-json': 1 });
  });
});
