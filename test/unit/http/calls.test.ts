import { afterEach, describe, expect, it } from 'vitest';
import { bridgedCall, CALL_ID, channelEvent, DECISION, LEG_A, LEG_B, NODE_1, NODE_2 } from '../calls/fixtures.js';
import { CALLS_NOW, fakes, testApp, type TestApp } from './harness.js';

const T = (CALLS_NOW - 60_000) * 1000;

describe('GET /v1/calls/{id}, /v1/calls', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.app.close();
    t = undefined;
  });
  const withCall = async () => {
    const f = await fakes();
    await f.calls.append(bridgedCall(T));
    t = await testApp({}, f);
    return t;
  };

  it('answers the whole call for a UUID or a Call-ID: legs with µs times, the decision and its failover, why the legs are joined', async () => {
    const { app } = await withCall();
    const res = await app.inject(`/v1/calls/${encodeURIComponent(CALL_ID)}`);
    expect(res.statusCode).toBe(200);
    const g = res.json<Record<string, unknown> & { legs: Record<string, unknown>[]; decisions: { attempts: unknown[] }[] }>();
    expect(g).toMatchObject({ id: CALL_ID, nodes: [NODE_1], kamailios: ['kam-a'], rooms: [], links: [], truncated: false, firstAt: '2026-12-02T04:59:00.000000Z', lastAt: '2026-12-02T04:59:00.009100Z' });
    expect(g.legs.map((l) => [l.uuid, l.direction, l.callId, l.startedAt, l.answeredAt, l.endedAt, l.cause])).toEqual([
      [LEG_A, 'inbound', CALL_ID, '2026-12-02T04:59:00.001000Z', '2026-12-02T04:59:00.005100Z', '2026-12-02T04:59:00.009100Z', 'NORMAL_CLEARING'],
      [LEG_B, 'outbound', LEG_B, '2026-12-02T04:59:00.002000Z', '2026-12-02T04:59:00.005000Z', '2026-12-02T04:59:00.009000Z', 'NORMAL_CLEARING'],
    ]);
    expect(g.decisions[0]!.attempts).toEqual([
      { attempt: 1, at: '2026-12-02T04:59:00.000000Z', atUs: T, set: 1, alg: 4, dst: 'sip:10.0.0.2:5060' },
      { attempt: 2, at: '2026-12-02T04:59:00.000900Z', atUs: T + 900, set: 1, alg: 4, dst: 'sip:10.0.0.1:5060', afterStatus: 503 },
    ]);
    expect(g.joins).toEqual([
      { a: LEG_A, b: LEG_B, by: 'call-uuid' },
      { a: LEG_A, b: LEG_B, by: 'other-leg' },
    ]);
    const byUuid = await app.inject(`/v1/calls/${LEG_B}`);
    expect(byUuid.json<{ legs: unknown[] }>().legs).toEqual(g.legs);
    expect((await app.inject(`/v1/calls/${DECISION}`)).statusCode).toBe(200);
  });

  it('404 for an id no event names, 400 for one that cannot be a Call-ID or UUID', async () => {
    const { app } = await withCall();
    const unknown = await app.inject('/v1/calls/nobody%40nowhere');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ error: 'not-found', message: 'no call event names nobody@nowhere' });
    const spaced = await app.inject('/v1/calls/two%20words');
    expect(spaced.statusCode).toBe(400);
    expect(spaced.json<{ error: string }>().error).toBe('bad-request');
    expect((await app.inject(`/v1/calls/${'x'.repeat(1025)}`)).statusCode).toBe(400);
    // A Call-ID of 1024 characters is still one.
    expect((await app.inject(`/v1/calls/${'x'.repeat(1024)}`)).statusCode).toBe(404);
  });

  it('lists recent legs newest first, filtered, a page at a time', async () => {
    const f = await fakes();
    const leg = (n: number, node: string, cause: string, room?: string) => {
      const uuid = `d0000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
      return [
        channelEvent({ event: 'create', uuid, atUs: T + n * 1000, nodeId: node, callId: `r${n}@h`, ...(room ? { room } : {}) }),
        channelEvent({ event: 'hangup', uuid, atUs: T + n * 1000 + 500, nodeId: node, callId: `r${n}@h`, cause, ...(room ? { room } : {}) }),
      ];
    };
    await f.calls.append(Array.from({ length: 12 }, (_, i) => leg(i, i % 2 ? NODE_2 : NODE_1, i % 3 ? 'NORMAL_CLEARING' : 'USER_BUSY', i < 4 ? '3000' : undefined)).flat());
    t = await testApp({}, f);
    const page1 = (await t.app.inject('/v1/calls?limit=5')).json<{ legs: { callId: string }[]; next?: string }>();
    expect(page1.legs.map((l) => l.callId)).toEqual(['r11@h', 'r10@h', 'r9@h', 'r8@h', 'r7@h']);
    const page2 = (await t.app.inject(`/v1/calls?limit=5&cursor=${page1.next}`)).json<{ legs: { callId: string }[]; next?: string }>();
    expect(page2.legs.map((l) => l.callId)).toEqual(['r6@h', 'r5@h', 'r4@h', 'r3@h', 'r2@h']);
    const page3 = (await t.app.inject(`/v1/calls?limit=5&cursor=${page2.next}`)).json<{ legs: unknown[]; next?: string }>();
    expect([page3.legs.length, page3.next]).toEqual([2, undefined]);
    const ids = async (q: string) => (await t!.app.inject(`/v1/calls?${q}`)).json<{ legs: { callId: string }[] }>().legs.map((l) => l.callId);
    expect(await ids(`node=${NODE_2}&cause=USER_BUSY`)).toEqual(['r9@h', 'r3@h']);
    expect(await ids('room=3000')).toEqual(['r3@h', 'r2@h', 'r1@h', 'r0@h']);
    expect(await ids(`from=${encodeURIComponent('2026-12-02T04:59:00.005Z')}&to=${encodeURIComponent('2026-12-02T04:59:00.007Z')}`)).toEqual(['r7@h', 'r6@h', 'r5@h']);
  });

  it('refuses a bad filter or a cursor it did not make, with the reason', async () => {
    const { app } = await withCall();
    const bad = async (q: string) => {
      const r = await app.inject(`/v1/calls?${q}`);
      return [r.statusCode, r.json<{ error: string }>().error];
    };
    expect(await bad('limit=0')).toEqual([400, 'bad-request']);
    expect(await bad('limit=1001')).toEqual([400, 'bad-request']);
    expect(await bad('node=fs-1')).toEqual([400, 'bad-request']);
    expect(await bad('cause=normal')).toEqual([400, 'bad-request']);
    expect(await bad('from=yesterday')).toEqual([400, 'bad-request']);
    expect(await bad('cursor=abc')).toEqual([400, 'bad-request']);
    expect(await bad('callid=x')).toEqual([400, 'unknown-parameter']);
  });
});
