import { randomInt, randomUUID } from 'node:crypto';
import { onWholeRequest } from './fakeHttpRequest.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake Kubernetes API server of exactly the endpoints KubernetesProvisioner calls, for one
 * namespace and one workload (a StatefulSet or a Deployment) with its pods:
 *
 *   GET   /apis/apps/v1/namespaces/{ns}/{statefulsets|deployments}/{name}        apps/v1 StatefulSet | Deployment
 *   GET   /apis/apps/v1/namespaces/{ns}/{statefulsets|deployments}/{name}/scale  autoscaling/v1 Scale
 *   PATCH /apis/apps/v1/namespaces/{ns}/{statefulsets|deployments}/{name}/scale  merge patch, answers the Scale
 *   GET   /api/v1/namespaces/{ns}/pods?labelSelector=...                          v1 PodList
 *   PATCH /api/v1/namespaces/{ns}/pods/{name}                                      merge patch of metadata, answers the Pod
 *
 * Shapes follow the Kubernetes API reference (kubernetes.io/docs/reference/kubernetes-api/):
 * workloads-resources/stateful-set-v1 and deployment-v1, definitions/scale-v1-autoscaling
 * (spec.replicas; status.replicas and status.selector, the selector as a query string),
 * workload-resources/pod-v1 (metadata.deletionTimestamp, status.phase, status.conditions,
 * status.containerStatuses[].ready), common-definitions/status (every error is a v1 Status:
 * status "Failure", message, reason, code, details). Merge patch is RFC 7386. The error
 * messages are the ones a real API server writes (`pods "x" not found`, `Unauthorized`, the
 * 415 text), and items of a PodList carry no kind/apiVersion, as on the wire.
 *
 * The controllers are modelled where the provisioner depends on them: a StatefulSet keeps
 * pods `<name>-<ordinal>` for ordinals [start, start+replicas) and scaling down removes the
 * highest (podManagementPolicy Parallel); a Deployment's ReplicaSet scaling down deletes pods
 * in its ActivePodsWithRanks order as far as it goes here (unscheduled, then Pending before
 * Unknown before Running, then not ready, then the lowest controller.kubernetes.io/
 * pod-deletion-cost, then the youngest) and scaling up adds `<name>-<hash>-<5 chars>`.
 * A removed pod is first terminating (deletionTimestamp set, still listed); finishTerminating()
 * plays the kubelet. New pods are Pending until runPods().
 *
 * Not modelled: other namespaces and resources, watch, resourceVersion preconditions,
 * json-patch and strategic merge patch (answered 415, as a server answers an unknown type),
 * set-based label selectors (400), rollouts.
 */

export type WorkloadKind = 'StatefulSet' | 'Deployment';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  /** The parsed JSON body; undefined when there was none. */
  readonly body: unknown;
}

interface FakePod {
  metadata: {
    name: string;
    generateName?: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences: { apiVersion: string; kind: string; name: string; uid: string; controller: boolean; blockOwnerDeletion: boolean }[];
  };
  spec: { containers: { name: string; image: string }[]; nodeName?: string; restartPolicy: string; terminationGracePeriodSeconds: number };
  status: {
    phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
    conditions: { type: string; status: 'True' | 'False' }[];
    containerStatuses: { name: string; ready: boolean; started: boolean; restartCount: number; image: string; imageID: string; state: Record<string, object> }[];
  };
  /** Not on the wire: creation order, for "youngest first". */
  seq: number;
}

export interface FakeKubernetesApiOptions {
  readonly kind: WorkloadKind;
  readonly namespace?: string;
  readonly name?: string;
  readonly replicas?: number;
  readonly token?: string;
  readonly matchLabels?: Record<string, string>;
  /** StatefulSet spec.ordinals.start. */
  readonly ordinalStart?: number;
  /** Initial pods are Running and ready (default true). */
  readonly running?: boolean;
}

const IMAGE = 'ghcr.io/example/freeswitch:1.10';
const TEMPLATE_HASH = '7d4b9c8f6d';
// The alphabet of apiserver's generateName suffixes (k8s.io/apimachinery/pkg/util/rand).
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const MERGE_PATCH = 'application/merge-patch+json';
const POD_DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';

