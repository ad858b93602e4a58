import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadControlPlaneConfig } from '../../src/config/controlPlane.js';
import { startControlPlane, type ControlPlane } from '../../src/controlPlane.js';
import { selectableUris, startKamailio, type KamailioInstance } from '../support/kamailio.js';
import { waitFor } from '../support/process.js';
import { controlPlaneServiceEnv, type Service, startMigratedServices } from '../support/services.js';
import { runSippUac } from '../support/sipp.js';
import { StandinPool } from '../support/standinPool.js';

interface NodeView { nodeId: string; machineId: string; sipUri: string; state: string }

/**
 * Scaling through the API with the `command` provisioner: the configured command is a real
 * executable the control plane runs (env SBC_SCALE_REPLICAS / SBC_SCALE_REMOVE, JSON on
 * stdin); it hands the request to this test, which starts and stops stand-in FreeSWITCH
 * nodes with real agents, the way an orchestrator would. Real Kamailio, NATS, Redis, Postgres.
 */
describe('scale 3 -> 5 -> 2 with the command provisioner, under continuous calls', () => {
  let db: Service;
  let redis: Service;
  let nats: Service;
  let k1: KamailioInstance;
  let cp: ControlPlane;
  let pool: StandinPool;
  const prefix = `scale${randomBytes(3).toString('hex')}`;
  const requests: Array<{ replicas: number; remove: readonly string[]; removedStates: string[]; removedSessions: number[] }> = [];

  const nodes = async () => (await cp.app.inject('/v1/nodes')).json<{ nodes: NodeView[] }>().nodes.filter((n) => n.state !== 'gone');
  const selectable = () => selectableUris(k1, 1);

  beforeAll(async () => {
    ({ db, redis, nats } = await startMigratedServices());
    // The orchestrator checks each request before it acts: every machine named must be drained, with no call left.
    pool = await StandinPool.start({ natsUrl: nats.url, prefix }, async (r) => {
      const before = await nodes();
      requests.push({
        replicas: r.replicas,
        remove: r.remove,
        removedStates: r.remove.map((id) => before.find((n) => n.machineId === id)?.state ?? 'unknown'),
        removedSessions: r.remove.map((id) => pool.machines.get(id)?.fs.activeSessions() ?? -1),
      });
    });
    k1 = await startKamailio({ dbUrl: db.url, frTimerMs: 4000 });
    const config = loadControlPlaneConfig({
      ...controlPlaneServiceEnv({ nats, redis, db, prefix, kamailioRpcUrls: [k1.rpcUrl] }),
      SBC_RELOAD_DELTA_MS: '1000',
      SBC_RESYNC_MS: '2000',
      SBC_PROVISIONER: 'command',
      SBC_SCALE_COMMAND: pool.command,
      SBC_SCALE_COMMAND_TIMEOUT_MS: '30000',
      SBC_SCALE_RETRY_MS: '3000',
    });
    cp = await startControlPlane(config, pino({ level: 'silent' }));
    for (let i = 0; i < 3; i++) await pool.startMachine();
    await waitFor('three nodes selectable', async () => (await selectable()).length === 3, 20_000);
    await waitFor('the control plane leads', () => cp.election.isLeader(), 10_000);
  });

  afterAll(async () => {
    await pool?.stop();
    await cp?.stop();
    await k1?.stop();
    await Promise.allSettled([nats?.stop(), redis?.stop(), db?.stop()]);
  });

  it('no call dropped; the new nodes take calls; every removed node was drained first, and only drained ones were removed', async () => {
    // Continuous calls through Kamailio for the whole test: 25 s at 10 calls/s, each held 1.5 s.
    const load = runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: '9000', calls: 250, rate: 10, holdMs: 1500 });

    const up = await cp.app.inject({ method: 'POST', url: '/v1/scale', headers: { 'content-type': 'application/json' }, payload: { replicas: 5 } });
    expect(up.statusCode).toBe(202);
    expect(up.json()).toMatchObject({ target: { replicas: 5 }, provisioner: 'command' });
    await waitFor('five nodes selectable', async () => (await selectable()).length === 5, 20_000);
    const five = await nodes();
    expect(five).toHaveLength(5);
    // The two new nodes take calls.
    const newest = [...pool.machines.keys()].slice(3);
    await waitFor('the new nodes carry calls', () => newest.every((id) => (pool.machines.get(id)?.fs.calls.length ?? 0) > 0), 10_000);

    const down = await cp.app.inject({ method: 'POST', url: '/v1/scale', headers: { 'content-type': 'application/json' }, payload: { replicas: 2 } });
    expect(down.statusCode).toBe(202);
    await waitFor('two nodes left, settled', async () => {
      const s = (await cp.app.inject('/v1/scale')).json<{ settled: boolean; nodes: unknown[] }>();
      return s.settled && s.nodes.length === 2 && pool.machines.size === 2;
    }, 40_000);

    const result = await load;
    expect(result.failed).toBe(0);
    expect(result.successful).toBe(250);
    // Every node that was removed had been drained first, and had no call at the time.
    const removals = requests.filter((r) => r.remove.length > 0);
    expect(removals.flatMap((r) => r.remove)).toHaveLength(3);
    for (const r of removals) {
      expect(r.removedStates).toEqual(r.remove.map(() => 'drained'));
      expect(r.removedSessions).toEqual(r.remove.map(() => 0));
    }
    // The first request grew the pool to 5 and removed nothing.
    expect(requests[0]).toMatchObject({ replicas: 5, remove: [] });
    // The audit log tells it: the scale requests, the scale drains, the provisioner's work.
    const ops = (await cp.app.inject('/v1/operations?limit=100')).json<{ operations: Array<{ kind: string; outcome: string; detail: { by?: string } }> }>().operations;
    expect(ops.filter((o) => o.kind === 'scale').length).toBe(2);
    expect(ops.filter((o) => o.kind === 'drain' && o.detail.by === 'scale').length).toBe(3);
    expect(ops.filter((o) => o.kind === 'provision' && o.outcome === 'done').length).toBe(pool.requests.length);
    expect(ops.filter((o) => o.outcome === 'failed')).toEqual([]);
  });
});
