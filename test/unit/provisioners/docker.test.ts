import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ProvisionerError, type MachineRef } from '../../../src/ports/provisioner.js';
import { DockerEngineError, DockerProvisioner, planCreate, type ContainerInspect, type DockerProvisionerOptions } from '../../../src/provisioners/docker.js';
import { FAKE_IMAGE, FakeDockerEngine, type FakeDockerEngineOptions } from '../../fakes/dockerEngine.js';

const ref = (machineId: string): MachineRef => ({ machineId, nodeId: `core-${machineId}`, hostname: machineId, sipUri: `sip:${machineId}:5060` });

const V = '/v1.41';
const FILTERS = '{"label":["com.docker.compose.project=sbc","com.docker.compose.service=fs"]}';
const LIST = `GET ${V}/containers/json?all=true&filters=${FILTERS}`;

const engines: FakeDockerEngine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

async function setup(running: number, options: Partial<DockerProvisionerOptions> = {}, fake: FakeDockerEngineOptions = {}) {
  const engine = await FakeDockerEngine.start(fake);
  engines.push(engine);
  for (let n = 1; n <= running; n++) engine.addComposeContainer({ project: 'sbc', service: 'fs', number: n });
  const provisioner = new DockerProvisioner({ socketPath: engine.socketPath, project: 'sbc', service: 'fs', timeoutMs: 2000, stopTimeoutSeconds: 5, ...options });
  return { engine, provisioner };
}

/** The error a rejected promise carries, asserted to be a ProvisionerError. */
async function refusal(promise: Promise<unknown>): Promise<ProvisionerError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ProvisionerError);
  return err as ProvisionerError;
}

/** One raw call to the fake, as another client would make it. */
function call(engine: FakeDockerEngine, method: string, path: string, body?: unknown): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: engine.socketPath, method, path, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('DockerProvisioner: list and removal choice', () => {
  it('list: the service\'s containers only, by name, each state mapped to its phase', async () => {
    const { engine, provisioner } = await setup(0);
    const states = ['running', 'created', 'restarting', 'exited', 'dead', 'paused', 'removing'] as const;
    states.forEach((state, i) => engine.addComposeContainer({ project: 'sbc', service: 'fs', number: i + 1, state }));
    engine.addComposeContainer({ project: 'sbc', service: 'kamailio', number: 1 });
    engine.addComposeContainer({ project: 'other', service: 'fs', number: 1 });
    engine.addContainer('sbc_fs_99');

    expect(await provisioner.list()).toEqual([
      { machineId: 'sbc_fs_1', phase: 'running' },
      { machineId: 'sbc_fs_2', phase: 'starting' },
      { machineId: 'sbc_fs_3', phase: 'starting' },
      { machineId: 'sbc_fs_4', phase: 'stopping' },
      { machineId: 'sbc_fs_5', phase: 'stopping' },
      { machineId: 'sbc_fs_6', phase: 'stopping' },
      { machineId: 'sbc_fs_7', phase: 'stopping' },
    ]);
    expect(engine.lines()).toEqual([LIST]);
    expect(engine.requests[0]?.query).toEqual({ all: 'true', filters: FILTERS });
  });

  it('removalChoice: any, the core picks, with no call to the engine', async () => {
    const { engine, provisioner } = await setup(3);
    expect(await provisioner.removalChoice(2)).toEqual({ kind: 'any' });
    expect(engine.requests).toEqual([]);
  });
});