class ApiStatus extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, string>,
  ) {
    super(message);
  }
}

const notFound = (kind: string, group: string | undefined, name: string) =>
  new ApiStatus(404, 'NotFound', `${kind}${group ? `.${group}` : ''} "${name}" not found`, { name, ...(group ? { group } : {}), kind });

export class FakeKubernetesApi {
  readonly requests: RecordedRequest[] = [];
  readonly kind: WorkloadKind;
  readonly namespace: string;
  readonly name: string;
  readonly matchLabels: Record<string, string>;
  readonly ordinalStart: number;
  /** The bearer token requests must carry; change it to play a rotation. */
  token: string;
  /** spec.replicas of the workload. */
  replicas: number;
  /** While true, requests are read and recorded but never answered. */
  stalled = false;
  /** Pods of the namespace, the workload's and any added with addPod. */
  readonly pods = new Map<string, FakePod>();
  private readonly uid = randomUUID();
  private readonly created = new Date('2025-01-01T00:00:00Z');
  private resourceVersion = 1000;
  private seq = 0;
  private readonly server = http.createServer((req, res) => this.serve(req, res));

  private constructor(options: FakeKubernetesApiOptions) {
    this.kind = options.kind;
    this.namespace = options.namespace ?? 'sbc';
    this.name = options.name ?? 'sbc-fs';
    this.matchLabels = options.matchLabels ?? { app: 'sbc-fs' };
    this.ordinalStart = options.ordinalStart ?? 0;
    this.token = options.token ?? 'token-1';
    this.replicas = options.replicas ?? 3;
    this.reconcile();
    if (options.running ?? true) this.runPods();
  }

  static async start(options: FakeKubernetesApiOptions): Promise<FakeKubernetesApi> {
    const api = new FakeKubernetesApi(options);
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
    return api;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
  }

  /** The recorded requests as `METHOD path[?query]`, for exact assertions. */
  lines(): string[] {
    return this.requests.map((r) => {
      const q = new URLSearchParams(r.query).toString();
      return `${r.method} ${r.path}${q ? `?${q}` : ''}`;
    });
  }

  /** Names of the pods, sorted; `active` leaves out terminating ones. */
  podNames(which: 'all' | 'active' = 'all'): string[] {
    return [...this.pods.values()].filter((p) => which === 'all' || !p.metadata.deletionTimestamp).map((p) => p.metadata.name).sort();
  }

  annotations(pod: string): Record<string, string> | undefined {
    return this.pods.get(pod)?.metadata.annotations;
  }

  /** Every Pending pod is scheduled, Running and ready. */
  runPods(): void {
    for (const pod of this.pods.values()) if (pod.status.phase === 'Pending') this.setPodState(pod.metadata.name, 'Running', true);
  }

