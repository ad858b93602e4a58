import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClusterImages, clusterImage, composeCluster, projectObjects, serviceAddresses, type ComposeCluster } from '../support/composeCluster.js';
import { buildServiceImages, buildStandinImage, dockerEngineUnavailable, engineOk, engineRequest, ensureBaseImage, startDockerEngine, type DockerEngine } from '../support/dockerEngine.js';
import { waitFor } from '../support/process.js';
import { runSippUac, type UacResult } from '../support/sipp.js';
import { dashboardQueries, promQuery, queryProblems, readDashboard } from '../support/dashboard.js';

/**
 * The compose cluster for real (compose/docker-compose.yml), on the test run's private engine:
 * its images built from docker/ on the local base, brought up with Debian's docker-compose
 * (v1) and the test override (test/docker/compose.test.yml: the stand-in as FREESWITCH_IMAGE,
 * the Debian service images, free host ports). sipp calls go in through the published SIP
 * port of each Kamailio; what answered is read from the 200's Contact (the FreeSWITCH
 * container's address). Scaling and draining go through the API with the bootstrap token, as an
 * operator would. `down -v` at the end must leave no container, network or volume.
 *
 * It skips (with the reason) only where no private engine can run (dockerEngineUnavailable).
 */

const skipReason = dockerEngineUnavailable();
const say = (line: string) => process.stderr.write(`[compose] ${line}\n`);

interface NodeView { nodeId: string; machineId: string; sipUri: string; state: string; sessions: number }

const answeredBy = (r: UacResult): string[] =>
  r.messages
    .filter((m) => m.direction === 'received' && m.status === 200 && m.cseqMethod === 'INVITE')
    .map((m) => /@([0-9.]+):/.exec(m.headers.get('contact')?.[0] ?? '')?.[1] ?? '?');