describe('DockerProvisioner: scale up', () => {
  it('copies the newest running container: image, env with its own SBC_MACHINE_ID, labels with the next number, command, HostConfig, network alias', async () => {
    const { engine, provisioner } = await setup(2);
    engine.addComposeContainer({ project: 'sbc', service: 'fs', number: 3, state: 'exited' }); // newest, but not running: not the model, and not counted
    const model = engine.idOf('sbc_fs_2');
    const modelConfig = engine.inspect('sbc_fs_2') as { HostConfig: unknown };

    const outcome = await provisioner.apply({ replicas: 3, remove: [] });

    expect(outcome.created).toEqual(['sbc_fs_4']);
    expect(outcome.removed).toEqual([]);
    expect(outcome.detail).toBe('docker service sbc/fs: created sbc_fs_4 (copies of the newest running container)');
    const created = engine.idOf('sbc_fs_4');
    expect(engine.lines()).toEqual([
      LIST,
      `GET ${V}/containers/${model}/json`,
      `POST ${V}/containers/create?name=sbc_fs_4`,
      `POST ${V}/containers/${created}/start`,
    ]);
    const create = engine.requests[2];
    expect(create?.contentType).toBe('application/json');
    expect(create?.body).toMatchObject({
      Image: FAKE_IMAGE,
      Hostname: 'sbc_fs_4',
      Env: ['SBC_NATS_URL=nats://nats:4222', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'SBC_MACHINE_ID=sbc_fs_4'],
      Cmd: ['/usr/local/bin/start'],
      Entrypoint: null,
      Labels: {
        'com.docker.compose.project': 'sbc',
        'com.docker.compose.service': 'fs',
        'com.docker.compose.container-number': '4',
        'com.docker.compose.oneoff': 'False',
        'com.docker.compose.version': '1.29.2',
        'com.docker.compose.config-hash': expect.any(String) as unknown,
      },
      HostConfig: modelConfig.HostConfig,
      NetworkingConfig: { EndpointsConfig: { sbc_default: { Aliases: ['fs'] } } },
    });
    expect((create?.body as { HostConfig: unknown }).HostConfig).toMatchObject({
      NetworkMode: 'sbc_default',
      Binds: ['/srv/sbc/conf:/etc/freeswitch:ro'],
      RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 },
      Init: true,
    });
    // The engine holds it, running, on the service's network under the service's alias (and its own short id).
    expect(engine.inspect('sbc_fs_4')).toMatchObject({
      State: { Status: 'running' },
      Config: { Hostname: 'sbc_fs_4', Labels: { 'com.docker.compose.container-number': '4' } },
      NetworkSettings: { Networks: { sbc_default: { Aliases: ['fs', created.slice(0, 12)] } } },
    });
    expect(engine.names('live')).toEqual(['sbc_fs_1', 'sbc_fs_2', 'sbc_fs_4']);
  });

  it('several at once: one create and start each, numbers in order', async () => {
    const { engine, provisioner } = await setup(1);
    const outcome = await provisioner.apply({ replicas: 3, remove: [] });

    expect(outcome.created).toEqual(['sbc_fs_2', 'sbc_fs_3']);
    expect(engine.lines().filter((l) => l.startsWith('POST'))).toEqual([
      `POST ${V}/containers/create?name=sbc_fs_2`,
      `POST ${V}/containers/${engine.idOf('sbc_fs_2')}/start`,
      `POST ${V}/containers/create?name=sbc_fs_3`,
      `POST ${V}/containers/${engine.idOf('sbc_fs_3')}/start`,
    ]);
    expect(engine.names('live')).toEqual(['sbc_fs_1', 'sbc_fs_2', 'sbc_fs_3']);
  });

  it('a model on two networks: created on its NetworkMode one, connected to the other before the start (the engine takes one endpoint at create)', async () => {
    const { engine, provisioner } = await setup(0);
    engine.addComposeContainer({ project: 'sbc', service: 'fs', number: 1, networks: ['sbc_default', 'sbc_media'] });

    await provisioner.apply({ replicas: 2, remove: [] });

    const id = engine.idOf('sbc_fs_2');
    expect(engine.lines().slice(2)).toEqual([
      `POST ${V}/containers/create?name=sbc_fs_2`,
      `POST ${V}/networks/sbc_media/connect`,
      `POST ${V}/containers/${id}/start`,
    ]);
    expect(engine.requests[2]?.body).toMatchObject({ NetworkingConfig: { EndpointsConfig: { sbc_default: { Aliases: ['fs'] } } } });
    expect(engine.requests[3]?.body).toEqual({ Container: id, EndpointConfig: { Aliases: ['fs'] } });
    expect(Object.keys((engine.inspect('sbc_fs_2') as { NetworkSettings: { Networks: object } }).NetworkSettings.Networks)).toEqual(['sbc_default', 'sbc_media']);
  });

  it('a model on the default bridge or the host network: no alias (the engine refuses one there)', async () => {
    const { engine, provisioner } = await setup(0);
    engine.addComposeContainer({ project: 'sbc', service: 'fs', number: 1, networks: ['host'] });

    await provisioner.apply({ replicas: 2, remove: [] });

    expect(engine.requests[2]?.body).not.toHaveProperty('NetworkingConfig');
    expect(engine.requests[2]?.body).toMatchObject({ HostConfig: { NetworkMode: 'host' } });
    expect(engine.inspect('sbc_fs_2')).toMatchObject({ State: { Status: 'running' }, NetworkSettings: { Networks: { host: { Aliases: null } } } });
  });

  it('a name taken by a container outside the service (409): the next number', async () => {
    const { engine, provisioner } = await setup(1);
    engine.addContainer('sbc_fs_2', { owner: 'someone else' });

    const outcome = await provisioner.apply({ replicas: 2, remove: [] });

    expect(outcome.created).toEqual(['sbc_fs_3']);
    expect(engine.lines().slice(2)).toEqual([
      `POST ${V}/containers/create?name=sbc_fs_2`,
      `POST ${V}/containers/create?name=sbc_fs_3`,
      `POST ${V}/containers/${engine.idOf('sbc_fs_3')}/start`,
    ]);
  });

  it('a container left created by an earlier call is started, not doubled', async () => {
    const { engine, provisioner } = await setup(1);
    engine.addComposeContainer({ project: 'sbc', service: 'fs', number: 2, state: 'created' });

    const outcome = await provisioner.apply({ replicas: 2, remove: [] });

    expect(outcome).toEqual({ created: [], removed: [], detail: 'docker service sbc/fs: started sbc_fs_2 (left created)' });
    expect(engine.lines()).toEqual([LIST, `POST ${V}/containers/${engine.idOf('sbc_fs_2')}/start`]);
    expect(engine.inspect('sbc_fs_2')).toMatchObject({ State: { Status: 'running' } });
  });

  it('a start another client made first (304) is the state asked for', async () => {
    const { engine, provisioner } = await setup(1);
    engine.addComposeContainer({ project: 'sbc', service: 'fs', number: 2, state: 'created' });
    engine.beforeAnswer = (req) => {
      if (req.path.endsWith('/start')) engine.setState('sbc_fs_2', 'running');
    };

    expect((await provisioner.apply({ replicas: 2, remove: [] })).created).toEqual([]);
    expect(engine.lines()).toEqual([LIST, `POST ${V}/containers/${engine.idOf('sbc_fs_2')}/start`]);
  });

  it('no container to copy: a ProvisionerError, and nothing asked of the engine but the list', async () => {
    const { engine, provisioner } = await setup(0);
    const err = await refusal(provisioner.apply({ replicas: 1, remove: [] }));
    expect(err.message).toBe('docker provisioner: service sbc/fs: no container to copy; start one (docker-compose up) before scaling');
    expect(engine.lines()).toEqual([LIST]);
  });

  it('replacing the last, drained container: the model is read before it goes', async () => {
    const { engine, provisioner } = await setup(1);
    const drained = engine.idOf('sbc_fs_1');

    const outcome = await provisioner.apply({ replicas: 1, remove: [ref('sbc_fs_1')] });

    expect(outcome).toMatchObject({ created: ['sbc_fs_2'], removed: ['sbc_fs_1'] });
    expect(engine.lines()).toEqual([
      LIST,
      `GET ${V}/containers/${drained}/json`,
      `POST ${V}/containers/${drained}/stop?t=5`,
      `DELETE ${V}/containers/${drained}?v=true`,
      `POST ${V}/containers/create?name=sbc_fs_2`,
      `POST ${V}/containers/${engine.idOf('sbc_fs_2')}/start`,
    ]);
    expect(engine.names()).toEqual(['sbc_fs_2']);
  });

  it('repeated once the pool is at its size: only the list', async () => {
    const { engine, provisioner } = await setup(2);
    await provisioner.apply({ replicas: 4, remove: [] });
    engine.requests.length = 0;

    expect(await provisioner.apply({ replicas: 4, remove: [] })).toEqual({ created: [], removed: [], detail: 'docker service sbc/fs: already at 4 live container(s)' });
    expect(engine.lines()).toEqual([LIST]);
    expect(engine.names()).toEqual(['sbc_fs_1', 'sbc_fs_2', 'sbc_fs_3', 'sbc_fs_4']);
  });

  it('a custom name prefix names the new containers', async () => {
    const { engine, provisioner } = await setup(1, { namePrefix: 'sbc-fs-' });
    expect((await provisioner.apply({ replicas: 2, remove: [] })).created).toEqual(['sbc-fs-2']);
    expect(engine.inspect('sbc-fs-2')).toMatchObject({ Config: { Env: expect.arrayContaining(['SBC_MACHINE_ID=sbc-fs-2']) as unknown } });
  });
});

