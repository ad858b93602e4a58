import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { RedisNodeRegistry } from '../../src/redis/redisNodeRegistry.js';
import { ingestNodeMessage } from '../../src/registry/membership.js';
import type { NodeMessage } from '../../src/events/schemas.js';
import { startRedis, type Service } from '../support/services.js';
import { FencedOutError } from '../../src/leader/fencedOut.js';
import { publishEpoch } from '../../src/redis/epochFence.js';

const uuid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const hb = (n: number, seq: number): NodeMessage => ({
  kind: 'heartbeat',
  msg: { v: 1, nodeId: uuid(n), seq, sentAt: 0, sipUri: `sip:10.0.0.${n}:5080`, hostname: 'fs', capacity: 10, sessions: 0, agentVersion: '1', heartbeatIntervalMs: 1000 },
});
const membership = { heartbeatMisses: 3, goneRetentionMs: 1000, maxClockSkewMs: 60_000 };

describe('RedisNodeRegistry (real Redis)', () => {
  let service: Service;
  let redis: Redis;
  let registry: RedisNodeRegistry;
  const corrupt: string[] = [];

  beforeAll(async () => {
    service = await startRedis();
    redis = new Redis(service.url);
    registry = new RedisNodeRegistry(redis, `t${randomBytes(4).toString('hex')}:`, (id) => corrupt.push(id));
  });
  afterAll(async () => {
    await redis.quit();
    await service.stop();
  });

  it('stores, lists and reads back nodes, with unique slots', async () => {
    for (let i = 1; i <= 3; i++) await ingestNodeMessage(registry, hb(i, 1), Date.now, membership);
    const nodes = await registry.list();
    expect(nodes.map((n) => n.nodeId).sort()).toEqual([uuid(1), uuid(2), uuid(3)]);
    expect(new Set(nodes.map((n) => n.slot)).size).toBe(3);
    expect(await registry.get(uuid(2))).toMatchObject({ sipUri: 'sip:10.0.0.2:5080', state: 'joining' });
  });

  it('finds the nodes at an address through its index, following a node that moves and one that expires', async () => {
    const at = async (uri: string) => (await registry.atAddress(uri)).map((n) => n.nodeId).sort();
    await ingestNodeMessage(registry, hb(40, 1), Date.now, membership);
    await ingestNodeMessage(registry, hb(41, 1), Date.now, membership);
    expect(await at('sip:10.0.0.40:5080')).toEqual([uuid(40)]);
    // Node 41 moves to a new address: the old index no longer lists it.
    const base = hb(41, 2);
    if (base.kind !== 'heartbeat') throw new Error('hb() makes heartbeats');
    const moved: NodeMessage = { kind: 'heartbeat', msg: { ...base.msg, sipUri: 'sip:10.0.0.99:5080' } };
    await ingestNodeMessage(registry, moved, Date.now, membership);
    expect(await at('sip:10.0.0.41:5080')).toEqual([]);
    expect(await at('sip:10.0.0.99:5080')).toEqual([uuid(41)]);
    // A record that expired leaves its id in the index; reading drops it.
    const cur = (await registry.get(uuid(40)))!;
    await registry.put({ ...cur, rev: cur.rev + 1 }, cur.rev, 1, cur);
    await new Promise((r) => setTimeout(r, 20));
    expect(await at('sip:10.0.0.40:5080')).toEqual([]);
    expect(await redis.smembers(`${(registry as unknown as { prefix: string }).prefix}uri:sip:10.0.0.40:5080`)).toEqual([]);
  });

  it('refuses a write whose expected revision is out of date (compare-and-set)', async () => {
    const cur = (await registry.get(uuid(1)))!;
    expect(await registry.put({ ...cur, rev: cur.rev + 1, sessions: 7 }, cur.rev, 10_000)).toBe(true);
    expect(await registry.put({ ...cur, rev: cur.rev + 1, sessions: 9 }, cur.rev, 10_000)).toBe(false);
    expect((await registry.get(uuid(1)))?.sessions).toBe(7);
    expect(await registry.put({ ...cur, nodeId: uuid(1) }, undefined, 10_000)).toBe(false);
  });

  it("a transition carrying the leader's epoch is refused in the same script once a newer leader published its own", async () => {
    const prefix = `f${randomBytes(4).toString('hex')}:`;
    const fencedRegistry = new RedisNodeRegistry(redis, prefix);
    await ingestNodeMessage(fencedRegistry, hb(70, 1), Date.now, membership);
    const cur = (await fencedRegistry.get(uuid(70)))!;
    await publishEpoch(redis, prefix, 3);
    // The current leader's write goes through; an old leader's is refused and writes nothing.
    expect(await fencedRegistry.put({ ...cur, rev: cur.rev + 1, sessions: 1 }, cur.rev, 10_000, cur, 3)).toBe(true);
    await publishEpoch(redis, prefix, 4);
    const err = await fencedRegistry.put({ ...cur, rev: cur.rev + 2, state: 'gone' }, cur.rev + 1, 10_000, cur, 3).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FencedOutError);
    expect(err).toMatchObject({ store: 'redis', epoch: 3, currentEpoch: 4 });
    expect(await fencedRegistry.get(uuid(70))).toMatchObject({ state: 'joining', sessions: 1 });
    // A write without an epoch (a node message any replica ingests) is not fenced.
    expect(await fencedRegistry.put({ ...cur, rev: cur.rev + 2, sessions: 2 }, cur.rev + 1, 10_000, cur)).toBe(true);
  });

  it('applies concurrent messages for one node without losing the newest', async () => {
    const results = await Promise.all([5, 3, 9, 7, 4].map((seq) => ingestNodeMessage(registry, hb(4, seq), Date.now, membership)));
    expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
    expect((await registry.get(uuid(4)))?.seq).toBe(9);
  });

  it('raises the slot counter so a recovered slot is never handed out again', async () => {
    const next = await registry.allocateSlot();
    await registry.ensureSlotAtLeast(next + 10);
    expect(await registry.allocateSlot()).toBe(next + 11);
    await registry.ensureSlotAtLeast(3); // never lowers it
    expect(await registry.allocateSlot()).toBe(next + 12);
  });

  it('forgets expired records and drops their ids from the index', async () => {
    const cur = (await registry.get(uuid(3)))!;
    await registry.put({ ...cur, rev: cur.rev + 1 }, cur.rev, 50);
    await new Promise((r) => setTimeout(r, 120));
    expect((await registry.list()).some((n) => n.nodeId === uuid(3))).toBe(false);
    expect(await registry.get(uuid(3))).toBeUndefined();
  });

  it('skips and reports a record that is not ours instead of failing the listing', async () => {
    const prefix = `c${randomBytes(4).toString('hex')}:`;
    const r2 = new RedisNodeRegistry(redis, prefix, (id) => corrupt.push(id));
    await ingestNodeMessage(r2, hb(5, 1), Date.now, membership);
    await redis.set(`${prefix}node:${uuid(6)}`, '{"nodeId":"x"');
    await redis.sadd(`${prefix}nodes`, uuid(6));
    expect((await r2.list()).map((n) => n.nodeId)).toEqual([uuid(5)]);
    expect(corrupt).toContain(uuid(6));
  });

  describe('machines', () => {
    /** Each test its own prefix: machine records have no TTL. */
    const fresh = () => new RedisNodeRegistry(redis, `m${randomBytes(4).toString('hex')}:`, (id) => corrupt.push(id));
    const restart = (n: number, seq: number, sipUri: string): NodeMessage => {
      const base = hb(n, seq);
      if (base.kind !== 'heartbeat') throw new Error('hb() makes heartbeats');
      return { kind: 'joined', msg: { ...base.msg, sipUri, reason: 'start' } };
    };

    it('keeps one record per machine, without a TTL, under the prefix, read back and listed', async () => {
      const r = fresh();
      await ingestNodeMessage(r, hb(1, 1), Date.now, membership);
      const prefix = (r as unknown as { prefix: string }).prefix;
      expect(await r.getMachine('10.0.0.1:5080')).toEqual({ machineId: '10.0.0.1:5080', slot: 1, nodeId: uuid(1), rev: 1 });
      expect(await redis.pttl(`${prefix}machine:10.0.0.1:5080`)).toBe(-1);
      expect(await redis.smembers(`${prefix}machines`)).toEqual(['10.0.0.1:5080']);
      const m = (await r.getMachine('10.0.0.1:5080'))!;
      expect(await r.putMachine({ ...m, cordoned: true, drain: { deadline: 99 }, weightOverride: 7, rev: 2 }, 1)).toBe(true);
      expect(await r.putMachine({ ...m, rev: 2 }, 1)).toBe(false); // compare-and-set
      expect(await r.putMachine({ ...m, machineId: 'other', rev: 1 }, 1)).toBe(false); // none there yet
      expect(await r.listMachines()).toEqual([{ ...m, cordoned: true, drain: { deadline: 99 }, weightOverride: 7, rev: 2 }]);
    });

    it('a FreeSWITCH restarted on its machine (new Core-UUID, same address) gets its slot back; a new machine a fresh one', async () => {
      const r = fresh();
      for (const n of [1, 2, 3]) await ingestNodeMessage(r, hb(n, 1), Date.now, membership);
      const before = new Map((await r.list()).map((n) => [n.sipUri, n.slot]));
      await ingestNodeMessage(r, { kind: 'left', msg: { v: 1, nodeId: uuid(2), seq: 2, sentAt: 0, reason: 'core-uuid-changed' } }, Date.now, membership);
      const restarted = await ingestNodeMessage(r, restart(9, 3, 'sip:10.0.0.2:5080'), Date.now, membership);
      expect(restarted.record).toMatchObject({ machineId: '10.0.0.2:5080', slot: before.get('sip:10.0.0.2:5080') });
      expect(await r.getMachine('10.0.0.2:5080')).toMatchObject({ nodeId: uuid(9), rev: 2 });
      const added = await ingestNodeMessage(r, hb(4, 1), Date.now, membership);
      expect(added.record!.slot).toBeGreaterThan(Math.max(...before.values()));
      const live = (await r.list()).filter((n) => n.state !== 'gone');
      expect(new Set(live.map((n) => n.slot)).size).toBe(live.length);
    });

    it('new nodes racing for one machine never share its slot (the machine is claimed by compare-and-set first)', async () => {
      const r = fresh();
      const claims = await Promise.all([1, 2, 3, 4].map((n) => {
        const base = restart(10 + n, 1, `sip:10.0.1.${n}:5080`);
        if (base.kind !== 'joined') throw new Error('restart() makes joins');
        return ingestNodeMessage(r, { kind: 'joined', msg: { ...base.msg, machineId: 'shared' } }, Date.now, membership);
      }));
      const slots = claims.map((c) => c.record!.slot);
      expect(new Set(slots).size).toBe(4);
      const machine = (await r.getMachine('shared'))!;
      expect((await r.get(machine.nodeId))!.slot).toBe(machine.slot);
    });

    it('reads a node record written before machines with the machine of its address, and reports a broken machine record', async () => {
      const r = fresh();
      await ingestNodeMessage(r, hb(7, 1), Date.now, membership);
      const prefix = (r as unknown as { prefix: string }).prefix;
      const { machineId: _m, ...old } = (await r.get(uuid(7)))!;
      await redis.set(`${prefix}node:${uuid(7)}`, JSON.stringify(old), 'PX', 10_000);
      expect(await r.get(uuid(7))).toMatchObject({ machineId: '10.0.0.7:5080' });
      await redis.set(`${prefix}machine:bad`, '{"machineId":"bad","slot":"x"}');
      await redis.sadd(`${prefix}machines`, 'bad');
      expect((await r.listMachines()).map((m) => m.machineId)).toEqual(['10.0.0.7:5080']);
      expect(corrupt).toContain('machine:bad');
    });
  });
});
