import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ProvisionerError, type MachineRef } from '../../../src/ports/provisioner.js';
import { KubernetesApiError, KubernetesProvisioner, POD_DELETION_COST, type KubernetesProvisionerOptions } from '../../../src/provisioners/kubernetes.js';
import { FakeKubernetesApi, type FakeKubernetesApiOptions } from '../../fakes/kubernetesApi.js';

const ref = (machineId: string): MachineRef => ({ machineId, nodeId: `core-${machineId}`, hostname: machineId, sipUri: `sip:${machineId}:5060` });

const STS = '/apis/apps/v1/namespaces/sbc/statefulsets/sbc-fs';
const DEPLOY = '/apis/apps/v1/namespaces/sbc/deployments/sbc-fs';
const PODS = '/api/v1/namespaces/sbc/pods?labelSelector=app%3Dsbc-fs';

const apis: FakeKubernetesApi[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(apis.splice(0).map((a) => a.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function setup(fake: FakeKubernetesApiOptions, options: Partial<KubernetesProvisionerOptions> = {}) {
  const api = await FakeKubernetesApi.start(fake);
  apis.push(api);
  const provisioner = new KubernetesProvisioner({
    apiUrl: api.url,
    token: api.token,
    namespace: 'sbc',
    workloadKind: fake.kind,
    workloadName: 'sbc-fs',
    timeoutMs: 2000,
    ...options,
  });
  return { api, provisioner };
}

/** The error a rejected promise carries, asserted to be a ProvisionerError. */
async function refusal(promise: Promise<unknown>): Promise<ProvisionerError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ProvisionerError);
  return err as ProvisionerError;
}

/** Sets a pod's deletion cost straight through the fake's API, as an earlier attempt or another client would. */
async function annotateCost(api: FakeKubernetesApi, pod: string, cost: string): Promise<void> {
  const res = await fetch(`${api.url}/api/v1/namespaces/sbc/pods/${pod}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/merge-patch+json' },
    body: JSON.stringify({ metadata: { annotations: { [POD_DELETION_COST]: cost } } }),
  });
  expect(res.status).toBe(200);
}

describe('KubernetesProvisioner, StatefulSet', () => {
  it('list: the workload\'s pods only, running, stopping while terminating and starting until ready', async () => {
    const { api, provisioner } = await setup({ kind: 'StatefulSet', replicas: 3 });
    api.addPod('redis-0', { app: 'redis' });
    await provisioner.apply({ replicas: 2, remove: [ref('sbc-fs-2')] }); // sbc-fs-2 is terminating
    api.setPodState('sbc-fs-1', 'Running', false);
    api.requests.length = 0;

    expect(await provisioner.list()).toEqual([
      { machineId: 'sbc-fs-0', phase: 'running' },
      { machineId: 'sbc-fs-1', phase: 'starting' },
      { machineId: 'sbc-fs-2', phase: 'stopping' },
    ]);
    expect(api.lines()).toEqual([`GET ${STS}`, `GET ${PODS}`]);
    expect(api.requests[1]?.query).toEqual({ labelSelector: 'app=sbc-fs' });
  });

  it('removalChoice: exactly the highest ordinals below spec.replicas, highest first', async () => {
    const { provisioner } = await setup({ kind: 'StatefulSet', replicas: 4 });
    expect(await provisioner.removalChoice(2)).toEqual({ kind: 'exactly', machineIds: ['sbc-fs-3', 'sbc-fs-2'] });
  });

  it('removalChoice: counts from spec.ordinals.start', async () => {
    const { provisioner } = await setup({ kind: 'StatefulSet', replicas: 3, ordinalStart: 1 });
    expect(await provisioner.removalChoice(1)).toEqual({ kind: 'exactly', machineIds: ['sbc-fs-3'] });
  });

  it('scale up: one merge patch of the scale subresource; the new ordinals are the ones created', async () => {
    const { api, provisioner } = await setup({ kind: 'StatefulSet', replicas: 3 });
    const outcome = await provisioner.apply({ replicas: 5, remove: [] });

    expect(outcome).toEqual({ created: ['sbc-fs-3', 'sbc-fs-4'], removed: [], detail: 'statefulset sbc/sbc-fs scaled 3 -> 5' });
    expect(api.lines()).toEqual([`GET ${STS}`, `PATCH ${STS}/scale`]);
    expect(api.requests[1]).toMatchObject({ contentType: 'application/merge-patch+json', authorization: 'Bearer token-1', body: { spec: { replicas: 5 } } });
    expect(api.podNames()).toEqual(['sbc-fs-0', 'sbc-fs-1', 'sbc-fs-2', 'sbc-fs-3', 'sbc-fs-4']);
  });

  it('scale down: removes exactly the highest ordinals, which the request drained', async () => {
    const { api, provisioner } = await setup({ kind: 'StatefulSet', replicas: 5 });
    const outcome = await provisioner.apply({ replicas: 3, remove: [ref('sbc-fs-4'), ref('sbc-fs-3')] });

    expect(outcome).toEqual({ created: [], removed: ['sbc-fs-4', 'sbc-fs-3'], detail: 'statefulset sbc/sbc-fs scaled 5 -> 3' });
    expect(api.lines()).toEqual([`GET ${STS}`, `PATCH ${STS}/scale`]);
    expect(api.requests[1]?.body).toEqual({ spec: { replicas: 3 } });
    expect(api.podNames('active')).toEqual(['sbc-fs-0', 'sbc-fs-1', 'sbc-fs-2']);
  });

  it('scale down repeated, while the pods terminate and once they are gone: no PATCH', async () => {
    const { api, provisioner } = await setup({ kind: 'StatefulSet', replicas: 5 });
    const request = { replicas: 3, remove: [ref('sbc-fs-3'), ref('sbc-fs-4')] };
    await provisioner.apply(request);
    api.requests.length = 0;

    expect(await provisioner.apply(request)).toEqual({ created: [], removed: [], detail: 'statefulset sbc/sbc-fs already at 3 replicas' });
    api.finishTerminating();
    await provisioner.apply(request);
    expect(api.lines()).toEqual([`GET ${STS}`, `GET ${STS}`]);
  });

  it('scale down refuses a remove that is not the highest ordinals, and patches nothing', async () => {
    const { api, provisioner } = await setup({ kind: 'StatefulSet', replicas: 3 });

    const wrong = await refusal(provisioner.apply({ replicas: 2, remove: [ref('sbc-fs-1')] }));
    expect(wrong.message).toBe('kubernetes provisioner: statefulset sbc/sbc-fs: sbc-fs-1 is not among the highest ordinals a scale to 2 removes (sbc-fs-2 and up)');
    const short = await refusal(provisioner.apply({ replicas: 1, remove: [ref('sbc-fs-2')] }));
    expect(short.message).toContain('a scale from 3 to 1 removes sbc-fs-1, which the request does not remove');
    const foreign = await refusal(provisioner.apply({ replicas: 2, remove: [ref('other-2')] }));
    expect(foreign.message).toContain('other-2 is not a pod of statefulset sbc-fs');

    expect(api.lines()).toEqual([`GET ${STS}`, `GET ${STS}`, `GET ${STS}`]);
    expect(api.replicas).toBe(3);
  });
});

describe('KubernetesProvisioner, Deployment', () => {
  it('removalChoice: any, without asking the API', async () => {
    const { api, provisioner } = await setup({ kind: 'Deployment', replicas: 3 });
    expect(await provisioner.removalChoice(1)).toEqual({ kind: 'any' });
    expect(api.requests).toEqual([]);
  });

  it('scale down: the drained pods get pod-deletion-cost -1000, then the scale; the ReplicaSet removes those', async () => {
    const { api, provisioner } = await setup({ kind: 'Deployment', replicas: 4 });
    const [a, b] = api.podNames();
    const outcome = await provisioner.apply({ replicas: 2, remove: [ref(a ?? ''), ref(b ?? '')] });

    expect(api.lines()).toEqual([`GET ${DEPLOY}`, `GET ${PODS}`, `PATCH /api/v1/namespaces/sbc/pods/${a}`, `PATCH /api/v1/namespaces/sbc/pods/${b}`, `PATCH ${DEPLOY}/scale`]);
    for (const r of api.requests.slice(2, 4)) {
      expect(r).toMatchObject({ contentType: 'application/merge-patch+json', body: { metadata: { annotations: { [POD_DELETION_COST]: '-1000' } } } });
    }
    expect(api.requests[4]?.body).toEqual({ spec: { replicas: 2 } });
    expect(outcome.removed).toEqual([a, b]);
    expect(api.podNames('active')).toEqual(api.podNames().filter((n) => n !== a && n !== b));
  });

  it('scale down repeated: replicas already at target, no PATCH at all', async () => {
    const { api, provisioner } = await setup({ kind: 'Deployment', replicas: 3 });
    const request = { replicas: 2, remove: [ref(api.podNames()[1] ?? '')] };
    await provisioner.apply(request);
    api.requests.length = 0;

    expect(await provisioner.apply(request)).toEqual({ created: [], removed: [], detail: 'deployment sbc/sbc-fs already at 2 replicas' });
    api.finishTerminating();
    await provisioner.apply(request);
    expect(api.lines()).toEqual([`GET ${DEPLOY}`, `GET ${DEPLOY}`]);
  });

  it('scale down after the annotations went through but the scale did not: the annotation is not patched again', async () => {
    const { api, provisioner } = await setup({ kind: 'Deployment', replicas: 3 });
    const pod = api.podNames()[0] ?? '';
    await annotateCost(api, pod, '-1000'); // the first attempt's annotation; its scale PATCH never came
    api.requests.length = 0;

    await provisioner.apply({ replicas: 2, remove: [ref(pod)] });
    expect(api.lines()).toEqual([`GET ${DEPLOY}`, `GET ${PODS}`, `PATCH ${DEPLOY}/scale`]);
    expect(api.podNames('active')).not.toContain(pod);
  });

  it('no other pod keeps a cost as low: a stale -1000 elsewhere puts the drained pod at -1001', async () => {
    const { api, provisioner } = await setup({ kind: 'Deployment', replicas: 3 });
    const [stale, drained] = api.podNames();
    await annotateCost(api, stale ?? '', '-1000');
    await provisioner.apply({ replicas: 2, remove: [ref(drained ?? '')] });

    expect(api.annotations(drained ?? '')).toEqual({ [POD_DELETION_COST]: '-1001' });
    expect(api.podNames('active')).not.toContain(drained);
    expect(api.podNames('active')).toContain(stale);
  });

  it('scale down refuses while another pod is not ready (the ReplicaSet would delete it first), and patches nothing', async () => {
    const { api, provisioner } = await setup({ kind: 'Deployment', replicas: 3 });
    const [drained, , starting] = api.podNames();
    api.setPodState(starting ?? '', 'Pending', false);

    const err = await refusal(provisioner.apply({ replicas: 2, remove: [ref(drained ?? '')] }));
    expect(err.message).toContain(`pod ${starting} is starting (Pending): the ReplicaSet would delete it before the drained pods`);
    expect(api.lines()).toEqual([`GET ${DEPLOY}`, `GET ${PODS}`]);
  });

  it('scale down refuses when remove does not name as many running pods as the scale cuts', async () => {
    const { api, provisioner } = await setup({ kind: 'Deployment', replicas: 3 });
    const err = await refusal(provisioner.apply({ replicas: 1, remove: [ref(api.podNames()[0] ?? ''), ref('sbc-fs-gone-xxxxx')] }));
    expect(err.message).toContain('a scale from 3 to 1 removes 2 pod(s), but the request\'s pods still running are 1');
    expect(api.replicas).toBe(3);
  });

  it('scale up: one PATCH of the scale; the ReplicaSet names the new pods', async () => {
    const { api, provisioner } = await setup({ kind: 'Deployment', replicas: 1 });
    expect(await provisioner.apply({ replicas: 3, remove: [] })).toEqual({ created: [], removed: [], detail: 'deployment sbc/sbc-fs scaled 1 -> 3' });
    expect(api.lines()).toEqual([`GET ${DEPLOY}`, `GET ${PODS}`, `PATCH ${DEPLOY}/scale`]);
    expect(api.podNames()).toHaveLength(3);
    expect(api.podNames().every((n) => /^sbc-fs-7d4b9c8f6d-[bcdfghjklmnpqrstvwxz2456789]{5}$/.test(n))).toBe(true);
  });
});

describe('KubernetesProvisioner, API access', () => {
  it('reads the token file on every request, so a rotated token is used at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'k8s-token-'));
    dirs.push(dir);
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'token-1\n');
    const { api, provisioner } = await setup({ kind: 'StatefulSet', replicas: 1 }, { token: undefined, tokenFile });

    await provisioner.removalChoice(1);
    api.token = 'token-2';
    await writeFile(tokenFile, 'token-2\n');
    await provisioner.removalChoice(1);
    expect(api.requests.map((r) => r.authorization)).toEqual(['Bearer token-1', 'Bearer token-2']);
  });

  it('401: a ProvisionerError with the API\'s Status reason and message', async () => {
    const { provisioner } = await setup({ kind: 'StatefulSet' }, { token: 'stale' });
    const err = await refusal(provisioner.list());
    expect(err.message).toBe(`kubernetes provisioner: GET ${STS}: HTTP 401 Unauthorized: Unauthorized`);
    expect(err.cause).toBeInstanceOf(KubernetesApiError);
    expect(err.cause).toMatchObject({ status: 401, reason: 'Unauthorized', apiMessage: 'Unauthorized' });
  });

  it('404: a workload that is not there is a ProvisionerError with reason NotFound', async () => {
    const { provisioner } = await setup({ kind: 'StatefulSet' }, { workloadName: 'nope' });
    const err = await refusal(provisioner.removalChoice(1));
    expect(err.cause).toMatchObject({ status: 404, reason: 'NotFound', apiMessage: 'statefulsets.apps "nope" not found' });
    expect(err.message).toContain('HTTP 404 NotFound: statefulsets.apps "nope" not found');
  });

  it('a server that does not answer: a ProvisionerError once timeoutMs is up', async () => {
    const { api, provisioner } = await setup({ kind: 'Deployment' }, { timeoutMs: 150 });
    api.stalled = true;
    const err = await refusal(provisioner.list());
    expect(err.message).toBe(`kubernetes provisioner: GET ${DEPLOY}: no answer within 150 ms`);
    expect(api.requests).toHaveLength(1);
  });

  it('an unreadable token file: a ProvisionerError before any request', async () => {
    const { api, provisioner } = await setup({ kind: 'StatefulSet' }, { token: undefined, tokenFile: '/nonexistent/token' });
    const err = await refusal(provisioner.list());
    expect(err.message).toContain('cannot read the token file /nonexistent/token');
    expect(api.requests).toEqual([]);
  });
});

describe('FakeKubernetesApi, as the real server answers', () => {
  it('415 for a PATCH that is not a merge patch, 404 Status for a missing pod', async () => {
    const api = await FakeKubernetesApi.start({ kind: 'StatefulSet', replicas: 1 });
    apis.push(api);
    const patch = (path: string, contentType: string) =>
      fetch(api.url + path, { method: 'PATCH', headers: { authorization: 'Bearer token-1', 'content-type': contentType }, body: '{"spec":{"replicas":2}}' });

    const unsupported = await patch(`${STS}/scale`, 'application/json');
    expect(unsupported.status).toBe(415);
    expect(await unsupported.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'UnsupportedMediaType', code: 415 });
    const missing = await patch('/api/v1/namespaces/sbc/pods/sbc-fs-9', 'application/merge-patch+json');
    expect(await missing.json()).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'pods "sbc-fs-9" not found',
      reason: 'NotFound',
      details: { name: 'sbc-fs-9', kind: 'pods' },
      code: 404,
    });
    expect(api.replicas).toBe(1);
  });

  it('GET scale: an autoscaling/v1 Scale with the selector as a query string', async () => {
    const api = await FakeKubernetesApi.start({ kind: 'Deployment', replicas: 2 });
    apis.push(api);
    const res = await fetch(`${api.url}${DEPLOY}/scale`, { headers: { authorization: 'Bearer token-1' } });
    expect(await res.json()).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 2 }, status: { replicas: 2, selector: 'app=sbc-fs' } });
  });
});
