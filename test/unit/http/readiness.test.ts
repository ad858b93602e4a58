import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeKamailios, reconcilerReadiness } from '../../../src/http/readiness.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { Reconciler } from '../../../src/reconciler/reconciler.js';
import { policy } from '../core/fixtures.js';
import { silentLogger } from '../../fakes/silentLogger.js';
import { fakes, managed, testApp, type TestApp } from './harness.js';

const membership = { heartbeatMisses: 3, goneRetentionMs: 60_000, maxClockSkewMs: 60_000 };
const STALE_MS = 30_000;

describe('/readyz: the reconciler check', () => {
  let t: TestApp;
  let rec: Reconciler;
  let clock: number;

  /** The app's /readyz over a real Reconciler driven by the same in-memory fakes (k1 up, k2 down). */
  async function setUp() {
    // Before the fixture nodes' deadlines (expiresAt 7000), so no pass expires them.
    clock = 5_000;
    const now = () => clock;
    const f = await fakes();
    rec = new Reconciler({
      registry: f.registry, store: f.store, kamailios: f.kamailios, policy, managedSets: managed, membership,
      reloadDeltaMs: 0, resyncMs: 10_000, unknownNodeGraceMs: 5000, logger: silentLogger, metrics: createMetrics(), now,
    });
    t = await testApp({ readiness: { reconciler: reconcilerReadiness(rec, STALE_MS, now) } }, f);
  }
  afterEach(async () => {
    await rec.stop();
    await t.app.close();
  });

  const readyz = async () => {
    const res = await t.app.inject('/readyz');
    return [res.statusCode, res.json<unknown>()];
  };

  it('503 when a pass succeeded but no Kamailio was in sync in it; 200 once one is, naming each', async () => {
    await setUp();
    t.kamailios[0].down = true;
    const all = await rec.runOnce();
    expect(all.kamailios.map((k) => k.inSync)).toEqual([false, false]);
    expect(rec.lastSuccessAt).toBe(clock);
    expect(await readyz()).toEqual([
      503,
      {
        ready: false,
        checks: {
          reconciler: { ok: false, detail: 'no Kamailio in sync: failing: http://k1/RPC (dispatcher.list: ECONNREFUSED), http://k2/RPC (dispatcher.list: ECONNREFUSED)' },
        },
      },
    ]);

    t.kamailios[0].down = false;
    await rec.runOnce();
    expect(await readyz()).toEqual([
      200,
      { ready: true, checks: { reconciler: { ok: true, detail: 'in sync: http://k1/RPC; failing: http://k2/RPC (dispatcher.list: ECONNREFUSED)' } } },
    ]);
  });

  it('503 before any pass, once the last success is stale, and while passes fail', async () => {
    await setUp();
    expect(await readyz()).toEqual([503, { ready: false, checks: { reconciler: { ok: false, detail: 'no successful reconcile yet' } } }]);
    await rec.runOnce();
    clock += STALE_MS + 1;
    expect(await readyz()).toEqual([
      503,
      { ready: false, checks: { reconciler: { ok: false, detail: 'last successful reconcile 30001 ms ago (limit 30000 ms)' } } },
    ]);
    clock -= STALE_MS;
    expect((await readyz())[0]).toBe(200);

    // The table cannot be written: the loop's passes fail, and readiness says so at once.
    t.store.sync = () => Promise.reject(new Error('connection terminated'));
    rec.start();
    await vi.waitFor(() => expect(rec.failedPassesSinceSuccess).toBeGreaterThan(0));
    await rec.stop();
    expect(await readyz()).toEqual([
      503,
      { ready: false, checks: { reconciler: { ok: false, detail: `${rec.failedPassesSinceSuccess} reconcile pass(es) failed since the last success, 1 ms ago` } } },
    ]);
  });

  it('describes a Kamailio waiting for its reload window apart from one failing', () => {
    expect(
      describeKamailios([
        { kamailio: 'k1', inSync: true, reloaded: true, deselected: 0 },
        { kamailio: 'k2', inSync: false, reloaded: false, deselected: 1, waitMs: 300 },
        { kamailio: 'k3', inSync: false, reloaded: false, deselected: 0, error: 'k3 dispatcher.reload: still differs after reload' },
      ]),
    ).toBe('in sync: k1; awaiting reload: k2; failing: k3 (dispatcher.reload: still differs after reload)');
    expect(describeKamailios([])).toBe('no Kamailio configured');
  });
});
