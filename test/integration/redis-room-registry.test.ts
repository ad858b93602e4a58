import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FencedOutError } from '../../src/leader/fencedOut.js';
import type { HalfReport, RoomRegistry } from '../../src/ports/roomRegistry.js';
import { publishEpoch } from '../../src/redis/epochFence.js';
import { RedisRoomRegistry } from '../../src/redis/redisRoomRegistry.js';
import { InMemoryRoomRegistry } from '../fakes/inMemoryRoomRegistry.js';
import { startRedis, type Service } from '../support/services.js';

/** One contract, two implementations: the Redis adapter (real Redis) and the fake the unit tests use. */
const A = 'sip:127.0.0.1:5080';
const B = 'sip:127.0.0.1:5082';
const half = (nodeId: string, members: number, seq: number, links = 0): HalfReport => ({ nodeId, conferenceUuid: `conf-${nodeId}`, members, links, seq, at: 1000 + seq });

let redisService: Service;
let redis: Redis;
let n = 0;

beforeAll(async () => {
  redisService = await startRedis();
  redis = new Redis(redisService.url, { lazyConnect: false, maxRetriesPerRequest: 2 });
});
afterAll(async () => {
  await redis?.quit();
  await redisService?.stop();
});

const impls: [string, () => { reg: RoomRegistry; fence: (epoch: number) => Promise<void> }][] = [
  [
    'redis',
    () => {
      const prefix = `roomtest${++n}:`;
      return { reg: new RedisRoomRegistry(redis, prefix), fence: (e) => publishEpoch(redis, prefix, e) };
    },
  ],
  [
    'in-memory fake',
    () => {
      const reg = new InMemoryRoomRegistry();
      return {
        reg,
        fence: (e) => {
          reg.epoch = e;
          return Promise.resolve();
        },
      };
    },
  ],
];

describe.each(impls)('room registry contract (%s)', (_name, make) => {
  let reg: RoomRegistry;
  let fence: (epoch: number) => Promise<void>;
  beforeEach(() => {
    ({ reg, fence } = make());
  });

  it('takes the first pin, then only an earlier one made by a Kamailio', async () => {
    expect(await reg.recordPin('3000', { key: '3000', uri: A, at: 200, by: 'k1' })).toBe(true);
    expect(await reg.recordPin('3000', { key: '3000', uri: B, at: 300, by: 'k2' })).toBe(false);
    expect(await reg.recordPin('3000', { key: '3000', uri: B, at: 100, by: 'k2' })).toBe(true);
    expect((await reg.get('3000'))?.pin).toEqual({ key: '3000', uri: B, at: 100, by: 'k2' });
    // A decided pin is not displaced by a fact.
    await reg.saveDecision({ room: '3000', pin: { key: '3000', uri: A, at: 500, by: 'control' }, confirmedAt: 500 });
    expect(await reg.recordPin('3000', { key: '3000', uri: B, at: 1, by: 'k2' })).toBe(false);
    expect((await reg.get('3000'))?.pin?.uri).toBe(A);
  });

  it('keeps the newest report of each half, lists rooms with their live halves', async () => {
    await reg.recordHalf('3000', half('a', 3, 10));
    await reg.recordHalf('3000', half('a', 1, 9)); // older: ignored
    await reg.recordHalf('3000', half('b', 2, 4));
    const r = await reg.get('3000');
    expect(r?.halves.map((h) => [h.nodeId, h.members]).sort()).toEqual([
      ['a', 3],
      ['b', 2],
    ]);
    await reg.recordHalf('3000', half('b', 0, 5)); // b's conference ended
    expect((await reg.list()).map((x) => [x.room, x.halves.length])).toEqual([['3000', 1]]);
  });

  it('a snapshot replaces what one node hosts, unless a newer report came in between', async () => {
    await reg.recordHalf('3000', half('a', 3, 10));
    await reg.recordHalf('3001', half('a', 2, 11));
    await reg.recordHalf('3002', half('a', 2, 30)); // newer than the snapshot
    await reg.replaceNodeHalves('a', new Map([['3001', half('a', 4, 20)]]), 20);
    const rooms = new Map((await reg.list()).map((r) => [r.room, r.halves.map((h) => h.members)]));
    expect(rooms.get('3000') ?? []).toEqual([]);
    expect(rooms.get('3001')).toEqual([4]);
    expect(rooms.get('3002')).toEqual([2]);
    await reg.forgetNode('a');
    expect((await reg.list()).every((r) => r.halves.length === 0)).toBe(true);
  });

  it('a decision counts a split once per episode; a room with no pin and no conference is deleted', async () => {
    await reg.recordHalf('3000', half('a', 3, 1));
    await reg.recordHalf('3000', half('b', 1, 1));
    const pin = { key: '3000', uri: A, at: 5, by: 'control' };
    await reg.saveDecision({ room: '3000', pin, confirmedAt: 5, split: ['a', 'b'] });
    await reg.saveDecision({ room: '3000', pin, confirmedAt: 5, split: ['a', 'b'] });
    expect((await reg.get('3000'))?.splitsRepaired).toBe(1);
    await reg.saveDecision({ room: '3000', pin, confirmedAt: 5 });
    await reg.saveDecision({ room: '3000', pin, confirmedAt: 5, split: ['a', 'b'] });
    expect((await reg.get('3000'))?.splitsRepaired).toBe(2);
    // Conference gone, pin ended: the room is gone too.
    await reg.forgetNode('a');
    await reg.forgetNode('b');
    await reg.saveDecision({ room: '3000', pin: undefined, confirmedAt: undefined, ended: 'destroyed' });
    expect(await reg.get('3000')).toBeUndefined();
    expect(await reg.list()).toEqual([]);
  });

  it('refuses a deposed leader\'s decision', async () => {
    await fence(7);
    await expect(reg.saveDecision({ room: '3000', pin: undefined, confirmedAt: undefined }, 6)).rejects.toBeInstanceOf(FencedOutError);
    await reg.saveDecision({ room: '3000', pin: { key: '3000', uri: A, at: 1, by: 'control' }, confirmedAt: 1 }, 7);
    expect((await reg.get('3000'))?.pin?.uri).toBe(A);
  });
});