  setPodState(name: string, phase: FakePod['status']['phase'], ready: boolean): void {
    const pod = this.pods.get(name);
    if (!pod) throw new Error(`no pod ${name}`);
    pod.spec.nodeName = 'worker-1';
    pod.status.phase = phase;
    pod.status.conditions = ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({
      type,
      status: type === 'PodScheduled' || type === 'Initialized' || ready ? 'True' : 'False',
    }));
    for (const c of pod.status.containerStatuses) {
      c.ready = ready;
      c.started = phase === 'Running';
      c.state = phase === 'Running' ? { running: { startedAt: this.created.toISOString() } } : { waiting: { reason: 'ContainerCreating' } };
    }
    this.bump(pod);
  }

  /** The kubelet is done: terminating pods go away, and the controller makes up the count. */
  finishTerminating(): void {
    for (const [name, pod] of this.pods) if (pod.metadata.deletionTimestamp) this.pods.delete(name);
    this.reconcile();
  }

  /** A pod of the namespace outside the workload (other labels). */
  addPod(name: string, labels: Record<string, string>): void {
    this.pods.set(name, this.newPod(name, labels, undefined));
    this.setPodState(name, 'Running', true);
  }

  // ---- controllers ----

  private ownsPod(pod: FakePod): boolean {
    return pod.metadata.ownerReferences.some((o) => o.uid === this.uid);
  }

  private reconcile(): void {
    const active = [...this.pods.values()].filter((p) => this.ownsPod(p) && !p.metadata.deletionTimestamp);
    if (this.kind === 'StatefulSet') {
      const wanted = new Set(Array.from({ length: this.replicas }, (_, i) => `${this.name}-${this.ordinalStart + i}`));
      for (const pod of active) if (!wanted.has(pod.metadata.name)) this.terminate(pod);
      // A pod still terminating keeps its name: the controller re-creates it once it is gone.
      for (const name of wanted) if (!this.pods.has(name)) this.pods.set(name, this.newPod(name, { ...this.matchLabels, 'statefulset.kubernetes.io/pod-name': name }, undefined));
      return;
    }
    if (active.length > this.replicas) {
      for (const pod of active.sort((a, b) => this.deleteFirst(a, b)).slice(0, active.length - this.replicas)) this.terminate(pod);
    }
    for (let n = active.length; n < this.replicas; n++) {
      const generateName = `${this.name}-${TEMPLATE_HASH}-`;
      let name: string;
      do name = generateName + Array.from({ length: 5 }, () => SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)]).join('');
      while (this.pods.has(name));
      this.pods.set(name, this.newPod(name, { ...this.matchLabels, 'pod-template-hash': TEMPLATE_HASH }, generateName));
    }
  }

  /** The ReplicaSet's deletion order (controller_utils ActivePodsWithRanks), the rules modelled here. */
  private deleteFirst(a: FakePod, b: FakePod): number {
    const phaseRank = (p: FakePod) => ({ Pending: 0, Unknown: 1, Running: 2 })[p.status.phase as string] ?? 1;
    const ready = (p: FakePod) => (p.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True') ? 1 : 0);
    const cost = (p: FakePod) => Number(p.metadata.annotations?.[POD_DELETION_COST] ?? 0);
    return (
      (a.spec.nodeName ? 1 : 0) - (b.spec.nodeName ? 1 : 0) ||
      phaseRank(a) - phaseRank(b) ||
      ready(a) - ready(b) ||
      cost(a) - cost(b) ||
      b.seq - a.seq
    );
  }

  private terminate(pod: FakePod): void {
    pod.metadata.deletionTimestamp = new Date().toISOString();
    pod.metadata.deletionGracePeriodSeconds = 30;
    this.bump(pod);
  }

  private newPod(name: string, labels: Record<string, string>, generateName: string | undefined): FakePod {
    const ownerKind = this.kind === 'StatefulSet' ? 'StatefulSet' : 'ReplicaSet';
    const ownerName = this.kind === 'StatefulSet' ? this.name : `${this.name}-${TEMPLATE_HASH}`;
    const owned = Object.entries(this.matchLabels).every(([k, v]) => labels[k] === v);
    return {
      metadata: {
        name,
        ...(generateName ? { generateName } : {}),
        namespace: this.namespace,
        uid: randomUUID(),
        resourceVersion: String(++this.resourceVersion),
        creationTimestamp: new Date(this.created.getTime() + ++this.seq * 1000).toISOString(),
        labels,
        ownerReferences: owned ? [{ apiVersion: 'apps/v1', kind: ownerKind, name: ownerName, uid: this.uid, controller: true, blockOwnerDeletion: true }] : [],
      },
      spec: { containers: [{ name: 'freeswitch', image: IMAGE }], restartPolicy: 'Always', terminationGracePeriodSeconds: 30 },
      status: {
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'False' }],
        containerStatuses: [{ name: 'freeswitch', ready: false, started: false, restartCount: 0, image: IMAGE, imageID: '', state: { waiting: { reason: 'ContainerCreating' } } }],
      },
      seq: this.seq,
    };
  }

  private bump(pod: FakePod): void {
    pod.metadata.resourceVersion = String(++this.resourceVersion);
  }

  // ---- HTTP ----

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    onWholeRequest(req, 'http://fake', ({ url, text, body }) => {
      this.requests.push({
        method: req.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        body,
      });
      if (this.stalled) return;
      try {
        const answer = this.route(req.method ?? '', url, req.headers, text);
        this.send(res, 200, answer);
      } catch (err) {
        if (!(err instanceof ApiStatus)) throw err;
        this.send(res, err.code, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: err.message,
          reason: err.reason,
          ...(err.details ? { details: err.details } : {}),
          code: err.code,
        });
      }
    });
  }

  private send(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private route(method: string, url: URL, headers: http.IncomingHttpHeaders, text: string): unknown {
    if (headers.authorization !== `Bearer ${this.token}`) throw new ApiStatus(401, 'Unauthorized', 'Unauthorized');
    const apps = url.pathname.match(/^\/apis\/apps\/v1\/namespaces\/([^/]+)\/(statefulsets|deployments)\/([^/]+)(\/scale)?$/);
    const pods = url.pathname.match(/^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?$/);
    if (apps) {
      const [, ns, resource, name, scale] = apps;
      const mine = ns === this.namespace && name === this.name && resource === (this.kind === 'StatefulSet' ? 'statefulsets' : 'deployments');
      if (!mine) throw notFound(resource ?? '', 'apps', decodeURIComponent(name ?? ''));
      if (!scale) return this.only(method, ['GET'], () => this.workload());
      if (method === 'GET') return this.scale();
      return this.only(method, ['PATCH'], () => this.patchScale(this.mergePatchBody(headers, text)));
    }
    if (pods) {
      const [, ns, name] = pods;
      if (name === undefined) return this.only(method, ['GET'], () => this.podList(ns === this.namespace ? url.searchParams.get('labelSelector') ?? '' : undefined));
      const pod = ns === this.namespace ? this.pods.get(decodeURIComponent(name)) : undefined;
      return this.only(method, ['PATCH'], () => {
        const patch = this.mergePatchBody(headers, text);
        if (!pod) throw notFound('pods', undefined, decodeURIComponent(name));
        return this.patchPod(pod, patch);
      });
    }
    throw new ApiStatus(404, 'NotFound', 'the server could not find the requested resource');
  }

  private only(method: string, allowed: string[], answer: () => unknown): unknown {
    if (!allowed.includes(method)) throw new ApiStatus(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    return answer();
  }

  private mergePatchBody(headers: http.IncomingHttpHeaders, text: string): Record<string, unknown> {
    if ((headers['content-type'] ?? '').split(';')[0]?.trim() !== MERGE_PATCH) {
      throw new ApiStatus(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml');
    }
    try {
      const patch: unknown = JSON.parse(text);
      if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) throw new Error('not an object');
      return patch as Record<string, unknown>;
    } catch (err) {
      throw new ApiStatus(400, 'BadRequest', `error decoding patch: ${(err as Error).message}`);
    }
  }

  private get selector(): string {
    return Object.entries(this.matchLabels).map(([k, v]) => `${k}=${v}`).join(',');
  }

  private meta(): Record<string, unknown> {
    return { name: this.name, namespace: this.namespace, uid: this.uid, resourceVersion: String(this.resourceVersion), creationTimestamp: this.created.toISOString() };
  }

  private ownedPods(): FakePod[] {
    return [...this.pods.values()].filter((p) => this.ownsPod(p));
  }

  private workload(): unknown {
    const pods = this.ownedPods();
    const ready = pods.filter((p) => p.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    const template = { metadata: { labels: this.matchLabels }, spec: { containers: [{ name: 'freeswitch', image: IMAGE }] } };
    const selector = { matchLabels: this.matchLabels };
    if (this.kind === 'StatefulSet') {
      return {
        kind: 'StatefulSet',
        apiVersion: 'apps/v1',
        metadata: { ...this.meta(), generation: 1 },
        spec: {
          replicas: this.replicas,
          selector,
          template,
          serviceName: this.name,
          podManagementPolicy: 'Parallel',
          updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
          revisionHistoryLimit: 10,
          ...(this.ordinalStart !== 0 ? { ordinals: { start: this.ordinalStart } } : {}),
        },
        status: { observedGeneration: 1, replicas: pods.length, readyReplicas: ready, currentReplicas: pods.length, updatedReplicas: pods.length, availableReplicas: ready },
      };
    }
    return {
      kind: 'Deployment',
      apiVersion: 'apps/v1',
      metadata: { ...this.meta(), generation: 1, annotations: { 'deployment.kubernetes.io/revision': '1' } },
      spec: {
        replicas: this.replicas,
        selector,
        template,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
        revisionHistoryLimit: 10,
        progressDeadlineSeconds: 600,
      },
      status: { observedGeneration: 1, replicas: pods.length, updatedReplicas: pods.length, readyReplicas: ready, availableReplicas: ready },
    };
  }

  private scale(): unknown {
    const observed = this.ownedPods().filter((p) => !p.metadata.deletionTimestamp).length;
    return { kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: this.meta(), spec: { replicas: this.replicas }, status: { replicas: observed, selector: this.selector } };
  }

  private patchScale(patch: Record<string, unknown>): unknown {
    const next = mergePatch(this.scale(), patch) as { spec?: { replicas?: unknown } };
    const replicas = next.spec?.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw new ApiStatus(422, 'Invalid', `Scale.autoscaling "${this.name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`);
    }
    if (replicas !== this.replicas) {
      this.replicas = replicas;
      this.resourceVersion++;
      this.reconcile();
    }
    return this.scale();
  }

  private podList(selector: string | undefined): unknown {
    const matches = selector === undefined ? () => false : parseSelector(selector);
    const items = [...this.pods.values()].filter((p) => matches(p.metadata.labels)).map(({ seq: _seq, ...wire }) => wire);
    return { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(this.resourceVersion) }, items };
  }

  private patchPod(pod: FakePod, patch: Record<string, unknown>): unknown {
    const touched = Object.keys(patch).filter((k) => k !== 'metadata');
    const metaKeys = Object.keys((patch.metadata ?? {})).filter((k) => k !== 'annotations' && k !== 'labels');
    if (touched.length > 0 || metaKeys.length > 0) {
      throw new ApiStatus(422, 'Invalid', `Pod "${pod.metadata.name}" is invalid: this fake patches metadata.annotations and metadata.labels only (asked: ${[...touched, ...metaKeys.map((k) => `metadata.${k}`)].join(', ')})`);
    }
    const { seq, ...wire } = pod;
    const next = mergePatch(wire, patch) as Omit<FakePod, 'seq'>;
    if (next.metadata.annotations && Object.keys(next.metadata.annotations).length === 0) delete next.metadata.annotations;
    const updated: FakePod = { ...next, seq };
    this.pods.set(pod.metadata.name, updated);
    this.bump(updated);
    const { seq: _seq, ...answer } = updated;
    return answer;
  }
}

/** RFC 7386: objects merge key by key, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const base: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete base[key];
    else base[key] = mergePatch(base[key], value);
  }
  return base;
}

/** Equality-based selectors (`k=v`, `k==v`, `k!=v`) and existence (`k`, `!k`); set-based ones are a 400 here. */
function parseSelector(selector: string): (labels: Record<string, string>) => boolean {
  const terms = selector.split(',').map((t) => t.trim()).filter((t) => t !== '');
  const tests = terms.map((term) => {
    if (/\s(in|notin)\s/.test(term) || term.includes('(')) throw new ApiStatus(400, 'BadRequest', `unable to parse requirement: this fake takes no set-based selector (${term})`);
    const ne = term.match(/^([^=!]+)!=(.*)$/);
    if (ne) return (l: Record<string, string>) => l[ne[1] ?? ''] !== ne[2];
    const eq = term.match(/^([^=!]+)==?(.*)$/);
    if (eq) return (l: Record<string, string>) => l[eq[1] ?? ''] === eq[2];
    if (term.startsWith('!')) return (l: Record<string, string>) => !(term.slice(1) in l);
    return (l: Record<string, string>) => term in l;
  });
  return (labels) => tests.every((t) => t(labels));
}
