import { readFile } from 'node:fs/promises';
import { readAnswer } from './httpAnswer.js';
import http from 'node:http';
import https from 'node:https';
import {
  ProvisionerError,
  type ProvisionedMachine,
  type Provisioner,
  type RemovalChoice,
  type ScaleOutcome,
  type ScaleRequest,
} from '../ports/provisioner.js';

/**
 * The pool as a StatefulSet or a Deployment, scaled through the Kubernetes API's scale
 * subresource (autoscaling/v1 Scale).
 *
 * A machine id is a pod name: the agent's container sets SBC_MACHINE_ID from the downward API
 * (`valueFrom.fieldRef.fieldPath: metadata.name`), so the id the agent announces is the name
 * this adapter lists and patches (docs/kubernetes.md).
 *
 * How a scale-down picks its pods differs by workload, and that decides the removal choice:
 * - StatefulSet: the controller removes the highest ordinals, always, so those are the ones
 *   to drain (`exactly`), and apply refuses a `remove` that names others.
 * - Deployment: the ReplicaSet controller removes the pods that sort first in its
 *   ActivePodsWithRanks order (unscheduled, then Pending before Running, then not ready
 *   before ready, then the lowest `controller.kubernetes.io/pod-deletion-cost`, ...). So the
 *   core may pick any (`any`); apply gives the drained pods the lowest cost of all, refuses
 *   when another pod would still sort before them, then scales.
 */
export interface KubernetesProvisionerOptions {
  /** The API server, e.g. https://kubernetes.default.svc (a path prefix, as behind a proxy, is kept). */
  readonly apiUrl: string;
  /** A fixed bearer token. When absent, `tokenFile` is read for every request. */
  readonly token?: string;
  /** Default IN_CLUSTER_TOKEN_FILE: re-read per request because the kubelet rotates projected tokens. */
  readonly tokenFile?: string;
  /** PEM CA bundle the API server's certificate is checked against (https only); in a pod IN_CLUSTER_CA_FILE. Absent: Node's default CAs. */
  readonly caFile?: string;
  readonly namespace: string;
  readonly workloadKind: 'StatefulSet' | 'Deployment';
  readonly workloadName: string;
  /** Bound on each API request, answer body included. */
  readonly timeoutMs: number;
}

export const IN_CLUSTER_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';
export const IN_CLUSTER_CA_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt';
export const POD_DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';
/** The cost a drained pod gets, unless another pod already has one as low (then one below it). */
export const DRAINED_POD_DELETION_COST = -1000;
const INT32_MIN = -2147483648;
const MERGE_PATCH = 'application/merge-patch+json';

/** A non-2xx answer: the API's Status object (`reason`, `message`), when it sent one. */
export class KubernetesApiError extends Error {
  override readonly name = 'KubernetesApiError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly reason: string | undefined,
    readonly apiMessage: string,
  ) {
    super(`${method} ${path}: HTTP ${status}${reason ? ` ${reason}` : ''}: ${apiMessage}`);
  }
}

// The parts of the API objects this adapter reads (apps/v1 StatefulSet and Deployment, v1 Pod).
interface Workload {
  metadata: { name: string };
  spec: {
    replicas?: number;
    selector: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] };
    /** StatefulSet only (apps/v1 StatefulSetOrdinals): the first ordinal, default 0. */
    ordinals?: { start?: number };
  };
}

export interface PodFacts {
  metadata: { name: string; deletionTimestamp?: string; annotations?: Record<string, string> };
  spec?: { nodeName?: string };
  status?: { phase?: string; containerStatuses?: { ready: boolean }[] };
}

interface PodList {
  items: PodFacts[];
}

// ---- Pure decisions ----

export function podPhase(pod: PodFacts): ProvisionedMachine['phase'] {
  if (pod.metadata.deletionTimestamp) return 'stopping';
  const containers = pod.status?.containerStatuses ?? [];
  if (pod.status?.phase === 'Running' && containers.length > 0 && containers.every((c) => c.ready)) return 'running';
  return 'starting';
}

