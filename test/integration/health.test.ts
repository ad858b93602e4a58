import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadControlPlaneConfig } from '../../src/config/controlPlane.js';
import { startControlPlane, type ControlPlane } from '../../src/controlPlane.js';
import { startAgentProcess } from '../support/agentProcess.js';
import { selectableUris, startKamailio, type KamailioInstance } from '../support/kamailio.js';
import { waitFor, type RunningProcess } from '../support/process.js';
import { controlPlaneServiceEnv, type Service, startMigratedServices } from '../support/services.js';
import { runSippUac } from '../support/sipp.js';
import { startStandin, type Standin } from '../standin/standin.js';

interface NodeView {
  nodeId: string;
  sipUri: string;
  state: string;
  health: string;
  healthScore?: number;
  worstSensor?: string;
  sensors?: { sensor: string; value: number; score: number }[];
}

/**
 * Health scores in routing: real Kamailio (general set on algorithm 11, relative weight), the
 * control plane in this process scoring every 300 ms with a 2 s recovery hold, the shipped
 * agents beside three FreeSWITCH stand-ins whose HEARTBEAT reports the idle CPU a test sets.
 * Where the stand-ins' SIP sides received INVITEs is the evidence; a transition hook (a real
 * executable from the plugins file) writes every transition, which shows there was no flapping.
 */
