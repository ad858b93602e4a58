import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadControlPlaneConfig } from '../../src/config/controlPlane.js';
import { startControlPlane, type ControlPlane } from '../../src/controlPlane.js';
import { migrate } from '../../src/postgres/migrations.js';
import type { MachineRef } from '../../src/ports/provisioner.js';
import { DockerProvisioner } from '../../src/provisioners/docker.js';
import { BASE_IMAGE, DOCKER_TEST_DIR, STANDIN_IMAGE, buildStandinImage, dockerEngineUnavailable, engineOk, engineRequest, ensureBaseImage, startDockerEngine, type DockerEngine } from '../support/dockerEngine.js';
import { selectableUris, startKamailio, type KamailioInstance } from '../support/kamailio.js';
import { waitFor } from '../support/process.js';
import { controlPlaneServiceEnv, createPostgresDatabase, startNats, startRedis, type Service } from '../support/services.js';
import { runSippUac } from '../support/sipp.js';

/**
 * The docker provisioner against a real Docker engine: the test run's private dockerd
 * (test/support/dockerEngine.ts: its own socket under /run/sbc-test-docker, never
 * /var/run/docker.sock), or one this file starts when run without the global setup. Nothing can be pulled: the base image is made by debootstrap when
 * absent, and the stand-in image (FreeSWITCH stand-in + the shipped agent,
 * test/docker/standin.Dockerfile) is built on it.
 *
 * 1. The exact API: copies of a model container (image, env, labels, cmd, HostConfig,
 *    network alias), and removal of exactly the drained containers named.
 * 2. The whole flow: real Kamailio, NATS, Redis, Postgres, the control plane in-process with
 *    SBC_PROVISIONER=docker; one container of the stand-in image as compose would have started
 *    it; scale 1 -> 2 -> 1 under continuous sipp calls.
 *
 * It skips (with the reason) only on a machine without docker.io and debootstrap, or not as
 * root; scripts/install-deps.sh installs both, so CI runs it. Everything it creates carries
 * the label sbc.test.owner=<its project> and is removed by that label in afterAll; the images
 * stay in the private data root as a cache for the next run on the same machine.
 */

const skipReason = dockerEngineUnavailable();
const SOCKET = join(DOCKER_TEST_DIR, 'docker.sock');
const OWNER = 'sbc.test.owner';

const engine = (method: string, path: string, body?: unknown) => engineRequest(SOCKET, method, path, body);
const ok = (method: string, path: string, body?: unknown) => engineOk(SOCKET, method, path, body);

const filters = (labels: string[]) => encodeURIComponent(JSON.stringify({ label: labels }));

/** The service's containers as the engine lists them: name -> state. */
async function serviceContainers(project: string, service: string): Promise<Record<string, string>> {
  const list = (await ok('GET', `/containers/json?all=true&filters=${filters([`com.docker.compose.project=${project}`, `com.docker.compose.service=${service}`])}`)) as { Names: string[]; State: string }[];
  return Object.fromEntries(list.map((c) => [(c.Names[0] ?? '').slice(1), c.State]));
}

/** Removes every container and network labelled sbc.test.owner=<project> (any project when undefined). */
async function removeOwned(project: string | undefined): Promise<void> {
  const label = project === undefined ? OWNER : `${OWNER}=${project}`;
  const mine = (await ok('GET', `/containers/json?all=true&filters=${filters([label])}`)) as { Id: string }[];
  for (const c of mine) await engine('DELETE', `/containers/${c.Id}?force=true&v=true`);
  const networks = (await ok('GET', `/networks?filters=${filters([label])}`)) as { Id: string }[];
  for (const n of networks) await engine('DELETE', `/networks/${n.Id}`);
}

/** A user-defined network as compose creates it (`<project>_default`); answers its gateway, the host's address on it. */
async function createNetwork(project: string): Promise<{ name: string; gateway: string }> {
  const name = `${project}_default`;
  await ok('POST', '/networks/create', { Name: name, CheckDuplicate: true, Labels: { [OWNER]: project, 'com.docker.compose.project': project, 'com.docker.compose.network': 'default' } });
  const inspect = (await ok('GET', `/networks/${name}`)) as { IPAM: { Config: { Gateway?: string }[] } };
  const gateway = inspect.IPAM.Config[0]?.Gateway;
  if (!gateway) throw new Error(`network ${name} has no gateway: ${JSON.stringify(inspect.IPAM)}`);
  return { name, gateway };
}