describe('DockerProvisioner: scale down', () => {
  it('stops then deletes exactly the drained containers named, with their anonymous volumes', async () => {
    const { engine, provisioner } = await setup(4);
    const [two, four] = [engine.idOf('sbc_fs_2'), engine.idOf('sbc_fs_4')];

    const outcome = await provisioner.apply({ replicas: 2, remove: [ref('sbc_fs_2'), ref('sbc_fs_4')] });

    expect(outcome).toEqual({ created: [], removed: ['sbc_fs_2', 'sbc_fs_4'], detail: 'docker service sbc/fs: stopped and removed sbc_fs_2, sbc_fs_4' });
    expect(engine.lines()).toEqual([
      LIST,
      `POST ${V}/containers/${two}/stop?t=5`,
      `DELETE ${V}/containers/${two}?v=true`,
      `POST ${V}/containers/${four}/stop?t=5`,
      `DELETE ${V}/containers/${four}?v=true`,
    ]);
    expect(engine.names()).toEqual(['sbc_fs_1', 'sbc_fs_3']);
  });

  it('fewer replicas than the containers left: only the drained ones go, and the detail says so', async () => {
    const { engine, provisioner } = await setup(3);

    const outcome = await provisioner.apply({ replicas: 1, remove: [ref('sbc_fs_3')] });

    expect(outcome.removed).toEqual(['sbc_fs_3']);
    expect(outcome.detail).toBe('docker service sbc/fs: stopped and removed sbc_fs_3; 2 live, above the 1 asked for: only drained machines named in the request are removed');
    expect(engine.names()).toEqual(['sbc_fs_1', 'sbc_fs_2']);
  });

  it('a machine named that is not a container of the service is left alone', async () => {
    const { engine, provisioner } = await setup(2);
    engine.addComposeContainer({ project: 'sbc', service: 'kamailio', number: 1 });

    const outcome = await provisioner.apply({ replicas: 2, remove: [ref('sbc_kamailio_1')] });

    expect(outcome).toEqual({ created: [], removed: [], detail: 'docker service sbc/fs: 1 of the machines to remove already gone; already at 2 live container(s)' });
    expect(engine.lines()).toEqual([LIST]);
    expect(engine.names()).toContain('sbc_kamailio_1');
  });

  it('repeated, once the drained ones are gone: only the list', async () => {
    const { engine, provisioner } = await setup(3);
    const request = { replicas: 2, remove: [ref('sbc_fs_3')] };
    await provisioner.apply(request);
    engine.requests.length = 0;

    expect(await provisioner.apply(request)).toEqual({ created: [], removed: [], detail: 'docker service sbc/fs: 1 of the machines to remove already gone; already at 2 live container(s)' });
    expect(engine.lines()).toEqual([LIST]);
  });

  it('a drained container already stopped (304 on stop) is deleted', async () => {
    const { engine, provisioner } = await setup(2);
    engine.setState('sbc_fs_2', 'exited');
    const id = engine.idOf('sbc_fs_2');

    expect((await provisioner.apply({ replicas: 1, remove: [ref('sbc_fs_2')] })).removed).toEqual(['sbc_fs_2']);
    expect(engine.lines()).toEqual([LIST, `POST ${V}/containers/${id}/stop?t=5`, `DELETE ${V}/containers/${id}?v=true`]);
    expect(engine.names()).toEqual(['sbc_fs_1']);
  });

  it('a container another client removed after the list: 404 on stop, no delete, not counted as removed', async () => {
    const { engine, provisioner } = await setup(2);
    const id = engine.idOf('sbc_fs_2');
    engine.beforeAnswer = (req) => {
      if (req.path.endsWith('/stop')) engine.delete('sbc_fs_2');
    };

    expect((await provisioner.apply({ replicas: 1, remove: [ref('sbc_fs_2')] })).removed).toEqual([]);
    expect(engine.lines()).toEqual([LIST, `POST ${V}/containers/${id}/stop?t=5`]);
  });

  it('a container another client removed between the stop and the delete: 404 on delete is fine', async () => {
    const { engine, provisioner } = await setup(2);
    const id = engine.idOf('sbc_fs_2');
    engine.beforeAnswer = (req) => {
      if (req.method === 'DELETE') engine.delete('sbc_fs_2');
    };

    expect((await provisioner.apply({ replicas: 1, remove: [ref('sbc_fs_2')] })).removed).toEqual(['sbc_fs_2']);
    expect(engine.lines()).toEqual([LIST, `POST ${V}/containers/${id}/stop?t=5`, `DELETE ${V}/containers/${id}?v=true`]);
  });
});

