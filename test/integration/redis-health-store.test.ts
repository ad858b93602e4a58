import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HealthReport } from '../../src/core/health.js';
import { RedisHealthStore } from '../../src/redis/redisHealthStore.js';
import { startRedis, type Service } from '../support/services.js';

describe('RedisHealthStore (real Redis)', () => {
  let service: Service;
  let redis: Redis;
  let prefix: string;
  let store: RedisHealthStore;
  const corrupt: [string, string][] = [];
  const report = (score: number, state: HealthReport['state']): HealthReport => ({
    state,
    since: 1000,
    score,
    worst: 'idle-cpu',
    readings: [{ sensor: 'idle-cpu', value: 12.5, score, at: 2000, detail: 'x' }],
    at: 2000,
    pendingUp: { to: 'healthy', since: 1500, readings: 2 },
  });

  beforeAll(async () => {
    service = await startRedis();
    redis = new Redis(service.url);
    prefix = `t${randomBytes(4).toString('hex')}:`;
    store = new RedisHealthStore(redis, prefix, (id, reason) => corrupt.push([id, reason]));
  });
  afterAll(async () => {
    await redis.quit();
    await service.stop();
  });

  it('writes, replaces and forgets reports in one step, and reads them back whole', async () => {
    await store.write(new Map([['a', report(40, 'degraded')], ['b', report(100, 'healthy')]]), []);
    expect(await store.all()).toEqual(new Map([['a', report(40, 'degraded')], ['b', report(100, 'healthy')]]));
    await store.write(new Map([['a', report(10, 'critical')]]), ['b']);
    expect(await store.all()).toEqual(new Map([['a', report(10, 'critical')]]));
    await store.write(new Map(), []);
    expect((await store.all()).size).toBe(1);
  });

  it('skips and reports a field that is not a report, keeping the others', async () => {
    await redis.hset(`${prefix}health`, 'junk', '{"state":"sleepy"}', 'broken', '{');
    const all = await store.all();
    expect([...all.keys()]).toEqual(['a']);
    expect(corrupt.map(([id]) => id).sort()).toEqual(['broken', 'junk']);
  });
});