/** Starts a container of the service as docker-compose would have: its labels, its network, the service as alias, init. */
async function startModel(o: { project: string; service: string; network: string; image: string; env: string[]; cmd?: string[] }): Promise<string> {
  const name = `${o.project}_${o.service}_1`;
  await ok('POST', `/containers/create?name=${name}`, {
    Image: o.image,
    ...(o.cmd ? { Entrypoint: [], Cmd: o.cmd } : {}),
    Env: [`SBC_MACHINE_ID=${name}`, ...o.env],
    Labels: {
      [OWNER]: o.project,
      'com.docker.compose.project': o.project,
      'com.docker.compose.service': o.service,
      'com.docker.compose.container-number': '1',
      'com.docker.compose.oneoff': 'False',
    },
    // A shell or sleep as PID 1 ignores SIGTERM; init forwards it, so a stop takes no stop timeout.
    HostConfig: { NetworkMode: o.network, Init: true, RestartPolicy: { Name: 'no' } },
    NetworkingConfig: { EndpointsConfig: { [o.network]: { Aliases: [o.service] } } },
  });
  await ok('POST', `/containers/${name}/start`);
  return name;
}

const ref = (machineId: string): MachineRef => ({ machineId, nodeId: `core-${machineId}`, hostname: machineId, sipUri: `sip:${machineId}:5060` });

/**
 * A transparent recorder in front of the engine: the control plane's provisioner talks to this
 * socket, each request is forwarded unchanged to the engine, and `before` sees it first (the
 * test's look at the pool at the moment a container is stopped, as scale.test.ts's orchestrator
 * looks at each request).
 */