describe('DockerProvisioner: refusals and failures', () => {
  it('the engine refusing the create (the image is gone): a ProvisionerError with the engine\'s status and message', async () => {
    const { engine, provisioner } = await setup(1);
    engine.images.clear();

    const err = await refusal(provisioner.apply({ replicas: 2, remove: [] }));

    expect(err.cause).toBeInstanceOf(DockerEngineError);
    expect(err.cause).toMatchObject({ method: 'POST', path: `${V}/containers/create?name=sbc_fs_2`, status: 404, engineMessage: `No such image: ${FAKE_IMAGE}` });
    expect(err.message).toBe(`docker provisioner: POST ${V}/containers/create?name=sbc_fs_2: HTTP 404: No such image: ${FAKE_IMAGE}`);
    expect(engine.names()).toEqual(['sbc_fs_1']);
  });

  it('an API version the engine does not serve: its 400 as a ProvisionerError', async () => {
    const { provisioner } = await setup(1, { apiVersion: 'v1.45' });
    const err = await refusal(provisioner.list());
    expect(err.cause).toMatchObject({ status: 400, engineMessage: 'client version 1.45 is too new. Maximum supported API version is 1.41' });
  });

  it('an engine that does not answer: a ProvisionerError once timeoutMs is up', async () => {
    const { engine, provisioner } = await setup(1, { timeoutMs: 150 });
    engine.stalled = true;
    const err = await refusal(provisioner.list());
    expect(err.message).toBe(`docker provisioner: GET ${V}/containers/json?all=true&filters=${encodeURIComponent(FILTERS)}: no answer within 150 ms`);
    expect(engine.requests).toHaveLength(1);
  });

  it('a stop is given the stop timeout on top of the request timeout, and no more', async () => {
    const { engine, provisioner } = await setup(2, { timeoutMs: 100, stopTimeoutSeconds: 1 });
    engine.beforeAnswer = (req) => {
      if (req.path.endsWith('/stop')) engine.stalled = true;
    };
    const err = await refusal(provisioner.apply({ replicas: 1, remove: [ref('sbc_fs_2')] }));
    expect(err.message).toMatch(/\/stop\?t=1: no answer within 1100 ms$/);
  });

  it('no engine at the socket: a ProvisionerError that names the socket', async () => {
    const provisioner = new DockerProvisioner({ socketPath: '/nonexistent/docker.sock', project: 'sbc', service: 'fs', timeoutMs: 500, stopTimeoutSeconds: 1 });
    const err = await refusal(provisioner.list());
    expect(err.message).toContain('ENOENT');
    expect(err.message).toContain('(is the engine at /nonexistent/docker.sock?)');
  });

  it('replicas that are not a whole number >= 0: refused before any request', async () => {
    const { engine, provisioner } = await setup(1);
    expect((await refusal(provisioner.apply({ replicas: -1, remove: [] }))).message).toBe('docker provisioner: replicas must be a whole number >= 0, not -1');
    expect(engine.requests).toEqual([]);
  });
});