/** `matchLabels` as a labelSelector query value; matchExpressions are refused (not translated). */
export function labelSelector(workload: Workload): string {
  const { matchLabels = {}, matchExpressions = [] } = workload.spec.selector;
  if (matchExpressions.length > 0) throw new Error('its selector uses matchExpressions; only matchLabels is supported');
  const pairs = Object.entries(matchLabels).sort(([a], [b]) => a.localeCompare(b));
  if (pairs.length === 0) throw new Error('its selector has no matchLabels');
  return pairs.map(([k, v]) => `${k}=${v}`).join(',');
}

export interface Ordinals {
  readonly name: string;
  readonly start: number;
  readonly replicas: number;
}

const podOf = (o: Ordinals, ordinal: number) => `${o.name}-${ordinal}`;

export function ordinalOf(o: Ordinals, podName: string): number | undefined {
  const prefix = `${o.name}-`;
  if (!podName.startsWith(prefix)) return undefined;
  const rest = podName.slice(prefix.length);
  return /^(0|[1-9][0-9]*)$/.test(rest) ? Number(rest) : undefined;
}

/** The pods a StatefulSet at `o.replicas` removes going down by `count`: highest ordinal first. */
export function highestOrdinals(o: Ordinals, count: number): string[] {
  const n = Math.max(0, Math.min(count, o.replicas));
  return Array.from({ length: n }, (_, i) => podOf(o, o.start + o.replicas - 1 - i));
}

/**
 * Why a StatefulSet scale to `target` may not take `remove`, or undefined when it may: every
 * pod the scale cuts must be in `remove` (drained), and `remove` may name no pod the scale
 * keeps. Pods above the target that are already gone may stay in `remove`, so that a repeated
 * request is accepted.
 */
export function statefulSetRefusal(o: Ordinals, target: number, remove: readonly string[]): string | undefined {
  const firstCut = o.start + target;
  for (const id of remove) {
    const ordinal = ordinalOf(o, id);
    if (ordinal === undefined) return `${id} is not a pod of statefulset ${o.name}`;
    if (ordinal < firstCut) return `${id} is not among the highest ordinals a scale to ${target} removes (${o.name}-${firstCut} and up)`;
  }
  const cut = highestOrdinals(o, o.replicas - target);
  const undrained = cut.filter((id) => !remove.includes(id));
  if (undrained.length > 0) return `a scale from ${o.replicas} to ${target} removes ${undrained.join(', ')}, which the request does not remove`;
  return undefined;
}

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

/** How early the ReplicaSet controller deletes a pod before deletion cost counts: scheduled, phase, ready. */
function replicaSetRank(pod: PodFacts): [number, number, number] {
  return [pod.spec?.nodeName ? 1 : 0, PHASE_RANK[pod.status?.phase ?? 'Unknown'] ?? 1, podPhase(pod) === 'running' ? 1 : 0];
}

const compareRank = (a: readonly number[], b: readonly number[]) => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
};

export function deletionCost(pod: PodFacts): number | undefined {
  const raw = pod.metadata.annotations?.[POD_DELETION_COST];
  if (raw === undefined || !/^-?[0-9]+$/.test(raw)) return undefined;
  return Number(raw);
}

export type DeploymentPlan =
  | { readonly kind: 'refuse'; readonly reason: string }
  /** Patch these pods to `cost` (those already at or below it are left out), then scale. */
  | { readonly kind: 'scale'; readonly removing: readonly string[]; readonly annotate: readonly string[]; readonly cost: number };

/**
 * What a Deployment scale from `replicas` to `target` removing `remove` takes, given its pods
 * now. Pods already terminating or gone are out of it: the ReplicaSet counts only active pods.
 */