describe.skipIf(skipReason !== undefined)(`the compose cluster${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let engine: DockerEngine | undefined;
  let cluster: ComposeCluster | undefined;
  const project = `sbccompose${randomBytes(3).toString('hex')}`;
  const token = randomBytes(24).toString('hex');
  const timings: Record<string, number> = {};
  /** When `up` returned: Prometheus has scraped the cluster since about then. */
  let upAt = 0;

  const c = () => {
    if (!cluster) throw new Error('no cluster');
    return cluster;
  };
  const api = async (path: string, init: { method?: string; body?: unknown; auth?: boolean; url?: string } = {}) => {
    const res = await fetch(`${init.url ?? c().apiUrls[0]}${path}`, {
      method: init.method ?? 'GET',
      headers: { ...(init.auth === false ? {} : { authorization: `Bearer ${c().token}` }), ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : undefined) as unknown };
  };
  const nodes = async () => ((await api('/v1/nodes')).json as { nodes: NodeView[] }).nodes.filter((n) => n.state !== 'gone');
  const fsAddresses = () => serviceAddresses(engine as DockerEngine, project, 'freeswitch');
  /** Both Kamailios in sync with the leader's sets, set 1 holding `n` destinations: every node in routing everywhere. */
  const routedEverywhere = (n: number) =>
    waitFor(`both Kamailios routing to ${n} nodes`, async () => {
      for (const url of c().apiUrls) {
        const view = (await api('/v1/dispatcher', { url })).json as { pass: unknown; kamailios: Array<{ status: string; loaded?: Array<{ setId: number }> }> };
        if (view.pass && view.kamailios.length === 2 && view.kamailios.every((k) => k.status === 'in-sync' && (k.loaded ?? []).filter((d) => d.setId === 1).length === n)) return true;
      }
      return false;
    }, 60_000, 500);
  const calls = (target: string, service: string, n: number, extra: { holdMs?: number; callers?: string[] } = {}) => runSippUac({ target, service, calls: n, rate: 10, ...extra });

  beforeAll(async () => {
    let t = Date.now();
    engine = await startDockerEngine();
    await ensureBaseImage(engine);
    // Made by the global setup already (cached: about a second each); a file run alone needs them.
    await buildServiceImages(engine);
    await buildStandinImage(engine);
    timings.baseImagesMs = Date.now() - t;
    t = Date.now();
    const built = await buildClusterImages(engine);
    timings.buildMs = Date.now() - t;
    say(`images: ${Object.entries(built).map(([k, v]) => `${k} ${v} ms`).join(', ')}`);
    cluster = await composeCluster(engine, project, token);
    t = Date.now();
    // up -d waits for every depends_on condition (healthy, completed) on the way.
    await cluster.compose(['up', '-d', '--no-build'], 300_000);
    timings.upMs = Date.now() - t;
    upAt = Date.now();
    await waitFor('both control planes ready', async () => {
      for (const url of cluster?.apiUrls ?? []) if ((await api('/readyz', { auth: false, url })).status !== 200) return false;
      return true;
    }, 90_000, 500);
    await waitFor('the two freeswitch containers active', async () => (await nodes()).filter((n) => n.state === 'active').length === 2, 60_000, 500);
    await routedEverywhere(2);
    await waitFor('the freeswitch containers healthy', async () => {
      const f = encodeURIComponent(JSON.stringify({ label: [`com.docker.compose.project=${project}`, 'com.docker.compose.service=freeswitch'], health: ['healthy'] }));
      return ((await engineOk((engine as DockerEngine).socketPath, 'GET', `/containers/json?filters=${f}`)) as unknown[]).length === 2;
    }, 60_000, 500);
    timings.readyMs = Date.now() - t;
  }, 900_000);

  afterAll(async () => {
    if (cluster) {
      await cluster.down().catch((err: unknown) => say(`down failed: ${(err as Error).message}`));
    }
    // Whatever a failed run left of the project goes, by its label (a container first, then its network and volumes).
    if (engine) {
      const left = await projectObjects(engine, project).catch(() => undefined);
      for (const name of left?.containers ?? []) await engineRequest(engine.socketPath, 'DELETE', `/containers/${name}?force=true&v=true`).catch(() => undefined);
      for (const name of left?.networks ?? []) await engineRequest(engine.socketPath, 'DELETE', `/networks/${name}`).catch(() => undefined);
      for (const name of left?.volumes ?? []) await engineRequest(engine.socketPath, 'DELETE', `/volumes/${name}`).catch(() => undefined);
      if (left && left.containers.length + left.networks.length + left.volumes.length > 0) say(`removed what the run left: ${JSON.stringify(left)}`);
    }
    say(`timings: ${JSON.stringify(timings)}`);
    await engine?.stop();
  }, 240_000);

  it('the Kamailio image holds kamailio/ and lua/ exactly as the repository has them', async () => {
    const sums = await (engine as DockerEngine).docker(['run', '--rm', '--network', 'none', '--entrypoint', 'sha256sum', clusterImage('kamailio'), '/etc/kamailio/sbc/kamailio/kamailio.cfg', '/etc/kamailio/sbc/lua/routing.lua']);
    const sha = (p: string) => createHash('sha256').update(readFileSync(new URL(`../../${p}`, import.meta.url))).digest('hex');
    expect(sums.trim().split('\n').map((l) => l.split(/\s+/)[0])).toEqual([sha('kamailio/kamailio.cfg'), sha('lua/routing.lua')]);
  });

  it('calls through each compose Kamailio are answered by the freeswitch containers, both of them', async () => {
    const t = Date.now();
    const addresses = Object.values(await fsAddresses()).sort();
    expect(addresses).toHaveLength(2);
    for (const target of c().sipTargets) {
      const r = await calls(target, '1000', 4);
      if (timings.firstCallMs === undefined) timings.firstCallMs = Date.now() - t;
      expect(r.statusCodes, r.output.slice(-2000)).toEqual({ 200: 4 });
      // Round robin over both nodes (set 1, algorithm 4).
      expect([...new Set(answeredBy(r))].sort()).toEqual(addresses);
    }
  });

  it('each freeswitch container\'s node has the container\'s name as its machine id (what the provisioner removes)', async () => {
    const names = Object.keys(await fsAddresses()).sort();
    const ids = (await nodes()).map((n) => n.machineId).sort();
    // The supervisor says how it found (or missed) the name: shown with a mismatch.
    const supervisorLines = async () => (await Promise.all(names.map(async (n) => `${n}: ${(await (engine as DockerEngine).docker(['logs', n]).catch((e: unknown) => String(e))).split('\n').filter((l) => l.startsWith('freeswitch-node')).join(' | ')}`))).join('\n');
    expect(names).toHaveLength(2);
    expect(ids, ids.join() === names.join() ? '' : await supervisorLines()).toEqual(names);
  });

  it('the API asks for a token: no token is 401, the bootstrap token is admin', async () => {
    expect((await api('/v1/nodes', { auth: false })).status).toBe(401);
    expect((await api('/v1/scale', { method: 'POST', body: { replicas: 2 }, auth: false })).status).toBe(401);
    expect((await api('/v1/nodes', { url: c().apiUrls[1] })).status).toBe(200);
    // sbcctl in the control plane's container, as README's quickstart runs it.
    const out = await c().compose(['exec', '-T', '-e', `SBC_API_TOKEN=${c().token}`, 'control-plane-1', 'node', 'dist/src/cli/sbcctl.js', 'nodes', '--json']);
    const listed = (JSON.parse(out) as { nodes: { state: string }[] }).nodes.filter((n) => n.state !== 'gone');
    expect(listed.map((n) => n.state)).toEqual(['active', 'active']);
  });

  it('two callers of one room, one through each Kamailio, meet on the same node', async () => {
    const [first, second] = await Promise.all([
      calls(c().sipTargets[0], '3000', 1, { holdMs: 4000, callers: ['alice'] }),
      sleep(1000).then(() => calls(c().sipTargets[1], '3000', 1, { holdMs: 2000, callers: ['bob'] })),
    ]);
    expect(first.statusCodes, first.output.slice(-2000)).toEqual({ 200: 1 });
    expect(second.statusCodes, second.output.slice(-2000)).toEqual({ 200: 1 });
    expect(answeredBy(second)).toEqual(answeredBy(first));
  });

  let added = '';
  it('POST /v1/scale to 3 starts a copy of a freeswitch container through the docker provisioner, and it takes calls', async () => {
    const before = await fsAddresses();
    const up = await api('/v1/scale', { method: 'POST', body: { replicas: 3 } });
    expect(up.status, JSON.stringify(up.json)).toBe(202);
    await waitFor('three freeswitch containers, three active nodes', async () => Object.keys(await fsAddresses()).length === 3 && (await nodes()).filter((n) => n.state === 'active').length === 3, 90_000, 500);
    const after = await fsAddresses();
    const [name] = Object.keys(after).filter((n) => !(n in before));
    added = name ?? '';
    expect(added).toBe(`${project}_freeswitch_3`);
    expect((await nodes()).map((n) => n.machineId).sort()).toEqual(Object.keys(after).sort());
    await waitFor('the scale settled', async () => ((await api('/v1/scale')).json as { settled: boolean }).settled, 30_000, 500);
    await routedEverywhere(3);
    const r = await calls(c().sipTargets[0], '1000', 6);
    expect(r.statusCodes, r.output.slice(-2000)).toEqual({ 200: 6 });
    expect(answeredBy(r)).toContain(after[added]);
  });

  it('a drained node takes no new calls; scaling down drains one and removes its container', async () => {
    const node = (await nodes()).find((n) => n.machineId === added);
    expect(node).toBeDefined();
    const id = (node as NodeView).nodeId;
    const drain = await api(`/v1/nodes/${id}/drain`, { method: 'POST', body: {} });
    expect(drain.status, JSON.stringify(drain.json)).toBe(200);
    await waitFor('the node drained', async () => (await nodes()).find((n) => n.nodeId === id)?.state === 'drained', 30_000, 500);
    const addresses = await fsAddresses();
    const r = await calls(c().sipTargets[1], '1000', 6);
    expect(r.statusCodes, r.output.slice(-2000)).toEqual({ 200: 6 });
    expect(answeredBy(r)).not.toContain(addresses[added]);
    expect((await api(`/v1/nodes/${id}/undrain`, { method: 'POST', body: {} })).status).toBe(200);
    await waitFor('the node active again', async () => (await nodes()).find((n) => n.nodeId === id)?.state === 'active', 30_000, 500);

    const down = await api('/v1/scale', { method: 'POST', body: { replicas: 2 } });
    expect(down.status, JSON.stringify(down.json)).toBe(202);
    await waitFor('two freeswitch containers left, settled', async () => {
      const s = (await api('/v1/scale')).json as { settled: boolean };
      return s.settled && Object.keys(await fsAddresses()).length === 2 && (await nodes()).length === 2;
    }, 90_000, 500);
    const left = Object.keys(await fsAddresses()).sort();
    expect((await nodes()).map((n) => n.machineId).sort()).toEqual(left);
    // The audit log says which one went: drained by the scale step, then removed by the provisioner.
    const ops = ((await api('/v1/operations?limit=100')).json as { operations: Array<{ kind: string; outcome: string; detail: { by?: string; machineId?: string; removed?: string[] } }> }).operations;
    const scaleDrains = ops.filter((o) => o.kind === 'drain' && o.detail.by === 'scale').map((o) => o.detail.machineId);
    expect(scaleDrains).toHaveLength(1);
    expect(left).not.toContain(scaleDrains[0]);
    expect(ops.filter((o) => o.kind === 'provision' && o.outcome === 'done').flatMap((o) => o.detail.removed ?? [])).toEqual(scaleDrains);
  });

  it('Prometheus in the cluster scrapes both control planes', async () => {
    const [address] = Object.values(await serviceAddresses(engine as DockerEngine, project, 'prometheus'));
    expect(address).toBeTruthy();
    let seen: unknown;
    await waitFor('up == 1 for both control planes', async () => {
      const q = encodeURIComponent('up{job="sbc-control-plane"}');
      const res = await fetch(`http://${address}:9090/api/v1/query?query=${q}`, { signal: AbortSignal.timeout(5000) });
      const body = (await res.json()) as { data: { result: Array<{ metric: { instance: string }; value: [number, string] }> } };
      seen = body.data.result;
      const up = body.data.result.filter((r) => r.value[1] === '1').map((r) => r.metric.instance).sort();
      return up.join(',') === 'control-plane-1:8080,control-plane-2:8080';
    }, 60_000, 1000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(seen)}`);
    });
  });

  it('every query of the shipped dashboard is valid against the cluster\'s Prometheus, and its core panels have data', async () => {
    const [address] = Object.values(await serviceAddresses(engine as DockerEngine, project, 'prometheus'));
    const promUrl = `http://${address}:9090`;
    const dashboard = readDashboard();
    // What this run makes happen: the leader, nodes and their calls, rooms and pins, both
    // Kamailios in sync, reconcile passes and reloads, call events ingested.
    const core = ['Leader', 'Leader epoch', 'Control planes up', 'Nodes by state', 'Nodes by health', 'Calls per node', 'Rooms', 'Pins in sync per Kamailio', 'Dispatcher in sync per Kamailio', 'Reconcile passes', 'Kamailio RPC by outcome', 'Call events ingested'];
    expect(core.filter((title) => !dashboard.panels.some((p) => p.title === title))).toEqual([]);
    const queries = () => dashboardQueries(dashboard, (Date.now() - upAt) / 1000 + 5);
    const invalid = async () => {
      const out: string[] = [];
      for (const q of queries()) {
        const a = await promQuery(promUrl, q.expr);
        if (a.status !== 'success') out.push(`${q.title}: ${a.error ?? a.status}`);
      }
      return out;
    };
    expect(await invalid()).toEqual([]);
    let missing: string[] = [];
    await waitFor('the core panels answered with data', async () => (missing = await queryProblems(promUrl, queries().filter((q) => core.includes(q.panel)))).length === 0, 30_000, 1000).catch(() => undefined);
    expect(missing).toEqual([]);
  });

  it('down -v leaves no container, network or volume of the project', async () => {
    expect((await projectObjects(engine as DockerEngine, project)).volumes.length).toBeGreaterThan(0);
    const t = Date.now();
    await c().down();
    timings.downMs = Date.now() - t;
    expect(await projectObjects(engine as DockerEngine, project)).toEqual({ containers: [], networks: [], volumes: [] });
  });
});