describe('FakeDockerEngine, as the real engine answers', () => {
  it('delete of a running container without force: 409 with the engine\'s wording; unknown: 404', async () => {
    const engine = await FakeDockerEngine.start();
    engines.push(engine);
    engine.addContainer('web');
    const id = engine.idOf('web');

    expect(await call(engine, 'DELETE', `${V}/containers/web`)).toMatchObject({
      status: 409,
      body: `{"message":"You cannot remove a running container ${id}. Stop the container before attempting removal or force remove"}\n`,
    });
    expect(await call(engine, 'DELETE', `${V}/containers/nope`)).toMatchObject({ status: 404, body: '{"message":"No such container: nope"}\n' });
    expect((await call(engine, 'DELETE', `${V}/containers/web?force=1`)).status).toBe(204);
    expect(engine.names()).toEqual([]);
  });

  it('start when running and stop when stopped: 304 with no body', async () => {
    const engine = await FakeDockerEngine.start();
    engines.push(engine);
    engine.addContainer('web');

    expect(await call(engine, 'POST', `${V}/containers/web/start`)).toMatchObject({ status: 304, body: '' });
    expect((await call(engine, 'POST', `${V}/containers/web/stop?t=1`)).status).toBe(204);
    expect(await call(engine, 'POST', `${V}/containers/web/stop`)).toMatchObject({ status: 304, body: '' });
  });

  it('create: a taken name is 409, two endpoints are 400 before API 1.44, a missing network 404', async () => {
    const engine = await FakeDockerEngine.start({ networks: ['a', 'b'] });
    engines.push(engine);
    engine.addContainer('web');
    const id = engine.idOf('web');

    expect(await call(engine, 'POST', `${V}/containers/create?name=web`, { Image: FAKE_IMAGE })).toMatchObject({
      status: 409,
      body: `{"message":"Conflict. The container name \\"/web\\" is already in use by container \\"${id}\\". You have to remove (or rename) that container to be able to reuse that name."}\n`,
    });
    const two = await call(engine, 'POST', `${V}/containers/create?name=xy`, { Image: FAKE_IMAGE, NetworkingConfig: { EndpointsConfig: { a: {}, b: {} } } });
    expect(two).toMatchObject({ status: 400, body: '{"message":"Container cannot be connected to network endpoints: a, b"}\n' });
    const missing = await call(engine, 'POST', `${V}/containers/create?name=xy`, { Image: FAKE_IMAGE, HostConfig: { NetworkMode: 'zz' } });
    expect(missing).toMatchObject({ status: 404, body: '{"message":"network zz not found"}\n' });
    const ok = await call(engine, 'POST', '/containers/create?name=xy', { Image: FAKE_IMAGE });
    expect(ok.status).toBe(201);
    expect(JSON.parse(ok.body)).toEqual({ Id: engine.idOf('xy'), Warnings: [] });
  });

  it('list: label filters in both JSON forms, ANDed; without all only running ones; unknown filter 400', async () => {
    const engine = await FakeDockerEngine.start();
    engines.push(engine);
    engine.addContainer('a', { tier: 'fs', zone: 'x' });
    engine.addContainer('b', { tier: 'fs' }, 'exited');
    engine.addContainer('c', { tier: 'db' });
    const names = async (query: string) => (JSON.parse((await call(engine, 'GET', `${V}/containers/json${query}`)).body) as { Names: string[] }[]).map((c) => c.Names[0]);

    expect(await names(`?all=1&filters=${encodeURIComponent('{"label":["tier=fs"]}')}`)).toEqual(['/b', '/a']);
    expect(await names(`?all=1&filters=${encodeURIComponent('{"label":{"tier=fs":true,"zone":true}}')}`)).toEqual(['/a']);
    expect(await names(`?filters=${encodeURIComponent('{"label":["tier=fs"]}')}`)).toEqual(['/a']);
    expect(await call(engine, 'GET', `${V}/containers/json?filters=${encodeURIComponent('{"colour":["red"]}')}`)).toMatchObject({ status: 400, body: '{"message":"invalid filter \'colour\'"}\n' });
  });

  it('_ping, the version prefix and an unknown path', async () => {
    const engine = await FakeDockerEngine.start();
    engines.push(engine);

    expect(await call(engine, 'GET', '/_ping')).toMatchObject({ status: 200, body: 'OK', headers: { 'api-version': '1.41', ostype: 'linux' } });
    expect((await call(engine, 'GET', `${V}/_ping`)).status).toBe(200);
    expect(await call(engine, 'GET', '/v1.11/_ping')).toMatchObject({
      status: 400,
      body: '{"message":"client version 1.11 is too old. Minimum supported API version is 1.12, please upgrade your client to a newer version"}\n',
    });
    expect(await call(engine, 'GET', `${V}/swarm`)).toMatchObject({ status: 404, body: '{"message":"page not found"}\n' });
  });
});

