import { describe, expect, it } from 'vitest';
import { decodeNodeMessage, encodeChecked, encodeMessage } from '../../../src/events/codec.js';
import { subjects } from '../../../src/events/subjects.js';
import { v1NodeMessages } from '../../fixtures/nats/v1.js';

/**
 * The load fields of `joined` and `heartbeat` (README, "NATS subject reference"): optional, so a
 * v1 message without them is still read, and bounded, so a writer cannot send a nonsense reading.
 */
const s = subjects('sbc');
const [joinedV1, heartbeatV1] = v1NodeMessages();
const load = { idleCpuPercent: 81.133333, sessionsPerSecond: 1, sessionsPerSecondLimit: 500, heartbeatEventAt: 1_796_150_508_256, heartbeatEventIntervalMs: 1000 };

describe('node load fields', () => {
  it('a joined and a heartbeat carrying every load field are written and read back unchanged', () => {
    for (const c of [joinedV1!, heartbeatV1!]) {
      const kind = c.kind as 'joined' | 'heartbeat';
      const body = { ...c.body, ...load };
      expect(encodeChecked(kind, body).ok, kind).toBe(true);
      expect(decodeNodeMessage(s, s.node(c.nodeId, kind), encodeMessage(body))).toEqual({ ok: true, value: { kind, msg: body } });
    }
  });

  it('each field may be left out on its own (unknown is absent, never 0)', () => {
    for (const field of Object.keys(load) as Array<keyof typeof load>) {
      const { [field]: _left, ...rest } = load;
      expect(encodeChecked('heartbeat', { ...heartbeatV1!.body, ...rest }).ok, field).toBe(true);
    }
  });

  it.each([
    ['idleCpuPercent', -0.000001],
    ['idleCpuPercent', 100.000001],
    ['idleCpuPercent', '99.000000'],
    ['sessionsPerSecond', -1],
    ['sessionsPerSecond', 0.5],
    ['sessionsPerSecond', 1_000_001],
    ['sessionsPerSecondLimit', 0],
    ['sessionsPerSecondLimit', 1_000_001],
    ['heartbeatEventAt', -1],
    ['heartbeatEventAt', 1.5],
    ['heartbeatEventIntervalMs', 999],
    ['heartbeatEventIntervalMs', 3_600_001],
  ])('%s = %j is refused by the writer and the reader', (field, value) => {
    const body = { ...heartbeatV1!.body, ...load, [field]: value };
    expect(encodeChecked('heartbeat', body)).toEqual({ ok: false, detail: expect.stringContaining(`/${field}`) as unknown });
    expect(decodeNodeMessage(s, s.node(heartbeatV1!.nodeId, 'heartbeat'), encodeMessage(body))).toMatchObject({ ok: false, reason: 'schema' });
  });

  it('the bounds themselves are accepted', () => {
    for (const edge of [
      { idleCpuPercent: 0, sessionsPerSecond: 0, sessionsPerSecondLimit: 1, heartbeatEventAt: 0, heartbeatEventIntervalMs: 1000 },
      { idleCpuPercent: 100, sessionsPerSecond: 1_000_000, sessionsPerSecondLimit: 1_000_000, heartbeatEventIntervalMs: 3_600_000 },
    ]) {
      expect(encodeChecked('joined', { ...joinedV1!.body, ...edge }).ok).toBe(true);
    }
  });
});
