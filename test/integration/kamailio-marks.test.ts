import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadControlPlaneConfig } from '../../src/config/controlPlane.js';
import { startControlPlane, type ControlPlane } from '../../src/controlPlane.js';
import { parseDispatcherList } from '../../src/kamailio/answers.js';
import { startAgentProcess } from '../support/agentProcess.js';
import { startKamailio, type KamailioInstance } from '../support/kamailio.js';
import { waitFor, type RunningProcess } from '../support/process.js';
import { controlPlaneServiceEnv, type Service, startMigratedServices } from '../support/services.js';
import { runSippUac } from '../support/sipp.js';
import { startStandin, type Standin } from '../standin/standin.js';

/**
 * Kamailio's own marks are a sensor: real Kamailio 5.6.3 with routing.lua, the control plane
 * resyncing every second, two FreeSWITCH stand-ins each with the shipped agent. One node's
 * SIP side stops answering while its agent keeps heartbeating (ESL is fine, so nothing but
 * the failed call tells). routing.lua marks it inactive after the first failed call; the
 * control plane must respect that mark for SBC_KAMAILIO_MARK_HOLD_MS instead of reloading
 * it away at the next resync, and then set it active again.
 */
const HOLD_MS = 8000;
const HEARTBEAT_MS = 1000;

describe('Kamailio marks a node that failed a call: held, reported, then cleared', () => {
  let db: Service;
  let redis: Service;
  let nats: Service;
  let kamailio: KamailioInstance;
  let cp: ControlPlane;
  const prefix = `mk${randomBytes(3).toString('hex')}`;
  const nodes: { fs: Standin; agent: RunningProcess }[] = [];

  beforeAll(async () => {
    ({ db, redis, nats } = await startMigratedServices());
    kamailio = await startKamailio({ dbUrl: db.url, frTimerMs: 800 });
    cp = await startControlPlane(
      loadControlPlaneConfig({
        ...controlPlaneServiceEnv({ nats, redis, db, prefix, kamailioRpcUrls: [kamailio.rpcUrl] }),
        SBC_RELOAD_DELTA_MS: '1000',
        SBC_RESYNC_MS: '1000',
        SBC_KAMAILIO_MARK_HOLD_MS: String(HOLD_MS),
      }),
      pino({ level: 'warn' }),
    );
    for (let i = 0; i < 2; i++) {
      const fs = await startStandin({ toneMs: 0 });
      const agent = startAgentProcess(fs, { natsUrl: nats.url, prefix, heartbeatMs: HEARTBEAT_MS, eslTimeoutMs: 800 });
      nodes.push({ fs, agent });
    }
  });

  afterAll(async () => {
    for (const n of nodes) await n.agent.stop('SIGKILL');
    for (const n of nodes) await n.fs.stop();
    await cp?.stop();
    await kamailio?.stop();
    await Promise.all([nats?.stop(), redis?.stop(), db?.stop()]);
  });

  const set1 = async () => {
    const answer = await kamailio.rpc('dispatcher.list').catch((err: unknown) => {
      if (/No Destination Sets/.test(String(err))) return { RECORDS: [] };
      throw err;
    });
    return parseDispatcherList(answer).destinations.filter((d) => d.setId === 1).map((d) => ({ uri: d.uri, flags: d.flags }));
  };
  const reloads = async () =>
    ((await cp.metrics.registry.getSingleMetric('sbc_kamailio_rpc_total')?.get())?.values ?? [])
      .filter((v) => v.labels.method === 'dispatcher.reload' && v.labels.outcome === 'ok')
      .reduce((s, v) => s + v.value, 0);
  const marked = async () => ((await cp.metrics.registry.getSingleMetric('sbc_kamailio_marked')?.get())?.values ?? []).map((v) => [v.labels.node, v.value]);
  const callsTo = (fs: Standin) => fs.calls.length;
  const place = (calls: number) => runSippUac({ target: `127.0.0.1:${kamailio.sipPort}`, service: '9000', calls, rate: 10, concurrency: 1, holdMs: 10 });

  it('after the first failed call the silent node gets no call for the hold, a resync does not undo it, and afterwards it gets calls again', async () => {
    const [good, silent] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    await waitFor('both nodes selectable', async () => (await set1()).filter((d) => d.flags === 'AX').length === 2, 20_000);

    silent.fs.setInviteResponse('ignore');
    // Calls until one went to the silent node: it times out there (fr_timer) and fails over.
    await waitFor('a call reached the silent node', async () => {
      const r = await place(1);
      expect(r.successful).toBe(1);
      return callsTo(silent.fs) > 0;
    }, 30_000);
    expect(callsTo(silent.fs)).toBe(1);
    await waitFor('Kamailio marked it (IX)', async () => (await set1()).some((d) => d.uri === silent.fs.sipUri && d.flags === 'IX'), 5000);
    await waitFor('the control plane reports the mark', async () => (await marked()).some(([node, v]) => node === silent.fs.coreUuid && v === 1), 5000);
    const markedAt = performance.now();
    const reloadsAtMark = await reloads();
    // The metric is set in the Kamailio step; the status takes the observation at the end of that pass.
    const statusMarks = () => {
      const status = cp.reconciler.dispatcherStatus().kamailios[0];
      return status && 'marks' in status ? status.marks?.map((m) => [m.setId, m.uri, m.nodeId]) : undefined;
    };
    await waitFor('GET /v1/dispatcher shows the mark', () => JSON.stringify(statusMarks()) === JSON.stringify([[1, silent.fs.sipUri, silent.fs.coreUuid]]), 3000).catch(() => undefined);
    expect(statusMarks()).toEqual([[1, silent.fs.sipUri, silent.fs.coreUuid]]);

    // Several resyncs (every 1 s) within the hold: the mark stays, every call goes to the good node.
    const goodBefore = callsTo(good.fs);
    const during = await place(20);
    expect(during.successful).toBe(20);
    expect(callsTo(silent.fs)).toBe(1);
    expect(callsTo(good.fs) - goodBefore).toBe(20);
    expect((await set1()).find((d) => d.uri === silent.fs.sipUri)?.flags).toBe('IX');
    expect(performance.now() - markedAt).toBeLessThan(HOLD_MS - 1000); // the checks above really ran inside the hold
    expect(await reloads()).toBe(reloadsAtMark);

    // It answers again; when the hold ends it is set active and gets calls.
    silent.fs.setInviteResponse('answer');
    await waitFor('hold ended: the node is active again', async () => (await set1()).find((d) => d.uri === silent.fs.sipUri)?.flags === 'AX', HOLD_MS + 5000);
    expect(await marked()).toEqual([]);
    const after = await place(20);
    expect(after.successful).toBe(20);
    expect(callsTo(silent.fs)).toBeGreaterThan(1);
    expect(await reloads()).toBe(reloadsAtMark);
  });
});