describe('health: a node whose idle CPU drops gets fewer, then no new calls, and comes back without flapping', () => {
  let db: Service;
  let redis: Service;
  let nats: Service;
  let k1: KamailioInstance;
  let cp: ControlPlane;
  let dir: string;
  let hookLog: string;
  const prefix = `health${randomBytes(3).toString('hex')}`;
  const nodes: { fs: Standin; agent: RunningProcess }[] = [];

  const views = async () => (await cp.app.inject('/v1/nodes')).json<{ nodes: NodeView[] }>().nodes.filter((n) => n.state !== 'gone');
  const viewOf = async (fs: Standin) => (await views()).find((n) => n.sipUri === fs.sipUri)!;
  /** INVITEs each stand-in received for `calls` new calls. */
  const spread = async (calls: number): Promise<number[]> => {
    const before = nodes.map((n) => n.fs.calls.length);
    const r = await runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: '9000', calls, rate: 50, holdMs: 100 });
    expect(r.successful).toBe(calls);
    return nodes.map((n, i) => n.fs.calls.length - before[i]!);
  };
  /** Transitions the hook wrote for one node, in order. */
  const transitionsOf = (nodeId: string) =>
    readFileSync(hookLog, 'utf8')
      .split('\n')
      .filter((l) => l.endsWith(` ${nodeId}`))
      .map((l) => l.split(' ')[0]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'health-test-'));
    hookLog = join(dir, 'transitions.log');
    writeFileSync(hookLog, '');
    const hook = join(dir, 'hook.sh');
    writeFileSync(hook, '#!/bin/sh\ncat >/dev/null\nprintf \'%s %s\\n\' "$SBC_HOOK_TRANSITION" "$SBC_NODE_ID" >>"$HOOK_LOG"\n');
    const sensor = join(dir, 'sensor.sh');
    // A custom sensor in another language than ours: always fine, so it never decides.
    writeFileSync(sensor, '#!/bin/sh\ncat >/dev/null\necho \'{"score":100,"value":1,"detail":"ok"}\'\n');
    chmodSync(hook, 0o755);
    chmodSync(sensor, 0o755);
    const plugins = join(dir, 'plugins.json');
    writeFileSync(
      plugins,
      JSON.stringify({
        sensors: [{ name: 'script-check', command: sensor, env: { PATH: '/usr/bin:/bin' }, timeoutMs: 2000 }],
        hooks: [{ name: 'log', on: ['degraded', 'critical', 'recovered', 'drained', 'gone'], command: hook, env: { PATH: '/usr/bin:/bin', HOOK_LOG: hookLog }, timeoutMs: 2000 }],
      }),
    );

    ({ db, redis, nats } = await startMigratedServices());
    k1 = await startKamailio({ dbUrl: db.url, env: { SBC_DS_ALG_GENERAL: '11' } });
    const config = loadControlPlaneConfig({
      ...controlPlaneServiceEnv({ nats, redis, db, prefix, kamailioRpcUrls: [k1.rpcUrl] }),
      SBC_DS_ALG_GENERAL: '11',
      SBC_RELOAD_DELTA_MS: '1000',
      SBC_RESYNC_MS: '2000',
      SBC_HEALTH_EVERY_MS: '300',
      SBC_HEALTH_HOLD_MS: '2000',
      SBC_HEALTH_HOLD_READINGS: '3',
      SBC_HEALTH_PLUGINS_FILE: plugins,
    });
    cp = await startControlPlane(config, pino({ level: 'silent' }));
    for (let i = 0; i < 3; i++) {
      // FreeSWITCH's HEARTBEAT every second (event-heartbeat-interval 1), the agent's every second (a 300 ms one left heartbeat jitter, 10 % of it, to a busy machine's scheduling).
      // ESL probes patient (a whole heartbeat, the longest the agent takes; 3 in a row) as in acceptance.test.ts: with 300 ms, a stand-in stalled by the
      // suite beside it was taken for lost (a `gone` amid the health transitions); this test is about health, not ESL loss.
      // sessions-per-second raised from FreeSWITCH's 30, as a farm taking bursts sets it: sipp's
      // 50 calls/s split over two nodes would otherwise (rightly) degrade them on session rate,
      // and this test is about idle CPU alone.
      const fs = await startStandin({ toneMs: 0, heartbeatMs: 1000, sessionsPerSecond: 1000 });
      nodes.push({ fs, agent: startAgentProcess(fs, { natsUrl: nats.url, prefix, heartbeatMs: 1000, eslTimeoutMs: 1000, env: { SBC_PROBES_BEFORE_LOST: '3' } }) });
    }
    await waitFor('three nodes selectable', async () => (await selectableUris(k1, 1)).length === 3, 20_000);
    await waitFor('every node scored healthy with its idle CPU', async () => {
      const v = await views();
      return v.length === 3 && v.every((n) => n.health === 'healthy' && n.sensors?.some((s) => s.sensor === 'idle-cpu'));
    }, 15_000);
  });

  afterAll(async () => {
    for (const n of nodes) await n.agent.stop('SIGKILL');
    for (const n of nodes) await n.fs.stop();
    await cp?.stop();
    await k1?.stop();
    await Promise.allSettled([nats?.stop(), redis?.stop(), db?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('healthy: an even share; idle CPU 15 %: degraded, a smaller share; 2 %: critical, none; back at 80 %: healthy again, each step once', async () => {
    const [a] = nodes as [(typeof nodes)[number]];
    const aId = (await viewOf(a.fs)).nodeId;

    const even = await spread(90);
    expect(Math.min(...even)).toBeGreaterThanOrEqual(20);

    // 15 % idle scores 40 on the default 30 -> 5 ramp: degraded, weight 100 -> 40.
    a.fs.setIdleCpu(15);
    // Degraded by its idle CPU: on a busy machine heartbeat jitter may degrade a node first (a true reading).
    await waitFor('A degraded by idle CPU', async () => {
      const v = await viewOf(a.fs);
      return v.health === 'degraded' && v.worstSensor === 'idle-cpu';
    }, 10_000);
    const av = await viewOf(a.fs);
    expect(av).toMatchObject({ healthScore: 40, worstSensor: 'idle-cpu' });
    expect(av.sensors?.find((s) => s.sensor === 'idle-cpu')).toMatchObject({ value: 15, score: 40 });
    expect(av.sensors?.find((s) => s.sensor === 'script-check')).toMatchObject({ value: 1, score: 100 });
    expect(await selectableUris(k1, 1)).toHaveLength(3);
    await waitFor('A weighted 40 in Kamailio', async () => JSON.stringify(await k1.rpc('dispatcher.list')).includes(`rweight=40`), 10_000);
    const [onA, ...others] = await spread(120);
    // rweight 40 of 240: a sixth of the calls (20 of 120), the others about 50 each.
    expect(onA).toBeGreaterThanOrEqual(10);
    expect(onA).toBeLessThanOrEqual(30);
    for (const n of others) expect(n).toBeGreaterThanOrEqual(40);

    // 2 % idle: critical, out of new selection; its row stays (disabled), so hashed rooms keep their nodes.
    a.fs.setIdleCpu(2);
    await waitFor('A critical', async () => (await viewOf(a.fs)).health === 'critical', 10_000);
    await waitFor('A not selectable', async () => (await selectableUris(k1, 1)).length === 2, 10_000);
    const none = await spread(60);
    expect(none[0]).toBe(0);
    expect(none[1]! + none[2]!).toBe(60);

    // Recovering, the idle CPU wobbles around the degraded line (21 % scores 64, 24 % 76; healthy needs 80):
    // one step up to degraded, and no more until it is truly well.
    a.fs.setIdleCpu(24);
    await waitFor('A back to degraded after the hold', async () => (await viewOf(a.fs)).health === 'degraded', 15_000);
    for (let i = 0; i < 10; i++) {
      a.fs.setIdleCpu(i % 2 === 0 ? 21 : 24);
      await new Promise((r) => setTimeout(r, 400));
      expect((await viewOf(a.fs)).health).toBe('degraded');
    }
    a.fs.setIdleCpu(80);
    await waitFor('A healthy after the hold', async () => (await viewOf(a.fs)).health === 'healthy', 15_000);
    await waitFor('A selectable at full weight', async () => (await selectableUris(k1, 1)).length === 3 && !JSON.stringify(await k1.rpc('dispatcher.list')).includes('rweight=40'), 10_000);
    const back = await spread(90);
    expect(back[0]).toBeGreaterThanOrEqual(20);

    // Every transition once, in order; the other nodes had none.
    await waitFor('the hook ran for the recovery', () => transitionsOf(aId).includes('recovered'), 5000);
    expect(transitionsOf(aId)).toEqual(['degraded', 'critical', 'degraded', 'recovered']);
    for (const n of nodes.slice(1)) {
      const v = await viewOf(n.fs);
      expect(transitionsOf(v.nodeId), JSON.stringify(v)).toEqual([]);
    }
    const metrics = (await cp.app.inject('/metrics')).body;
    expect(metrics).toContain('sbc_health_hook_runs_total{hook="log",transition="critical",outcome="ok"} 1');
    expect(metrics).toMatch(new RegExp(`sbc_node_sensor_value\\{node="${aId}",sensor="idle-cpu"\\} 80`));
  });
});
