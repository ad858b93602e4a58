import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MachineRef } from '../../src/ports/provisioner.js';
import { DEFAULT_DOCKER_SOCKET, DockerProvisioner } from '../../src/provisioners/docker.js';

/**
 * DockerProvisioner against a real Docker engine: it runs only when an engine answers at
 * /var/run/docker.sock and SBC_TEST_DOCKER_IMAGE names a local image with `sleep` in it
 * (nothing can be pulled here). It installs and starts nothing: the engine is set up
 * elsewhere. Everything it creates carries the label sbc.test.owner=<its project> and is
 * removed by that label in afterAll, whatever the tests did.
 */

const SOCKET = DEFAULT_DOCKER_SOCKET;
const IMAGE = process.env.SBC_TEST_DOCKER_IMAGE;
const OWNER = 'sbc.test.owner';
const PROJECT = `sbcit${randomBytes(4).toString('hex')}`;
const SERVICE = 'fs';
const NETWORK = `${PROJECT}_default`;

interface Answer {
  status: number;
  json: unknown;
}

function engine(method: string, path: string, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { socketPath: SOCKET, method, path: `/v1.41${path}`, headers: payload === undefined ? {} : { 'content-type': 'application/json' }, signal: AbortSignal.timeout(30_000) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = text;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            // _ping answers text
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function ok(method: string, path: string, body?: unknown): Promise<unknown> {
  const answer = await engine(method, path, body);
  if (answer.status < 200 || answer.status > 299) throw new Error(`${method} ${path}: HTTP ${answer.status}: ${JSON.stringify(answer.json)}`);
  return answer.json;
}

async function engineAnswers(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: SOCKET, path: '/_ping', signal: AbortSignal.timeout(2000) }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

const skipReason = !(await engineAnswers())
  ? `no Docker engine answers at ${SOCKET}`
  : IMAGE === undefined || IMAGE === ''
    ? 'SBC_TEST_DOCKER_IMAGE is unset (a local image with sleep in it)'
    : undefined;

const filters = (labels: string[]) => encodeURIComponent(JSON.stringify({ label: labels }));

/** The service's containers as the engine lists them: name -> state. */
async function serviceContainers(): Promise<Record<string, string>> {
  const list = (await ok('GET', `/containers/json?all=true&filters=${filters([`com.docker.compose.project=${PROJECT}`, `com.docker.compose.service=${SERVICE}`])}`)) as { Names: string[]; State: string }[];
  return Object.fromEntries(list.map((c) => [(c.Names[0] ?? '').slice(1), c.State]));
}

const ref = (machineId: string): MachineRef => ({ machineId, nodeId: `core-${machineId}`, hostname: machineId, sipUri: `sip:${machineId}:5060` });

describe.skipIf(skipReason !== undefined)(`DockerProvisioner on a real engine${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const model = `${PROJECT}_${SERVICE}_1`;
  const provisioner = new DockerProvisioner({ project: PROJECT, service: SERVICE, timeoutMs: 30_000, stopTimeoutSeconds: 2 });

  beforeAll(async () => {
    await ok('POST', '/networks/create', { Name: NETWORK, CheckDuplicate: true, Labels: { [OWNER]: PROJECT, 'com.docker.compose.project': PROJECT, 'com.docker.compose.network': 'default' } });
    // The "service" as docker-compose would have started it: its labels, its network, its alias.
    await ok('POST', `/containers/create?name=${model}`, {
      Image: IMAGE,
      Entrypoint: [],
      Cmd: ['sleep', '300'],
      Env: [`SBC_MACHINE_ID=${model}`, 'SBC_TEST=1'],
      Labels: {
        [OWNER]: PROJECT,
        'com.docker.compose.project': PROJECT,
        'com.docker.compose.service': SERVICE,
        'com.docker.compose.container-number': '1',
        'com.docker.compose.oneoff': 'False',
      },
      // A shell or sleep as PID 1 ignores SIGTERM; init forwards it, so a stop takes no stop timeout.
      HostConfig: { NetworkMode: NETWORK, Init: true, RestartPolicy: { Name: 'no' } },
      NetworkingConfig: { EndpointsConfig: { [NETWORK]: { Aliases: [SERVICE] } } },
    });
    await ok('POST', `/containers/${model}/start`);
  });

  afterAll(async () => {
    const mine = (await ok('GET', `/containers/json?all=true&filters=${filters([`${OWNER}=${PROJECT}`])}`)) as { Id: string }[];
    for (const c of mine) await engine('DELETE', `/containers/${c.Id}?force=true&v=true`);
    const networks = (await ok('GET', `/networks?filters=${filters([`${OWNER}=${PROJECT}`])}`)) as { Id: string }[];
    for (const n of networks) await engine('DELETE', `/networks/${n.Id}`);
  });

  it('scales 1 -> 3 with copies of the model, then 3 -> 1 removing exactly the drained ones', async () => {
    expect(await provisioner.list()).toEqual([{ machineId: model, phase: 'running' }]);

    const up = await provisioner.apply({ replicas: 3, remove: [] });
    const [second, third] = [`${PROJECT}_${SERVICE}_2`, `${PROJECT}_${SERVICE}_3`];
    expect(up.created).toEqual([second, third]);
    expect(await serviceContainers()).toEqual({ [model]: 'running', [second]: 'running', [third]: 'running' });
    const copy = (await ok('GET', `/containers/${second}/json`)) as {
      Id: string;
      Config: { Env: string[]; Hostname: string; Image: string; Cmd: string[]; Labels: Record<string, string> };
      HostConfig: { NetworkMode: string; Init: boolean };
      NetworkSettings: { Networks: Record<string, { Aliases: string[] }> };
    };
    expect(copy.Config.Env).toEqual(expect.arrayContaining([`SBC_MACHINE_ID=${second}`, 'SBC_TEST=1']));
    expect(copy.Config.Env).not.toContain(`SBC_MACHINE_ID=${model}`);
    expect(copy.Config).toMatchObject({ Hostname: second, Image: IMAGE, Cmd: ['sleep', '300'], Labels: { 'com.docker.compose.container-number': '2', [OWNER]: PROJECT } });
    expect(copy.HostConfig).toMatchObject({ NetworkMode: NETWORK, Init: true });
    expect(copy.NetworkSettings.Networks[NETWORK]?.Aliases).toEqual(expect.arrayContaining([SERVICE, copy.Id.slice(0, 12)]));

    expect((await provisioner.apply({ replicas: 3, remove: [] })).created).toEqual([]);

    const down = await provisioner.apply({ replicas: 1, remove: [ref(second), ref(third)] });
    expect(down.removed).toEqual([second, third]);
    expect(await serviceContainers()).toEqual({ [model]: 'running' });
    expect(await provisioner.apply({ replicas: 1, remove: [ref(second), ref(third)] })).toMatchObject({ created: [], removed: [] });
  });
});