describe('planCreate', () => {
  const model: ContainerInspect = {
    Id: 'abcdef1234567890'.padEnd(64, '0'),
    Name: '/sbc_fs_1',
    Config: { Image: 'img', Hostname: 'fs-one', MacAddress: '02:42:ac:11:00:02', Env: ['HOSTNAME=fs-one', 'SBC_MACHINE_ID=sbc_fs_1', 'A=1'], Labels: { 'com.docker.compose.container-number': '1' } },
    HostConfig: { NetworkMode: 'default' },
    NetworkSettings: { Networks: { bridge: { Aliases: null, IPAMConfig: { IPv4Address: '172.17.0.9' } } } },
  };

  it('a model on the default bridge: its endpoint with no alias, no static IP, no MAC; HOSTNAME and SBC_MACHINE_ID replaced', () => {
    const plan = planCreate(model, 'sbc_fs_2', 2, 'fs');
    expect(plan).toEqual({
      body: {
        Image: 'img',
        Hostname: 'sbc_fs_2',
        Env: ['A=1', 'SBC_MACHINE_ID=sbc_fs_2', 'HOSTNAME=sbc_fs_2'],
        Labels: { 'com.docker.compose.container-number': '2' },
        HostConfig: { NetworkMode: 'default' },
        NetworkingConfig: { EndpointsConfig: { bridge: {} } },
      },
      connect: [],
    });
  });

  it('aliases of a user-defined network keep the extra ones, drop the model\'s short id, name and hostname, and lead with the service', () => {
    const onNet: ContainerInspect = {
      ...model,
      HostConfig: { NetworkMode: 'sbc_default' },
      NetworkSettings: { Networks: { sbc_default: { Aliases: ['abcdef123456', 'sbc_fs_1', 'fs-one', 'media'] } } },
    };
    expect(planCreate(onNet, 'sbc_fs_2', 2, 'fs').body.NetworkingConfig).toEqual({ EndpointsConfig: { sbc_default: { Aliases: ['fs', 'media'] } } });
  });
});
