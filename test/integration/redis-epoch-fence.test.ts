import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { FencedOutError } from '../../src/leader/fencedOut.js';
import { epochKey, evalFenced, publishEpoch, publishedEpoch, withEpochFence } from '../../src/redis/epochFence.js';
import { startRedis, type Service } from '../support/services.js';

// A registry-like transition: set KEYS[1] to ARGV[1]; the fence comes first.
const TRANSITION = withEpochFence(`
redis.call('SET', KEYS[1], ARGV[1])
return 1
`);

describe('epoch fence in Redis (real Redis)', () => {
  let service: Service;
  let redis: Redis;
  const prefix = () => `t${randomBytes(4).toString('hex')}:`;

  beforeAll(async () => {
    service = await startRedis();
    redis = new Redis(service.url);
  });
  afterAll(async () => {
    await redis.quit();
    await service.stop();
  });

  it('publishes an epoch only upwards; a stale leader\'s publish is refused', async () => {
    const p = prefix();
    expect(await publishedEpoch(redis, p)).toBe(0);
    await publishEpoch(redis, p, 3);
    await publishEpoch(redis, p, 3); // again: idempotent
    expect(await redis.get(epochKey(p))).toBe('3');
    const refused = await publishEpoch(redis, p, 2).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(FencedOutError);
    expect(refused).toMatchObject({ store: 'redis', epoch: 2, currentEpoch: 3 });
    expect(await publishedEpoch(redis, p)).toBe(3);
  });

  it('a fenced script writes with the current epoch and refuses an older one, writing nothing', async () => {
    const p = prefix();
    await publishEpoch(redis, p, 5);
    expect(await evalFenced(redis, p, TRANSITION, [`${p}node:a`], ['from-5'], 5)).toBe(1);
    await publishEpoch(redis, p, 6);
    const refused = await evalFenced(redis, p, TRANSITION, [`${p}node:a`], ['from-5-again'], 5).catch((err: unknown) => err);
    expect(refused).toMatchObject({ name: 'FencedOutError', epoch: 5, currentEpoch: 6 });
    expect(await redis.get(`${p}node:a`)).toBe('from-5');
    expect(await evalFenced(redis, p, TRANSITION, [`${p}node:a`], ['from-6'], 6)).toBe(1);
    expect(await redis.get(`${p}node:a`)).toBe('from-6');
  });

  it('a write with a newer epoch than published raises the key (a Redis that lost it), fencing older writers again', async () => {
    const p = prefix();
    expect(await evalFenced(redis, p, TRANSITION, [`${p}node:b`], ['from-9'], 9)).toBe(1);
    expect(await publishedEpoch(redis, p)).toBe(9);
    await expect(evalFenced(redis, p, TRANSITION, [`${p}node:b`], ['from-8'], 8)).rejects.toBeInstanceOf(FencedOutError);
    expect(await redis.get(`${p}node:b`)).toBe('from-9');
  });

  it('other script errors pass through unchanged', async () => {
    const p = prefix();
    const broken = withEpochFence("return redis.call('INCR', KEYS[1])");
    await redis.set(`${p}text`, 'not a number');
    const err = await evalFenced(redis, p, broken, [`${p}text`], [], 1).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(FencedOutError);
    expect(String(err)).toMatch(/not an integer/);
    await redis.del(`${p}text`, epochKey(p));
  });
});