async function startEngineRecorder(socketPath: string, before: (method: string, path: string) => Promise<void>): Promise<{ stop(): Promise<void> }> {
  rmSync(socketPath, { force: true });
  const server = http.createServer((req, res) => {
    void (async () => {
      await before(req.method ?? '', req.url ?? '').catch((err: unknown) => process.stderr.write(`[docker] recorder: ${String(err)}\n`));
      const up = http.request({ socketPath: SOCKET, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      up.on('error', (err) => {
        res.statusCode = 502;
        res.end(JSON.stringify({ message: `recorder: ${err.message}` }));
      });
      req.pipe(up);
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    stop: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(socketPath, { force: true });
    },
  };
}

describe.skipIf(skipReason !== undefined)(`docker provisioner on a private Docker engine${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let docker: DockerEngine | undefined;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    let t = Date.now();
    docker = await startDockerEngine();
    timings.daemonStartMs = Date.now() - t;
    // The daemon and its data root are this harness's own: containers a killed earlier run left (stopped) go now.
    await removeOwned(undefined);
    t = Date.now();
    const base = await ensureBaseImage(docker);
    timings.baseImageMs = Date.now() - t;
    t = Date.now();
    await buildStandinImage(docker);
    timings.standinImageMs = Date.now() - t;
    process.stderr.write(`[docker] daemon ${timings.daemonStartMs} ms; ${base} (${timings.baseImageMs} ms); ${STANDIN_IMAGE} built in ${timings.standinImageMs} ms\n`);
  }, 600_000);

  afterAll(async () => {
    const t = Date.now();
    await docker?.stop();
    process.stderr.write(`[docker] daemon stopped in ${Date.now() - t} ms\n`);
  }, 60_000);

  describe('the exact API', () => {
    const project = `sbcit${randomBytes(4).toString('hex')}`;
    const service = 'fs';
    const model = `${project}_${service}_1`;
    let network = '';
    const provisioner = new DockerProvisioner({ socketPath: SOCKET, project, service, timeoutMs: 30_000, stopTimeoutSeconds: 2 });

    beforeAll(async () => {
      network = (await createNetwork(project)).name;
      await startModel({ project, service, network, image: BASE_IMAGE, env: ['SBC_TEST=1'], cmd: ['sleep', '300'] });
    });

    afterAll(async () => {
      if (docker) await removeOwned(project);
    });

    it('scales 1 -> 3 with copies of the model, then 3 -> 1 removing exactly the drained ones', async () => {
      expect(await provisioner.list()).toEqual([{ machineId: model, phase: 'running' }]);

      const up = await provisioner.apply({ replicas: 3, remove: [] });
      const [second, third] = [`${project}_${service}_2`, `${project}_${service}_3`];
      expect(up.created).toEqual([second, third]);
      expect(await serviceContainers(project, service)).toEqual({ [model]: 'running', [second]: 'running', [third]: 'running' });
      const copy = (await ok('GET', `/containers/${second}/json`)) as {
        Id: string;
        Config: { Env: string[]; Hostname: string; Image: string; Cmd: string[]; Labels: Record<string, string> };
        HostConfig: { NetworkMode: string; Init: boolean };
        NetworkSettings: { Networks: Record<string, { Aliases: string[] }> };
      };
      expect(copy.Config.Env).toEqual(expect.arrayContaining([`SBC_MACHINE_ID=${second}`, 'SBC_TEST=1']));
      expect(copy.Config.Env).not.toContain(`SBC_MACHINE_ID=${model}`);
      expect(copy.Config).toMatchObject({ Hostname: second, Image: BASE_IMAGE, Cmd: ['sleep', '300'], Labels: { 'com.docker.compose.container-number': '2', [OWNER]: project } });
      expect(copy.HostConfig).toMatchObject({ NetworkMode: network, Init: true });
      expect(copy.NetworkSettings.Networks[network]?.Aliases).toEqual(expect.arrayContaining([service, copy.Id.slice(0, 12)]));

      expect((await provisioner.apply({ replicas: 3, remove: [] })).created).toEqual([]);

      const down = await provisioner.apply({ replicas: 1, remove: [ref(second), ref(third)] });
      expect(down.removed).toEqual([second, third]);
      expect(await serviceContainers(project, service)).toEqual({ [model]: 'running' });
      expect(await provisioner.apply({ replicas: 1, remove: [ref(second), ref(third)] })).toMatchObject({ created: [], removed: [] });
    });
  });

  describe('scale 1 -> 2 -> 1 with stand-in containers, real Kamailio and agents, under continuous calls', () => {
    const project = `sbcsc${randomBytes(4).toString('hex')}`;
    const service = 'freeswitch';
    const prefix = `dock${randomBytes(3).toString('hex')}`;
    let db: Service | undefined;
    let redis: Service | undefined;
    let nats: Service | undefined;
    let k1: KamailioInstance | undefined;
    let cp: ControlPlane | undefined;
    let gateway = '';
    let model = '';
    let recorder: { stop(): Promise<void> } | undefined;
    /** Each stop the provisioner sent the engine, with the pool as the control plane saw it at that moment. */
    const stops: Array<{ at: number; container: string; state: string | undefined; sessions: number | undefined }> = [];

    interface NodeView { nodeId: string; machineId: string; sipUri: string; state: string; sessions: number }
    const api = () => {
      if (!cp) throw new Error('no control plane');
      return cp.app;
    };
    const nodes = async () => (await api().inject('/v1/nodes')).json<{ nodes: NodeView[] }>().nodes.filter((n) => n.state !== 'gone');
    const selectable = () => selectableUris(k1 as KamailioInstance, 1);
    const containerIp = async (name: string) =>
      ((await ok('GET', `/containers/${name}/json`)) as { NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }).NetworkSettings.Networks[`${project}_default`]?.IPAddress;
    const legsOn = async (nodeId: string) => (await api().inject(`/v1/calls?limit=1000&node=${encodeURIComponent(nodeId)}`)).json<{ legs: unknown[] }>().legs.length;

    beforeAll(async () => {
      const net = await createNetwork(project);
      gateway = net.gateway;
      [db, redis, nats] = await Promise.all([createPostgresDatabase(), startRedis(), startNats({ host: gateway })]);
      const pg1 = new pg.Pool({ connectionString: db.url });
      await migrate(pg1);
      await pg1.end();
      // Kamailio listens on the network's gateway: the containers' replies come back there, and sipp reaches it from loopback.
      k1 = await startKamailio({ dbUrl: db.url, frTimerMs: 4000, env: { SBC_SIP_ADDR: gateway } });
      model = await startModel({
        project,
        service,
        network: net.name,
        image: STANDIN_IMAGE,
        env: [`SBC_NATS_URL=${nats.url}`, `SBC_NATS_PREFIX=${prefix}`, 'SBC_HEARTBEAT_MS=500', 'SBC_ESL_TIMEOUT_MS=400', 'SBC_PROBES_BEFORE_LOST=3', 'SBC_LOG_LEVEL=warn'],
      });
      const recorderSocket = join(DOCKER_TEST_DIR, `recorder-${project}.sock`);
      recorder = await startEngineRecorder(recorderSocket, async (method, path) => {
        const stop = /^\/v[0-9.]+\/containers\/([^/?]+)\/stop/.exec(path);
        if (method !== 'POST' || !stop?.[1]) return;
        const at = Date.now();
        const { Name } = (await ok('GET', `/containers/${stop[1]}/json`)) as { Name: string };
        const container = Name.replace(/^\//, '');
        const node = (await api().inject('/v1/nodes')).json<{ nodes: NodeView[] }>().nodes.find((n) => n.machineId === container);
        stops.push({ at, container, state: node?.state, sessions: node?.sessions });
      });
      const config = loadControlPlaneConfig({
        ...controlPlaneServiceEnv({ nats, redis, db, prefix, kamailioRpcUrls: [k1.rpcUrl] }),
        SBC_RELOAD_DELTA_MS: '1000',
        SBC_RESYNC_MS: '2000',
        SBC_PROVISIONER: 'docker',
        SBC_DOCKER_SOCKET: recorderSocket,
        SBC_DOCKER_PROJECT: project,
        SBC_DOCKER_SERVICE: service,
        SBC_DOCKER_TIMEOUT_MS: '30000',
        SBC_DOCKER_STOP_TIMEOUT_S: '10',
        SBC_SCALE_RETRY_MS: '3000',
      });
      cp = await startControlPlane(config, pino({ level: 'silent' }));
      await waitFor('the model container\'s node selectable in Kamailio', async () => (await selectable()).length === 1, 30_000);
      await waitFor('the control plane leads', () => (cp as ControlPlane).election.isLeader(), 10_000);
      // Selectable in Kamailio can come a pass before the registry's record says active.
      await waitFor('the model container\'s node active', async () => (await nodes()).some((n) => n.machineId === model && n.state === 'active'), 10_000);
    }, 120_000);

    afterAll(async () => {
      await cp?.stop();
      await recorder?.stop();
      if (docker) await removeOwned(project).catch((err: unknown) => process.stderr.write(`[docker] removing ${project}'s containers: ${String(err)}\n`));
      await k1?.stop();
      await Promise.allSettled([nats?.stop(), redis?.stop(), db?.stop()]);
    }, 60_000);

    it('the new container\'s node joins and takes calls; the removed one was drained before its container went; no call failed', async () => {
      const started = Date.now();
      const [first] = await nodes();
      expect(first).toMatchObject({ machineId: model, state: 'active' });
      // The model container announces its own address on the network, not loopback.
      expect(first?.sipUri).toBe(`sip:${await containerIp(model)}:5080`);
      const modelCalls = await runSippUac({ target: `${gateway}:${(k1 as KamailioInstance).sipPort}`, service: '9000', calls: 5, rate: 10, holdMs: 100 });
      expect(modelCalls).toMatchObject({ successful: 5, failed: 0 });
      await waitFor('the calls on the model node recorded', async () => (await legsOn(first?.nodeId ?? '')) >= 5, 15_000);

      // Light continuous load for the whole scale-up and scale-down: 30 s at 8 calls/s, each held 1 s.
      const load = runSippUac({ target: `${gateway}:${(k1 as KamailioInstance).sipPort}`, service: '9000', calls: 240, rate: 8, holdMs: 1000 });

      const up = await api().inject({ method: 'POST', url: '/v1/scale', headers: { 'content-type': 'application/json' }, payload: { replicas: 2 } });
      expect(up.statusCode).toBe(202);
      expect(up.json()).toMatchObject({ target: { replicas: 2 }, provisioner: 'docker' });
      const second = `${project}_${service}_2`;
      await waitFor('the copy running in the engine', async () => (await serviceContainers(project, service))[second] === 'running', 20_000);
      await waitFor('two nodes selectable', async () => (await selectable()).length === 2, 30_000);
      await waitFor('both nodes active', async () => (await nodes()).filter((n) => n.state === 'active').length === 2, 10_000);
      const two = await nodes();
      expect(two.map((n) => n.machineId).sort()).toEqual([model, second].sort());
      const added = two.find((n) => n.machineId === second) as NodeView;
      expect(added.sipUri).toBe(`sip:${await containerIp(second)}:5080`);
      // It takes calls: legs its own agent reported (channel events from the stand-in in that container).
      await waitFor('the new node carries calls', async () => (await legsOn(added.nodeId)) >= 3, 15_000);
      const upMs = Date.now() - started;

      // Scale down, sampling the node states and the engine's containers until it settles.
      const samples: Array<{ at: number; states: Record<string, string>; containers: string[] }> = [];
      let sampling = true;
      const sampler = (async () => {
        for (let last = false; !last; ) {
          last = !sampling;
          const all = (await api().inject('/v1/nodes')).json<{ nodes: NodeView[] }>().nodes;
          const containers = Object.keys(await serviceContainers(project, service));
          samples.push({ at: Date.now(), states: Object.fromEntries(all.map((n) => [n.machineId, n.state])), containers });
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      const down = await api().inject({ method: 'POST', url: '/v1/scale', headers: { 'content-type': 'application/json' }, payload: { replicas: 1 } });
      expect(down.statusCode).toBe(202);
      try {
        await waitFor('one container left, settled', async () => {
          const s = (await api().inject('/v1/scale')).json<{ settled: boolean; nodes: unknown[] }>();
          return s.settled && s.nodes.length === 1 && Object.keys(await serviceContainers(project, service)).length === 1;
        }, 60_000, 200);
      } finally {
        sampling = false;
        await sampler;
      }
      const [survivor] = Object.keys(await serviceContainers(project, service));
      const removed = [model, second].find((m) => m !== survivor) as string;
      // The states the removed machine went through, in order (sampled), and when its container went.
      const seen = samples.map((x) => x.states[removed]).filter((x, i, all): x is string => x !== undefined && x !== all[i - 1]);
      const goneAt = samples.findIndex((x) => !x.containers.includes(removed));
      expect(goneAt).toBeGreaterThan(0);
      // At the moment the provisioner stopped the container (the only stop it sent), the control plane had it drained, with no call left.
      expect(stops.map(({ container, state, sessions }) => ({ container, state, sessions }))).toEqual([{ container: removed, state: 'drained', sessions: 0 }]);
      expect(samples[goneAt]?.at).toBeGreaterThanOrEqual(stops[0]?.at ?? Infinity);
      // Sampled: active, then draining while its calls ended, never back to active; then gone once its agent left.
      expect(seen[0]).toBe('active');
      expect(seen).toContain('draining');
      expect(seen.slice(seen.indexOf('draining'))).not.toContain('active');
      for (const x of samples.filter((y) => y.at < (stops[0]?.at ?? 0))) expect(['active', 'draining', 'drained']).toContain(x.states[removed]);
      const survivors = await nodes();
      expect(survivors.map((n) => n.machineId)).toEqual([survivor]);

      const result = await load;
      expect(result.statusCodes).toEqual({ 200: 240 });
      expect(result).toMatchObject({ successful: 240, failed: 0 });

      // The audit log: the two scale requests, one scale drain, the provisioner's work, nothing failed.
      const ops = (await api().inject('/v1/operations?limit=100')).json<{ operations: Array<{ kind: string; outcome: string; at: string; target: string; detail: { by?: string; created?: string[]; removed?: string[] } }> }>().operations;
      expect(ops.filter((o) => o.kind === 'scale').length).toBe(2);
      expect(ops.filter((o) => o.kind === 'drain' && o.detail.by === 'scale').length).toBe(1);
      expect(ops.filter((o) => o.kind === 'provision' && o.outcome === 'done').length).toBeGreaterThanOrEqual(2);
      expect(ops.filter((o) => o.outcome === 'failed')).toEqual([]);
      process.stderr.write(
        `[docker] scale-up to 2 call-taking nodes in ${upMs} ms; removed ${removed} (sampled states ${seen.join(' -> ')}); ` +
          `stopped ${(stops[0]?.at ?? 0) - (samples[0]?.at ?? 0)} ms and gone from the engine ${(samples[goneAt]?.at ?? 0) - (samples[0]?.at ?? 0)} ms after the scale-down; test ${Date.now() - started} ms\n`,
      );
    });
  });
});
