import http from 'node:http';
import { readAnswer } from './httpAnswer.js';
import {
  ProvisionerError,
  type ProvisionedMachine,
  type Provisioner,
  type RemovalChoice,
  type ScaleOutcome,
  type ScaleRequest,
} from '../ports/provisioner.js';

/**
 * The pool as the containers of one compose service, driven through the Docker Engine API on
 * its unix socket (API v1.41: docker.io 20.10 on these machines).
 *
 * A machine id is a container name without its leading '/'. A container this adapter creates
 * gets SBC_MACHINE_ID=<name> in its env and <name> as its hostname, so its agent announces the
 * name this adapter lists and removes.
 *
 * A new container is a copy of one the service already runs (the newest running one): its
 * image, env, labels, command, HostConfig and networks, the way `docker-compose up --scale`
 * copies a service, named `<project>_<service>_<n>` (compose v1) with
 * com.docker.compose.container-number n. So the engine needs no compose file, and a service
 * with no container at all cannot grow: there is nothing to copy. What is not copied: the
 * model's MAC address and static IPs (they would clash); fixed published host ports in
 * HostConfig.PortBindings are copied and would clash the same way (use host networking or
 * ranges the engine picks).
 *
 * Phases, from the engine's State: running -> running; created, restarting -> starting (on
 * their way to running, so they count towards the pool); exited, dead, paused, removing ->
 * stopping (not serving, and never counted). A state this adapter does not know counts as
 * starting, so a resync never creates a machine per unknown container.
 *
 * A scale-down removes exactly the drained containers named in the request (`any`: the core
 * picks): stop (SIGTERM, then SIGKILL after stopTimeoutSeconds), then delete with its
 * anonymous volumes. More live containers than asked for stay: only drained ones go.
 */
export interface DockerProvisionerOptions {
  /** The engine's socket; default DEFAULT_DOCKER_SOCKET. */
  readonly socketPath?: string;
  /** The API version every path is prefixed with; default DEFAULT_DOCKER_API_VERSION. */
  readonly apiVersion?: string;
  /** The compose project (label com.docker.compose.project). */
  readonly project: string;
  /** The compose service the machines belong to (label com.docker.compose.service). */
  readonly service: string;
  /** Bound on each request; a stop gets stopTimeoutSeconds on top, as the engine answers once the container is down. */
  readonly timeoutMs: number;
  /** The `t` of POST /containers/{id}/stop: seconds between SIGTERM and SIGKILL. */
  readonly stopTimeoutSeconds: number;
  /** Names of new containers are `<namePrefix><n>`; default `<project>_<service>_` (compose v1). */
  readonly namePrefix?: string;
}

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
export const DEFAULT_DOCKER_API_VERSION = 'v1.41';
export const COMPOSE_PROJECT = 'com.docker.compose.project';
export const COMPOSE_SERVICE = 'com.docker.compose.service';
export const COMPOSE_NUMBER = 'com.docker.compose.container-number';
/** How many taken names a create skips (409) before it gives up. */
const NAME_ATTEMPTS = 5;

/** A non-2xx answer: the engine's `{"message": ...}`, when it sent one. */
export class DockerEngineError extends Error {
  override readonly name = 'DockerEngineError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly engineMessage: string,
  ) {
    super(`${method} ${path}: HTTP ${status}: ${engineMessage}`);
  }
}

// The parts of the engine's answers this adapter reads (API v1.41: ContainerSummary, ContainerInspectResponse).
export interface ContainerSummary {
  Id: string;
  Names: string[];
  /** Unix seconds. */
  Created: number;
  State: string;
  Labels?: Record<string, string> | null;
}

export interface EndpointSettings {
  Aliases?: string[] | null;
  [key: string]: unknown;
}

export interface ContainerInspect {
  Id: string;
  Name: string;
  Config: {
    Hostname?: string;
    Env?: string[] | null;
    Labels?: Record<string, string> | null;
    Image: string;
    [key: string]: unknown;
  };
  HostConfig: { NetworkMode?: string; [key: string]: unknown };
  NetworkSettings: { Networks?: Record<string, EndpointSettings> | null };
}