export function planDeploymentScale(replicas: number, target: number, pods: readonly PodFacts[], remove: readonly string[]): DeploymentPlan {
  const active = pods.filter((p) => !p.metadata.deletionTimestamp);
  const removing = active.filter((p) => remove.includes(p.metadata.name));
  const others = active.filter((p) => !remove.includes(p.metadata.name));
  const cut = Math.max(0, replicas - target);
  if (removing.length !== cut) {
    const names = removing.map((p) => p.metadata.name).join(', ') || 'none';
    return { kind: 'refuse', reason: `a scale from ${replicas} to ${target} removes ${cut} pod(s), but the request's pods still running are ${removing.length} (${names})` };
  }
  if (cut === 0) return { kind: 'scale', removing: [], annotate: [], cost: DRAINED_POD_DELETION_COST };
  const latest = removing.map(replicaSetRank).sort(compareRank).at(-1) ?? [0, 0, 0];
  const before = others.find((p) => compareRank(replicaSetRank(p), latest) < 0);
  if (before) return { kind: 'refuse', reason: `pod ${before.metadata.name} is ${podPhase(before)} (${before.status?.phase ?? 'no phase'}): the ReplicaSet would delete it before the drained pods, whatever their deletion cost` };
  const lowestOther = Math.min(...others.map((p) => deletionCost(p) ?? 0));
  const cost = Math.min(DRAINED_POD_DELETION_COST, lowestOther - 1);
  if (cost < INT32_MIN) return { kind: 'refuse', reason: `another pod has the lowest ${POD_DELETION_COST} there is` };
  const annotate = removing.filter((p) => (deletionCost(p) ?? 0) > cost).map((p) => p.metadata.name);
  return { kind: 'scale', removing: removing.map((p) => p.metadata.name), annotate, cost };
}

// ---- The adapter ----

export class KubernetesProvisioner implements Provisioner {
  readonly kind = 'kubernetes' as const;
  private readonly base: string;
  private readonly ns: string;

  constructor(private readonly options: KubernetesProvisionerOptions) {
    this.base = options.apiUrl.replace(/\/+$/, '');
    this.ns = `/namespaces/${encodeURIComponent(options.namespace)}`;
  }

  private get workloadPath(): string {
    const resource = this.options.workloadKind === 'StatefulSet' ? 'statefulsets' : 'deployments';
    return `/apis/apps/v1${this.ns}/${resource}/${encodeURIComponent(this.options.workloadName)}`;
  }

  private get what(): string {
    return `${this.options.workloadKind.toLowerCase()} ${this.options.namespace}/${this.options.workloadName}`;
  }

  async list(): Promise<readonly ProvisionedMachine[]> {
    const workload = await this.workload();
    const pods = await this.pods(workload);
    return pods.map((p) => ({ machineId: p.metadata.name, phase: podPhase(p) }));
  }

  async removalChoice(count: number): Promise<RemovalChoice> {
    if (this.options.workloadKind === 'Deployment') return { kind: 'any' };
    return { kind: 'exactly', machineIds: highestOrdinals(this.ordinals(await this.workload()), count) };
  }

  async apply(request: ScaleRequest): Promise<ScaleOutcome> {
    if (!Number.isInteger(request.replicas) || request.replicas < 0) {
      throw new ProvisionerError('kubernetes', `replicas must be a whole number >= 0, not ${request.replicas}`);
    }
    const workload = await this.workload();
    return this.options.workloadKind === 'StatefulSet'
      ? this.applyStatefulSet(workload, request)
      : this.applyDeployment(workload, request);
  }

  private async applyStatefulSet(workload: Workload, request: ScaleRequest): Promise<ScaleOutcome> {
    const o = this.ordinals(workload);
    const target = request.replicas;
    const refusal = statefulSetRefusal(o, target, request.remove.map((m) => m.machineId));
    if (refusal) throw new ProvisionerError('kubernetes', `${this.what}: ${refusal}`);
    if (o.replicas === target) return { created: [], removed: [], detail: `${this.what} already at ${target} replicas` };
    await this.scale(target);
    const created = target > o.replicas ? Array.from({ length: target - o.replicas }, (_, i) => podOf(o, o.start + o.replicas + i)) : [];
    return { created, removed: highestOrdinals(o, o.replicas - target), detail: `${this.what} scaled ${o.replicas} -> ${target}` };
  }

