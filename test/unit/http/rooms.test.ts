import { afterEach, describe, expect, it } from 'vitest';
import { fakes, testApp, type TestApp } from './harness.js';

const node1 = '00000000-0000-4000-8000-000000000001';

describe('GET /v1/rooms, /v1/rooms/{room}', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.app.close();
    t = undefined;
  });

  it('lists active rooms with their pin, the node behind it, each conference and the participants', async () => {
    const f = await fakes();
    await f.rooms.recordPin('3000', { key: '3000', uri: 'sip:10.0.0.1:5080', at: 1_764_650_000_000, by: 'kam-a' });
    await f.rooms.recordHalf('3000', { nodeId: node1, conferenceUuid: 'c1', members: 4, links: 1, seq: 1, at: 1_764_650_001_000 });
    await f.rooms.recordPin('tenant-b.example/3000', { key: 'tenant-b.example/3000', uri: 'sip:10.0.0.9:5080', at: 1_764_650_000_000, by: 'kam-b' });
    t = await testApp({}, f);
    const res = await t.app.inject('/v1/rooms');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      rooms: [
        {
          room: '3000',
          pin: { key: '3000', uri: 'sip:10.0.0.1:5080', nodeId: node1, by: 'kam-a', at: '2025-12-02T04:33:20.000Z', confirmedAt: null },
          nodes: [{ nodeId: node1, conferenceUuid: 'c1', members: 4, links: 1, updatedAt: '2025-12-02T04:33:21.000Z' }],
          members: 3,
          links: [],
          splitsRepaired: 0,
        },
        {
          room: 'tenant-b.example/3000',
          pin: { key: 'tenant-b.example/3000', uri: 'sip:10.0.0.9:5080', nodeId: null, by: 'kam-b', at: '2025-12-02T04:33:20.000Z', confirmedAt: null },
          nodes: [],
          members: 0,
          links: [],
          splitsRepaired: 0,
        },
      ],
    });
    const one = await t.app.inject(`/v1/rooms/${encodeURIComponent('tenant-b.example/3000')}`);
    expect(one.statusCode).toBe(200);
    expect(one.json<{ room: string }>().room).toBe('tenant-b.example/3000');
  });

  it('404 for a room that is not active, 400 for a key that cannot be a room', async () => {
    t = await testApp();
    const missing = await t.app.inject('/v1/rooms/3999');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: 'not-found', message: 'no active room 3999' });
    const bad = await t.app.inject(`/v1/rooms/${encodeURIComponent('30 00')}`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'bad-request' });
  });

  it('PUT, GET and DELETE a room policy; a bad body or key is 400 with the reason, a missing policy 404', async () => {
    let changes = 0;
    t = await testApp({ onPolicyChange: () => changes++ });
    const put = await t.app.inject({ method: 'PUT', url: '/v1/rooms/3000/policy', payload: { mode: 'cascade', shards: 3 } });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toEqual({ room: '3000', mode: 'cascade', shards: 3, updatedAt: '2025-12-02T04:33:20.000Z' });
    expect(changes).toBe(1);
    expect((await t.app.inject('/v1/rooms/3000/policy')).json()).toMatchObject({ shards: 3 });

    const one = await t.app.inject({ method: 'PUT', url: '/v1/rooms/3000/policy', payload: { mode: 'cascade', shards: 1 } });
    expect(one.statusCode).toBe(400);
    expect(one.json<{ message: string }>().message).toMatch(/shards/);
    const mode = await t.app.inject({ method: 'PUT', url: '/v1/rooms/3000/policy', payload: { mode: 'mesh', shards: 3 } });
    expect(mode.statusCode).toBe(400);
    const extra = await t.app.inject({ method: 'PUT', url: '/v1/rooms/3000/policy', payload: { mode: 'cascade', shards: 3, x: 1 } });
    expect(extra.statusCode).toBe(400);
    const key = await t.app.inject({ method: 'PUT', url: `/v1/rooms/${encodeURIComponent('"x"')}/policy`, payload: { mode: 'cascade', shards: 3 } });
    expect(key.statusCode).toBe(400);
    expect(changes).toBe(1);

    expect((await t.app.inject({ method: 'DELETE', url: '/v1/rooms/3000/policy' })).statusCode).toBe(204);
    expect(changes).toBe(2);
    const gone = await t.app.inject('/v1/rooms/3000/policy');
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toMatchObject({ error: 'not-found', message: 'no policy for room 3000' });
    expect((await t.app.inject({ method: 'DELETE', url: '/v1/rooms/3000/policy' })).statusCode).toBe(404);
  });
});