/** The body of POST /containers/create, and the networks to connect before the start (API < 1.44 takes one at create). */
export interface CreatePlan {
  readonly body: Record<string, unknown>;
  readonly connect: readonly { readonly network: string; readonly aliases: readonly string[] }[];
}

// ---- Pure decisions ----

export function containerPhase(state: string): ProvisionedMachine['phase'] {
  switch (state) {
    case 'running':
      return 'running';
    case 'exited':
    case 'dead':
    case 'paused':
    case 'removing':
      return 'stopping';
    default: // created, restarting, and a state newer than this code
      return 'starting';
  }
}

export const machineIdOf = (c: ContainerSummary): string => (c.Names[0] ?? c.Id).replace(/^\//, '');

/** The `filters` query value of the list: both labels, ANDed by the engine. */
export function serviceFilters(project: string, service: string): string {
  return JSON.stringify({ label: [`${COMPOSE_PROJECT}=${project}`, `${COMPOSE_SERVICE}=${service}`] });
}

export function containerNumber(c: { Labels?: Record<string, string> | null }): number | undefined {
  const raw = c.Labels?.[COMPOSE_NUMBER];
  return raw !== undefined && /^[0-9]+$/.test(raw) ? Number(raw) : undefined;
}

/** The next container number: above every one the service holds, whatever its state (compose v1 does the same). */
export function nextContainerNumber(containers: readonly ContainerSummary[]): number {
  return Math.max(0, ...containers.map((c) => containerNumber(c) ?? 0)) + 1;
}

/** The container to copy: the newest running one not being removed, else the newest running, else the newest. */
export function pickModel(containers: readonly ContainerSummary[], removing: ReadonlySet<string>): ContainerSummary | undefined {
  const newest = [...containers].sort((a, b) => b.Created - a.Created || (containerNumber(b) ?? 0) - (containerNumber(a) ?? 0));
  return (
    newest.find((c) => c.State === 'running' && !removing.has(machineIdOf(c))) ??
    newest.find((c) => c.State === 'running') ??
    newest[0]
  );
}

/** Networks a container on which gets no alias: the engine allows network-scoped aliases on user-defined networks only. */
const BUILTIN_NETWORKS = new Set(['bridge', 'default', 'host', 'none']);
/** Network modes with no endpoint of the container's own to configure. */
const sharesStack = (mode: string) => mode === 'host' || mode === 'none' || mode.startsWith('container:');

/**
 * The create body for a copy of `model` named `name`, number `number`. Per-container values
 * are replaced (SBC_MACHINE_ID and HOSTNAME in the env, the hostname, the container number) or
 * left out (MAC address, static IPs, the model's own aliases: its short id, which the engine
 * adds at connect, its name and hostname); the service name is always an alias.
 */
export function planCreate(model: ContainerInspect, name: string, number: number, service: string): CreatePlan {
  const { Hostname: modelHostname, MacAddress: _mac, ...config } = model.Config;
  const env = (model.Config.Env ?? []).filter((e) => !e.startsWith('SBC_MACHINE_ID=') && !e.startsWith('HOSTNAME='));
  const hadHostname = (model.Config.Env ?? []).some((e) => e.startsWith('HOSTNAME='));
  const labels = { ...(model.Config.Labels ?? {}), [COMPOSE_NUMBER]: String(number) };
  const own = new Set([model.Id.slice(0, 12), model.Name.replace(/^\//, ''), modelHostname ?? '']);
  const mode = model.HostConfig.NetworkMode ?? 'default';
  const networks = Object.entries(model.NetworkSettings.Networks ?? {})
    .map(([network, settings]) => {
      if (BUILTIN_NETWORKS.has(network)) return { network, aliases: [] as string[] };
      const kept = (settings.Aliases ?? []).filter((a) => !own.has(a));
      return { network, aliases: kept.includes(service) ? kept : [service, ...kept] };
    })
    .sort((a, b) => a.network.localeCompare(b.network));
  // The network of NetworkMode goes in the create; 'default' is the bridge.
  const primaryName = mode === 'default' ? 'bridge' : mode;
  const primary = sharesStack(mode) ? undefined : (networks.find((n) => n.network === primaryName) ?? networks[0]);
  const body: Record<string, unknown> = {
    ...config,
    Hostname: name,
    Env: [...env, `SBC_MACHINE_ID=${name}`, ...(hadHostname ? [`HOSTNAME=${name}`] : [])],
    Labels: labels,
    HostConfig: model.HostConfig,
  };
  if (primary) body.NetworkingConfig = { EndpointsConfig: { [primary.network]: primary.aliases.length > 0 ? { Aliases: primary.aliases } : {} } };
  const connect = sharesStack(mode) ? [] : networks.filter((n) => n !== primary);
  return { body, connect };
}

// ---- The adapter ----

export class DockerProvisioner implements Provisioner {
  readonly kind = 'docker' as const;
  private readonly socketPath: string;
  private readonly prefix: string;
  private readonly namePrefix: string;

  constructor(private readonly options: DockerProvisionerOptions) {
    this.socketPath = options.socketPath ?? DEFAULT_DOCKER_SOCKET;
    this.prefix = `/${(options.apiVersion ?? DEFAULT_DOCKER_API_VERSION).replace(/^\/+/, '')}`;
    this.namePrefix = options.namePrefix ?? `${options.project}_${options.service}_`;
  }

  private get what(): string {
    return `service ${this.options.project}/${this.options.service}`;
  }

  async list(): Promise<readonly ProvisionedMachine[]> {
    return (await this.containers()).map((c) => ({ machineId: machineIdOf(c), phase: containerPhase(c.State) }));
  }

  removalChoice(_count: number): Promise<RemovalChoice> {
    return Promise.resolve({ kind: 'any' });
  }

  async apply(request: ScaleRequest): Promise<ScaleOutcome> {
    if (!Number.isInteger(request.replicas) || request.replicas < 0) {
      throw new ProvisionerError('docker', `replicas must be a whole number >= 0, not ${request.replicas}`);
    }
    const containers = await this.containers();
    const removeIds = new Set(request.remove.map((m) => m.machineId));
    const removing = containers.filter((c) => removeIds.has(machineIdOf(c)));
    const kept = containers.filter((c) => !removeIds.has(machineIdOf(c)) && containerPhase(c.State) !== 'stopping');
    const toCreate = Math.max(0, request.replicas - kept.length);

    // Inspect the model before any removal: the last containers of the service may be the drained ones.
    let model: ContainerInspect | undefined;
    if (toCreate > 0) {
      const summary = pickModel(containers, removeIds);
      if (!summary) throw new ProvisionerError('docker', `${this.what}: no container to copy; start one (docker-compose up) before scaling`);
      model = (await this.request('GET', `/containers/${encodeURIComponent(summary.Id)}/json`)) as ContainerInspect;
    }

    const removed: string[] = [];
    for (const c of removing) {
      if (await this.remove(c)) removed.push(machineIdOf(c));
    }
    // A container left created (a start that failed or timed out on an earlier call) is started now: it is counted.
    const started: string[] = [];
    for (const c of kept.filter((k) => k.State === 'created')) {
      await this.start(c.Id);
      started.push(machineIdOf(c));
    }
    const created: string[] = [];
    let number = nextContainerNumber(containers);
    for (let i = 0; i < toCreate && model; i++) {
      const name = await this.createFrom(model, number);
      created.push(name);
      number = Number(name.slice(this.namePrefix.length)) + 1;
    }
    return { created, removed, detail: this.detail(request, removing.length, kept.length, { removed, started, created }) };
  }

  private detail(request: ScaleRequest, removing: number, kept: number, done: { removed: string[]; started: string[]; created: string[] }): string {
    const parts: string[] = [];
    if (done.removed.length > 0) parts.push(`stopped and removed ${done.removed.join(', ')}`);
    const gone = request.remove.length - removing;
    if (gone > 0) parts.push(`${gone} of the machines to remove already gone`);
    if (done.started.length > 0) parts.push(`started ${done.started.join(', ')} (left created)`);
    if (done.created.length > 0) parts.push(`created ${done.created.join(', ')} (copies of the newest running container)`);
    if (done.removed.length === 0 && done.started.length === 0 && done.created.length === 0) parts.push(`already at ${kept} live container(s)`);
    if (kept > request.replicas) parts.push(`${kept} live, above the ${request.replicas} asked for: only drained machines named in the request are removed`);
    return `docker ${this.what}: ${parts.join('; ')}`;
  }

  private async containers(): Promise<ContainerSummary[]> {
    const filters = encodeURIComponent(serviceFilters(this.options.project, this.options.service));
    const list = (await this.request('GET', `/containers/json?all=true&filters=${filters}`)) as ContainerSummary[];
    return [...list].sort((a, b) => machineIdOf(a).localeCompare(machineIdOf(b), 'en', { numeric: true }));
  }

  /**
   * Stop, then delete; false when the container was gone before the stop. 304 (already
   * stopped) and 404 (gone, another client removed it) are the state asked for.
   */
  private async remove(c: ContainerSummary): Promise<boolean> {
    const id = encodeURIComponent(c.Id);
    const t = this.options.stopTimeoutSeconds;
    const stopped = await this.request('POST', `/containers/${id}/stop?t=${t}`, undefined, [304, 404], t * 1000);
    if (stopped === 404) return false;
    await this.request('DELETE', `/containers/${id}?v=true`, undefined, [404]);
    return true;
  }

  private async start(id: string): Promise<void> {
    await this.request('POST', `/containers/${encodeURIComponent(id)}/start`, undefined, [304]);
  }

  /** Creates, connects and starts one copy of `model`; a taken name (409) moves on to the next number. */
  private async createFrom(model: ContainerInspect, first: number): Promise<string> {
    for (let number = first; number < first + NAME_ATTEMPTS; number++) {
      const name = `${this.namePrefix}${number}`;
      const plan = planCreate(model, name, number, this.options.service);
      const answer = await this.request('POST', `/containers/create?name=${encodeURIComponent(name)}`, plan.body, [409]);
      if (answer === 409) continue;
      const { Id } = answer as { Id: string };
      for (const n of plan.connect) {
        await this.request('POST', `/networks/${encodeURIComponent(n.network)}/connect`, {
          Container: Id,
          EndpointConfig: n.aliases.length > 0 ? { Aliases: n.aliases } : {},
        });
      }
      await this.start(Id);
      return name;
    }
    throw new ProvisionerError('docker', `${this.what}: the names ${this.namePrefix}${first} to ${this.namePrefix}${first + NAME_ATTEMPTS - 1} are all taken by other containers`);
  }

  /**
   * One engine call, bounded by timeoutMs (+ extraMs); answers the parsed JSON (undefined when
   * empty), or the status when it is one of `tolerated`. Any other non-2xx is a ProvisionerError
   * whose cause is a DockerEngineError.
   */
  private async request(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, tolerated: readonly number[] = [], extraMs = 0): Promise<unknown> {
    const fullPath = this.prefix + path;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { host: 'docker', accept: 'application/json' };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const timeoutMs = this.options.timeoutMs + extraMs;
    const signal = AbortSignal.timeout(timeoutMs);
    let answer: { status: number; text: string };
    try {
      answer = await send({ socketPath: this.socketPath, path: fullPath, method, headers, signal }, payload);
    } catch (err) {
      const why = signal.aborted ? `no answer within ${timeoutMs} ms` : `${(err as Error).message} (is the engine at ${this.socketPath}?)`;
      throw new ProvisionerError('docker', `${method} ${fullPath}: ${why}`, { cause: err });
    }
    if (tolerated.includes(answer.status)) return answer.status;
    let parsed: unknown;
    try {
      parsed = answer.text === '' ? undefined : JSON.parse(answer.text);
    } catch {
      parsed = answer.text;
    }
    if (answer.status < 200 || answer.status > 299) {
      const message = (parsed as { message?: unknown } | undefined)?.message;
      const engineError = new DockerEngineError(method, fullPath, answer.status, typeof message === 'string' ? message : answer.text.slice(0, 200));
      throw new ProvisionerError('docker', engineError.message, { cause: engineError });
    }
    return parsed;
  }
}

function send(options: http.RequestOptions, payload: string | undefined): Promise<{ status: number; text: string }> {
  return readAnswer((onResponse) => http.request(options, onResponse), payload);
}
