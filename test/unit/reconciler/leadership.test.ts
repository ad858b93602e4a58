import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { NodeMessage } from '../../../src/events/schemas.js';
import { FencedOutError } from '../../../src/leader/fencedOut.js';
import { NotLeaderError, type Leadership } from '../../../src/leader/leadership.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { Reconciler } from '../../../src/reconciler/reconciler.js';
import { ingestNodeMessage } from '../../../src/registry/membership.js';
import { FakeStore } from '../../fakes/fakeDispatcherStore.js';
import { FakeKamailio } from '../../fakes/fakeKamailio.js';
import { InMemoryNodeRegistry } from '../../fakes/inMemoryNodeRegistry.js';
import { silentLogger } from '../../fakes/silentLogger.js';
import { policy } from '../core/fixtures.js';

const managed = new Set([1, 2, 3]);
const membership = { heartbeatMisses: 3, goneRetentionMs: 60_000, maxClockSkewMs: 60_000 };
const uuid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const joined = (n: number, seq = 1): NodeMessage => ({
  kind: 'joined',
  msg: { v: 1, nodeId: uuid(n), seq, sentAt: 0, sipUri: `sip:10.0.0.${n}:5080`, hostname: `fs${n}`, capacity: 100, sessions: 0, agentVersion: '1', heartbeatIntervalMs: 2000, reason: 'start' },
});

/** An election as the steps see it: the epoch while leading, and what it was told. */
class FakeLeadership implements Leadership {
  current: number | undefined = 5;
  readonly refusals: FencedOutError[] = [];
  epoch(): number | undefined {
    return this.current;
  }
  fencedOut(err: FencedOutError): void {
    this.refusals.push(err);
    this.current = undefined;
  }
}

describe('reconcile under a fenced leader', () => {
  let t: number;
  let registry: InMemoryNodeRegistry;
  let store: FakeStore;
  let kam: FakeKamailio;
  let leadership: FakeLeadership;
  let metrics: ReturnType<typeof createMetrics>;
  let rec: Reconciler;
  const now = () => t;
  const fenced = async () =>
    ((await metrics.registry.getSingleMetric('sbc_fenced_writes_total')?.get())?.values ?? []).map((v) => [v.labels.store, v.value]);

  beforeEach(() => {
    t = 1_000_000;
    vi.useFakeTimers({ toFake: ['performance'] });
    registry = new InMemoryNodeRegistry();
    store = new FakeStore(managed);
    store.epoch = 5;
    registry.epoch = 5;
    kam = new FakeKamailio('k1', store, 1000, () => performance.now());
    leadership = new FakeLeadership();
    metrics = createMetrics();
    rec = new Reconciler({
      registry, store, kamailios: [kam], policy, managedSets: managed, membership, leadership,
      reloadDeltaMs: 1000, resyncMs: 10_000, unknownNodeGraceMs: 5000, logger: silentLogger, metrics, now,
    });
    return () => vi.useRealTimers();
  });

  /** A new leader's first reload waits one window from its first pass (see the reconciler tests). */
  const pastFirstWindow = async () => {
    await rec.runOnce();
    vi.advanceTimersByTime(1001);
  };

  it('the leader writes the table with its epoch, reloads (after its first window) and promotes as before', async () => {
    await ingestNodeMessage(registry, joined(1), now, membership);
    const first = await rec.runOnce();
    expect(first.kamailios[0]).toMatchObject({ inSync: false, reloaded: false });
    expect(store.rows).toHaveLength(3);
    vi.advanceTimersByTime(1001);
    const r = await rec.runOnce();
    expect(r.kamailios[0]).toMatchObject({ inSync: true, reloaded: true });
    expect(r.transitions.map((x) => x.to)).toEqual(['active']);
    expect(await fenced()).toEqual([]);
  });

  it('a replica that does not lead runs no step at all', async () => {
    leadership.current = undefined;
    await ingestNodeMessage(registry, joined(1), now, membership);
    const err = await rec.runOnce().catch((e: unknown) => e);
    expect((err as Error).cause).toBeInstanceOf(NotLeaderError);
    expect(store.syncs).toBe(0);
    expect(kam.calls).toEqual([]);
  });

  it('a table write under an old epoch is refused: counted, the replica steps down, no Kamailio is touched', async () => {
    await ingestNodeMessage(registry, joined(1), now, membership);
    store.epoch = 6; // a newer leader was elected meanwhile
    await expect(rec.runOnce()).rejects.toThrow(/postgres refused a write of epoch 5/);
    expect(store.rows).toEqual([]);
    expect(kam.calls).toEqual([]);
    expect(leadership.refusals.map((e) => [e.store, e.epoch, e.currentEpoch])).toEqual([['postgres', 5, 6]]);
    expect(await fenced()).toEqual([['postgres', 1]]);
  });

  it("a node transition under an old epoch is refused by the registry's own script: nothing stored, counted, stepped down", async () => {
    await ingestNodeMessage(registry, joined(1), now, membership);
    await pastFirstWindow();
    await rec.runOnce();
    expect((await registry.get(uuid(1)))?.state).toBe('active');
    registry.epoch = 6;
    t += 10_000; // node 1 is past its deadline: an expiry is due
    await expect(rec.runOnce()).rejects.toThrow(/redis refused a write of epoch 5/);
    expect((await registry.get(uuid(1)))?.state).toBe('active');
    expect(await fenced()).toEqual([['redis', 1]]);
    expect(leadership.refusals).toHaveLength(1);
  });

  it('leadership lost in the middle of a pass (lease ran out): the Kamailio is not reloaded', async () => {
    await pastFirstWindow();
    kam.calls = [];
    await ingestNodeMessage(registry, joined(1), now, membership);
    const sync = store.sync.bind(store);
    store.sync = async (...args) => {
      const r = await sync(...args);
      leadership.current = undefined; // the lease ends while the table is written
      return r;
    };
    const err = await rec.runOnce().catch((e: unknown) => e);
    expect((err as Error).cause).toBeInstanceOf(NotLeaderError);
    expect(kam.calls).toEqual(['list']);
  });
});