  private async applyDeployment(workload: Workload, request: ScaleRequest): Promise<ScaleOutcome> {
    const replicas = workload.spec.replicas ?? 1;
    const target = request.replicas;
    if (replicas === target) return { created: [], removed: [], detail: `${this.what} already at ${target} replicas` };
    const pods = await this.pods(workload);
    const plan = planDeploymentScale(replicas, target, pods, request.remove.map((m) => m.machineId));
    if (plan.kind === 'refuse') throw new ProvisionerError('kubernetes', `${this.what}: ${plan.reason}`);
    for (const pod of plan.annotate) {
      const body = { metadata: { annotations: { [POD_DELETION_COST]: String(plan.cost) } } };
      // A pod gone since the list would leave the ReplicaSet to pick an undrained one: stop here, the next call re-plans.
      await this.request('PATCH', `/api/v1${this.ns}/pods/${encodeURIComponent(pod)}`, body).catch((err: unknown) => {
        if (err instanceof ProvisionerError && err.cause instanceof KubernetesApiError && err.cause.status === 404) {
          throw new ProvisionerError('kubernetes', `${this.what}: pod ${pod} went away before the scale; not scaling now`, { cause: err.cause });
        }
        throw err;
      });
    }
    await this.scale(target);
    const costs = plan.annotate.length > 0 ? `; ${plan.annotate.join(', ')} given ${POD_DELETION_COST} ${plan.cost}` : '';
    return { created: [], removed: [...plan.removing], detail: `${this.what} scaled ${replicas} -> ${target}${costs}` };
  }

  private ordinals(workload: Workload): Ordinals {
    return { name: workload.metadata.name, start: workload.spec.ordinals?.start ?? 0, replicas: workload.spec.replicas ?? 1 };
  }

  private async workload(): Promise<Workload> {
    return (await this.request('GET', this.workloadPath)) as Workload;
  }

  private async pods(workload: Workload): Promise<PodFacts[]> {
    let selector: string;
    try {
      selector = labelSelector(workload);
    } catch (err) {
      throw new ProvisionerError('kubernetes', `${this.what}: ${(err as Error).message}`, { cause: err });
    }
    const list = (await this.request('GET', `/api/v1${this.ns}/pods?labelSelector=${encodeURIComponent(selector)}`)) as PodList;
    return [...list.items].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  private async scale(replicas: number): Promise<void> {
    await this.request('PATCH', `${this.workloadPath}/scale`, { spec: { replicas } });
  }

  private async bearer(): Promise<string> {
    if (this.options.token !== undefined) return this.options.token;
    const file = this.options.tokenFile ?? IN_CLUSTER_TOKEN_FILE;
    try {
      return (await readFile(file, 'utf8')).trim();
    } catch (err) {
      throw new ProvisionerError('kubernetes', `cannot read the token file ${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** One API call, bounded by timeoutMs; a non-2xx answer is a ProvisionerError whose cause is a KubernetesApiError. */
  private async request(method: 'GET' | 'PATCH', path: string, body?: unknown): Promise<unknown> {
    const url = new URL(this.base + path);
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${await this.bearer()}` };
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) {
      headers['content-type'] = MERGE_PATCH;
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    let ca: Buffer | undefined;
    if (url.protocol === 'https:' && this.options.caFile) {
      ca = await readFile(this.options.caFile).catch((err: unknown) => {
        throw new ProvisionerError('kubernetes', `cannot read the CA file ${this.options.caFile}: ${(err as Error).message}`, { cause: err });
      });
    }
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    let answer: { status: number; text: string };
    try {
      answer = await send(url, { method, headers, signal, ...(ca ? { ca } : {}) }, payload);
    } catch (err) {
      const why = signal.aborted ? `no answer within ${this.options.timeoutMs} ms` : (err as Error).message;
      throw new ProvisionerError('kubernetes', `${method} ${path}: ${why}`, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.text);
    } catch {
      parsed = undefined;
    }
    if (answer.status < 200 || answer.status > 299) {
      const status = parsed as { kind?: string; reason?: string; message?: string } | undefined;
      const isStatus = status?.kind === 'Status';
      const apiError = new KubernetesApiError(method, path, answer.status, isStatus ? status.reason : undefined, isStatus ? String(status.message ?? '') : answer.text.slice(0, 200));
      throw new ProvisionerError('kubernetes', apiError.message, { cause: apiError });
    }
    if (parsed === undefined) throw new ProvisionerError('kubernetes', `${method} ${path}: HTTP ${answer.status}, not JSON: ${answer.text.slice(0, 200)}`);
    return parsed;
  }
}

/** node:http(s) rather than fetch: fetch takes no CA option without undici's Agent, which is not a dependency here. */
function send(url: URL, options: https.RequestOptions, payload: string | undefined): Promise<{ status: number; text: string }> {
  return readAnswer((onResponse) => (url.protocol === 'https:' ? https : http).request(url, options, onResponse), payload);
}
