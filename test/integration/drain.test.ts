import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadControlPlaneConfig } from '../../src/config/controlPlane.js';
import { startControlPlane, type ControlPlane } from '../../src/controlPlane.js';
import { startAgentProcess } from '../support/agentProcess.js';
import { selectableUris, startKamailio, type KamailioInstance } from '../support/kamailio.js';
import { waitFor, type RunningProcess } from '../support/process.js';
import { controlPlaneServiceEnv, type Service, startMigratedServices } from '../support/services.js';
import { runSippUac, type UacResult } from '../support/sipp.js';
import { startStandin, type Standin } from '../standin/standin.js';

/**
 * Drain through the API: real Kamailio, the control plane in this process, the shipped agents
 * beside two FreeSWITCH stand-ins, sipp callers. What the stand-ins' SIP side received is the
 * evidence of where calls went.
 */
describe('drain and undrain (Kamailio, control plane, agents, stand-ins)', () => {
  let db: Service;
  let redis: Service;
  let nats: Service;
  let k1: KamailioInstance;
  let cp: ControlPlane;
  const prefix = `drain${randomBytes(3).toString('hex')}`;
  const nodes: { fs: Standin; agent: RunningProcess }[] = [];
  const background: Promise<UacResult>[] = [];

  const nodeOf = async (fs: Standin) =>
    (await cp.app.inject('/v1/nodes')).json<{ nodes: { nodeId: string; sipUri: string; state: string }[] }>().nodes.find((n) => n.sipUri === fs.sipUri && n.state !== 'gone')!;
  const selectable = () => selectableUris(k1, 1);

  beforeAll(async () => {
    ({ db, redis, nats } = await startMigratedServices());
    k1 = await startKamailio({ dbUrl: db.url, frTimerMs: 4000 });
    const config = loadControlPlaneConfig({
      ...controlPlaneServiceEnv({ nats, redis, db, prefix, kamailioRpcUrls: [k1.rpcUrl] }),
      SBC_RELOAD_DELTA_MS: '1000',
      SBC_RESYNC_MS: '2000',
    });
    cp = await startControlPlane(config, pino({ level: 'silent' }));
    for (let i = 0; i < 2; i++) {
      const fs = await startStandin({ toneMs: 0 });
      nodes.push({ fs, agent: startAgentProcess(fs, { natsUrl: nats.url, prefix, heartbeatMs: 500, eslTimeoutMs: 400, env: { SBC_PROBES_BEFORE_LOST: '3' } }) });
    }
    await waitFor('both nodes selectable', async () => (await selectable()).length === 2, 20_000);
    await waitFor('the control plane leads', () => cp.election.isLeader(), 10_000);
  });

  afterAll(async () => {
    await Promise.allSettled(background);
    for (const n of nodes) await n.agent.stop('SIGKILL');
    for (const n of nodes) await n.fs.stop();
    await cp?.stop();
    await k1?.stop();
    await Promise.allSettled([nats?.stop(), redis?.stop(), db?.stop()]);
  });

  it('a drained node gets no new call once the drain call returns, its calls go on and end, then it is drained; undrained it takes calls again', async () => {
    const [a, b] = nodes as [(typeof nodes)[number], (typeof nodes)[number]];
    // Calls in progress on both nodes (round robin), held 6 s.
    const held = runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: '9000', calls: 10, rate: 20, holdMs: 6000 });
    background.push(held);
    // Rooms, one caller each, held too: some are pinned to A.
    const rooms = ['3901', '3902', '3903', '3904', '3905', '3906'];
    const roomCallers = runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: rooms, calls: rooms.length, rate: 20, holdMs: 6000 });
    background.push(roomCallers);
    await waitFor('calls in progress on A, and a room', () => a.fs.activeSessions() >= 3 && a.fs.conferenceList().length > 0, 10_000);
    const roomOnA = a.fs.conferenceList()[0]!.name;
    const aNode = await nodeOf(a.fs);

    const res = await cp.app.inject({ method: 'POST', url: `/v1/nodes/${aNode.nodeId}/drain` });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ node: { state: string }; applied: boolean; remainingCalls: number }>();
    expect(body.applied).toBe(true);
    expect(body.node.state).toBe('draining');
    const invitesOnA = a.fs.calls.length;
    expect(await selectable()).toEqual([b.fs.sipUri]);

    // New calls after the drain returned: none reaches A.
    const after = await runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: '9000', calls: 20, rate: 20, holdMs: 100 });
    expect(after.successful).toBe(20);
    expect(a.fs.calls.length).toBe(invitesOnA);
    // A caller of a room pinned to A still reaches that room on A.
    const late = await runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: roomOnA, calls: 1, holdMs: 100 });
    expect(late.successful).toBe(1);
    expect(a.fs.calls.slice(invitesOnA).map((c) => c.destination)).toEqual([roomOnA]);
    const invitesOnAThen = a.fs.calls.length;

    // The held calls end normally, none cut; then A is drained.
    const done = await held;
    expect(done.successful).toBe(10);
    expect((await roomCallers).successful).toBe(rooms.length);
    await waitFor('every call on A over', () => a.fs.calls.every((c) => c.endedAt !== undefined), 5000);
    expect(a.fs.calls.map((c) => c.hangupCause)).toEqual(a.fs.calls.map(() => 'NORMAL_CLEARING'));
    await waitFor('A drained', async () => (await nodeOf(a.fs)).state === 'drained', 10_000);
    // A heartbeat (every 500 ms) never puts it back.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await nodeOf(a.fs)).state).toBe('drained');
    expect(await selectable()).toEqual([b.fs.sipUri]);
    // Its last room ended, so no pin sends callers to it: FreeSWITCH is paused inbound, never outbound (cascade links dial out).
    await waitFor('A paused inbound once no room is pinned to it', async () => a.fs.pause.inbound && (await cp.app.inject(`/v1/nodes/${aNode.nodeId}/drain`)).json<{ inboundPaused: boolean }>().inboundPaused, 20_000);
    expect(a.fs.pause.outbound).toBe(false);

    const undrain = await cp.app.inject({ method: 'POST', url: `/v1/nodes/${aNode.nodeId}/undrain` });
    expect(undrain.json()).toMatchObject({ node: { state: 'active' }, drain: null, applied: true });
    expect((await selectable()).sort()).toEqual([a.fs.sipUri, b.fs.sipUri].sort());
    expect(a.fs.pause.inbound).toBe(false);
    const again = await runSippUac({ target: `127.0.0.1:${k1.sipPort}`, service: '9000', calls: 10, rate: 10, holdMs: 100 });
    expect(again.successful).toBe(10);
    expect(a.fs.calls.length).toBeGreaterThan(invitesOnAThen);
  });
});
