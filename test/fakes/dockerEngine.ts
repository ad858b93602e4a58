import { randomBytes } from 'node:crypto';
import { onWholeRequest } from './fakeHttpRequest.js';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A fake Docker Engine (API 1.41, as docker.io 20.10.24 serves it) on a unix socket in a temp
 * dir, of exactly the endpoints DockerProvisioner calls, plus the ping a client starts with:
 *
 *   GET|HEAD /_ping                                    "OK", text/plain, Api-Version header
 *   GET    /containers/json?all=&filters=              ContainerSummary[], newest first
 *   POST   /containers/create?name=                    201 {Id, Warnings}
 *   GET    /containers/{id|name}/json                  ContainerInspectResponse
 *   POST   /containers/{id|name}/start                 204; 304 when running
 *   POST   /containers/{id|name}/stop?t=               204; 304 when not running
 *   DELETE /containers/{id|name}?v=&force=             204; 409 when running and no force
 *   POST   /networks/{id|name}/connect                 200, empty body
 *
 * every one with or without a `/v1.NN` prefix (above 1.41: 400 "too new"; below 1.12: 400
 * "too old"); any other path is the engine's 404 "page not found". Errors are the engine's
 * `{"message": ...}` with its wording for the cases faked here (No such container, the name
 * Conflict, You cannot remove a running container, No such image, network not found,
 * Container cannot be connected to network endpoints, network-scoped alias on a built-in
 * network).
 *
 * Shapes follow the Engine API reference for v1.41 (docs.docker.com/engine/api/v1.41/:
 * ContainerList, ContainerCreate, ContainerInspect, ContainerStart/Stop/Delete,
 * NetworkConnect) and moby 20.10's behaviour where the reference is silent: `filters` is JSON
 * in both forms filters.FromJSON reads ({"label":["k=v"]} and {"label":{"k=v":true}}), the
 * label values of one filter are ANDed, an unknown filter key is 400 "invalid filter"; a
 * create takes one endpoint (more is 400 before API 1.44) and merges the image's Env and Cmd
 * into the container's; starting on a user-defined network adds the container's short id to
 * its aliases; a list without `all` holds running (and paused, restarting) containers only.
 *
 * Not modelled: filters other than `label` (answered 400, as an unknown key is), images and
 * volumes as resources (an image is known or not; `v` removes nothing here), exec, logs,
 * events, health, restart policies acting (a stopped container stays stopped).
 */

export interface RecordedRequest {
  readonly method: string;
  /** The path as sent, version prefix included. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly contentType: string | undefined;
  /** The parsed JSON body; undefined when there was none. */
  readonly body: unknown;
}

export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface EndpointSettings {
  IPAMConfig: unknown;
  Links: string[] | null;
  Aliases: string[] | null;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  MacAddress: string;
  DriverOpts: unknown;
}

interface FakeContainer {
  Id: string;
  Name: string;
  /** Not on the wire as a number: seconds of the fake clock. */
  createdAt: number;
  state: ContainerState;
  exitCode: number;
  startedAt: number | undefined;
  finishedAt: number | undefined;
  imageId: string;
  Config: Record<string, unknown> & { Image: string; Env: string[]; Labels: Record<string, string>; Hostname: string; Cmd: string[] | null; Entrypoint: string[] | null };
  HostConfig: Record<string, unknown> & { NetworkMode: string };
  Networks: Record<string, EndpointSettings>;
}

export interface FakeImage {
  readonly Env?: string[];
  readonly Cmd?: string[];
  readonly Entrypoint?: string[] | null;
}

export interface FakeDockerEngineOptions {
  /** Images the engine holds, by reference (a reference without a tag means :latest). */
  readonly images?: Readonly<Record<string, FakeImage>>;
  /** User-defined networks; bridge, host and none always exist. */
  readonly networks?: readonly string[];
}

export interface ComposeContainerSeed {
  readonly project: string;
  readonly service: string;
  readonly number: number;
  readonly state?: ContainerState;
  readonly image?: string;
  readonly env?: string[];
  /** Networks the container is on, the first one its NetworkMode; default [`<project>_default`]. */
  readonly networks?: readonly string[];
  readonly hostConfig?: Record<string, unknown>;
  readonly extraLabels?: Record<string, string>;
}

export const FAKE_IMAGE = 'local/freeswitch-agent:test';
const IMAGE_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const MAX_VERSION = '1.41';
const MIN_VERSION = '1.12';
const BUILTIN = new Set(['bridge', 'host', 'none']);
// moby's validContainerNamePattern.
const VALID_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const CLOCK_START = Date.parse('2025-01-01T00:00:00Z') / 1000;

class EngineError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const noSuchContainer = (ref: string) => new EngineError(404, `No such container: ${ref}`);
const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const iso = (seconds: number | undefined) => (seconds === undefined ? '0001-01-01T00:00:00Z' : new Date(seconds * 1000).toISOString());
const withTag = (ref: string) => (/:[^/]+$/.test(ref) ? ref : `${ref}:latest`);

function compareVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am - bm || an - bn;
}

/** httputils.BoolValue: anything but "", 0, no, false, none. */
const boolValue = (v: string | null) => !['', '0', 'no', 'false', 'none'].includes((v ?? '').trim().toLowerCase());

export class FakeDockerEngine {
  readonly requests: RecordedRequest[] = [];
  /** While true, requests are read and recorded but never answered. */
  stalled = false;
  /** Runs on every request once it is recorded, before `stalled` is read and the request answered: another client racing the provisioner. */
  beforeAnswer: ((req: RecordedRequest) => void) | undefined;
  readonly containers = new Map<string, FakeContainer>();
  readonly images = new Map<string, { id: string } & FakeImage>();
  readonly networks = new Map<string, string>();
  private clock = CLOCK_START;
  private readonly server = http.createServer((req, res) => this.serve(req, res));

  private constructor(
    readonly socketPath: string,
    private readonly dir: string,
    options: FakeDockerEngineOptions,
  ) {
    const images = options.images ?? { [FAKE_IMAGE]: { Env: [IMAGE_PATH], Cmd: ['/usr/local/bin/start'] } };
    for (const [ref, image] of Object.entries(images)) this.images.set(withTag(ref), { id: `sha256:${hex(32)}`, ...image });
    for (const name of [...BUILTIN, ...(options.networks ?? [])]) this.networks.set(name, hex(32));
  }

  static async start(options: FakeDockerEngineOptions = {}): Promise<FakeDockerEngine> {
    const dir = await mkdtemp(join(tmpdir(), 'fake-docker-'));
    const engine = new FakeDockerEngine(join(dir, 'docker.sock'), dir, options);
    await new Promise<void>((resolve, reject) => {
      engine.server.once('error', reject);
      engine.server.listen(engine.socketPath, resolve);
    });
    return engine;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The recorded requests as `METHOD path[?query]`, the query decoded, for exact assertions. */
  lines(): string[] {
    return this.requests.map((r) => {
      const q = Object.entries(r.query).map(([k, v]) => `${k}=${v}`).join('&');
      return `${r.method} ${r.path}${q ? `?${q}` : ''}`;
    });
  }

  /** Container names, sorted; `live` only those created, running or restarting. */
  names(which: 'all' | 'live' = 'all'): string[] {
    return [...this.containers.values()]
      .filter((c) => which === 'all' || ['created', 'running', 'restarting'].includes(c.state))
      .map((c) => c.Name.slice(1))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  }

  /** The container as GET /containers/{name}/json answers it. */
  inspect(name: string): Record<string, unknown> {
    return this.inspectAnswer(this.find(name));
  }

  idOf(name: string): string {
    return this.find(name).Id;
  }

  /** A container as docker-compose v1 (1.29) creates one for `--scale`: its labels, name, network, alias. */
  addComposeContainer(seed: ComposeContainerSeed): string {
    const name = `${seed.project}_${seed.service}_${seed.number}`;
    const networks = seed.networks ?? [`${seed.project}_default`];
    const [mode = 'default'] = networks;
    for (const n of networks) if (!this.networks.has(n)) this.networks.set(n, hex(32));
    const labels = {
      'com.docker.compose.config-hash': 'a3f0c1e2b4d5968778695a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d',
      'com.docker.compose.container-number': String(seed.number),
      'com.docker.compose.oneoff': 'False',
      'com.docker.compose.project': seed.project,
      'com.docker.compose.project.config_files': 'docker-compose.yml',
      'com.docker.compose.project.working_dir': `/srv/${seed.project}`,
      'com.docker.compose.service': seed.service,
      'com.docker.compose.version': '1.29.2',
      ...seed.extraLabels,
    };
    const c = this.newContainer(name, {
      Image: seed.image ?? FAKE_IMAGE,
      Env: [...(seed.env ?? [`SBC_MACHINE_ID=${name}`, 'SBC_NATS_URL=nats://nats:4222']), IMAGE_PATH],
      Labels: labels,
      Cmd: ['/usr/local/bin/start'],
      Entrypoint: null,
    }, {
      NetworkMode: mode,
      Binds: [`/srv/${seed.project}/conf:/etc/freeswitch:ro`],
      RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 },
      Init: true,
      ...seed.hostConfig,
    });
    for (const n of networks) c.Networks[n] = this.endpoint(n, BUILTIN.has(n) ? null : [seed.service]);
    const state = seed.state ?? 'running';
    if (state !== 'created') this.run(c);
    this.setState(name, state);
    return name;
  }

  /** A container outside any compose service (or of another one), running. */
  addContainer(name: string, labels: Record<string, string> = {}, state: ContainerState = 'running'): void {
    const c = this.newContainer(name, { Image: FAKE_IMAGE, Env: [IMAGE_PATH], Labels: labels, Cmd: ['sleep', 'infinity'], Entrypoint: null }, { NetworkMode: 'default' });
    c.Networks.bridge = this.endpoint('bridge', null);
    if (state !== 'created') this.run(c);
    this.setState(name, state);
  }

  setState(name: string, state: ContainerState, exitCode = state === 'exited' ? 137 : 0): void {
    const c = this.find(name);
    c.state = state;
    c.exitCode = exitCode;
    if (state === 'exited' || state === 'dead') c.finishedAt = this.tick();
  }

  /** A container gone behind the provisioner's back (another client's docker rm -f). */
  delete(name: string): void {
    this.containers.delete(this.find(name).Id);
  }

  // ---- engine behaviour ----

  private tick(): number {
    return ++this.clock;
  }

  private find(ref: string): FakeContainer {
    const c = this.lookup(ref);
    if (!c) throw noSuchContainer(ref);
    return c;
  }

  /** By full id, by name (with or without its '/'), or by a unique id prefix, in that order, as the engine looks up. */
  private lookup(ref: string): FakeContainer | undefined {
    const all = [...this.containers.values()];
    const byId = this.containers.get(ref);
    if (byId) return byId;
    const byName = all.find((c) => c.Name === `/${ref.replace(/^\//, '')}`);
    if (byName) return byName;
    const byPrefix = ref.length > 0 ? all.filter((c) => c.Id.startsWith(ref)) : [];
    if (byPrefix.length > 1) throw new EngineError(404, `multiple IDs found with provided prefix: ${ref}`);
    return byPrefix[0];
  }

  private newContainer(name: string, config: Partial<FakeContainer['Config']> & { Image: string }, hostConfig: Record<string, unknown>): FakeContainer {
    const id = hex(32);
    const image = this.images.get(withTag(config.Image));
    if (!image) throw new EngineError(404, `No such image: ${withTag(config.Image)}`);
    // moby's merge of the image config into the container's: image Env appended for keys the container lacks, Cmd when it has none.
    const env = [...(config.Env ?? [])];
    for (const e of image.Env ?? []) {
      const key = e.split('=')[0];
      if (!env.some((u) => u.split('=')[0] === key)) env.push(e);
    }
    const noCommand = (config.Cmd ?? []).length === 0 && (config.Entrypoint ?? []).length === 0;
    const c: FakeContainer = {
      Id: id,
      Name: `/${name}`,
      createdAt: this.tick(),
      state: 'created',
      exitCode: 0,
      startedAt: undefined,
      finishedAt: undefined,
      imageId: image.id,
      Config: {
        Domainname: '',
        User: '',
        AttachStdin: false,
        AttachStdout: false,
        AttachStderr: false,
        Tty: false,
        OpenStdin: false,
        StdinOnce: false,
        WorkingDir: '',
        OnBuild: null,
        ...config,
        Hostname: typeof config.Hostname === 'string' && config.Hostname !== '' ? config.Hostname : id.slice(0, 12),
        Env: env,
        Labels: { ...(config.Labels ?? {}) },
        Cmd: noCommand ? (image.Cmd ?? null) : (config.Cmd ?? null),
        Entrypoint: config.Entrypoint ?? image.Entrypoint ?? null,
        Image: config.Image,
      },
      HostConfig: {
        Binds: null,
        NetworkMode: 'default',
        PortBindings: {},
        RestartPolicy: { Name: '', MaximumRetryCount: 0 },
        AutoRemove: false,
        Privileged: false,
        Init: null,
        ...hostConfig,
      },
      Networks: {},
    };
    if (c.HostConfig.NetworkMode === '') c.HostConfig.NetworkMode = 'default';
    this.containers.set(id, c);
    return c;
  }

  private endpoint(network: string, aliases: string[] | null): EndpointSettings {
    return {
      IPAMConfig: null,
      Links: null,
      Aliases: aliases,
      NetworkID: this.networks.get(network) ?? '',
      EndpointID: '',
      Gateway: '',
      IPAddress: '',
      IPPrefixLen: 0,
      IPv6Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      MacAddress: '',
      DriverOpts: null,
    };
  }

  /** What a start does to the networks (moby updateNetworkConfig): aliases only on user-defined ones, which also get the short id. */
  private run(c: FakeContainer): void {
    let host = 2;
    for (const [name, ep] of Object.entries(c.Networks)) {
      if (BUILTIN.has(name)) {
        if ((ep.Aliases ?? []).length > 0) throw new EngineError(400, 'network-scoped alias is supported only for containers in user defined networks');
      } else {
        const short = c.Id.slice(0, 12);
        if (!(ep.Aliases ?? []).includes(short)) ep.Aliases = [...(ep.Aliases ?? []), short];
      }
      if (name !== 'host' && name !== 'none') {
        ep.EndpointID = hex(32);
        ep.IPAddress = `172.18.0.${host++}`;
        ep.IPPrefixLen = 16;
        ep.Gateway = '172.18.0.1';
      }
    }
    c.state = 'running';
    c.startedAt = this.tick();
  }

  // ---- HTTP ----

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    onWholeRequest(req, 'http://docker', ({ url, text, body }) => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        contentType: req.headers['content-type'],
        body,
      };
      this.requests.push(recorded);
      this.beforeAnswer?.(recorded);
      if (this.stalled) return;
      const headers = { 'api-version': MAX_VERSION, 'docker-experimental': 'false', ostype: 'linux', server: 'Docker/20.10.24 (linux)' };
      try {
        const answer = this.route(req.method ?? '', url, body, text);
        if (answer.text !== undefined) {
          res.writeHead(answer.status, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache, no-store, must-revalidate' });
          res.end(req.method === 'HEAD' ? undefined : answer.text);
        } else if (answer.json === undefined) {
          res.writeHead(answer.status, headers);
          res.end();
        } else {
          res.writeHead(answer.status, { ...headers, 'content-type': 'application/json' });
          res.end(`${JSON.stringify(answer.json)}\n`);
        }
      } catch (err) {
        if (!(err instanceof EngineError)) throw err;
        res.writeHead(err.code, { ...headers, 'content-type': 'application/json' });
        res.end(`${JSON.stringify({ message: err.message })}\n`);
      }
    });
  }

  private route(method: string, url: URL, body: unknown, text: string): { status: number; json?: unknown; text?: string } {
    let path = url.pathname;
    const versioned = path.match(/^\/v([0-9]+\.[0-9]+)(\/.*)$/);
    if (versioned) {
      const [, version = '', rest = ''] = versioned;
      if (compareVersions(version, MAX_VERSION) > 0) throw new EngineError(400, `client version ${version} is too new. Maximum supported API version is ${MAX_VERSION}`);
      if (compareVersions(version, MIN_VERSION) < 0) throw new EngineError(400, `client version ${version} is too old. Minimum supported API version is ${MIN_VERSION}, please upgrade your client to a newer version`);
      path = rest;
    }
    const q = url.searchParams;
    if (path === '/_ping' && (method === 'GET' || method === 'HEAD')) return { status: 200, text: 'OK' };
    if (path === '/containers/json' && method === 'GET') return { status: 200, json: this.list(boolValue(q.get('all')), q.get('filters')) };
    if (path === '/containers/create' && method === 'POST') return { status: 201, json: this.create(q.get('name') ?? '', body, text) };
    const one = path.match(/^\/containers\/([^/]+)(\/json|\/start|\/stop)?$/);
    if (one) {
      const [, ref = '', action] = one;
      const name = decodeURIComponent(ref);
      if (action === '/json' && method === 'GET') return { status: 200, json: this.inspectAnswer(this.find(name)) };
      if (action === '/start' && method === 'POST') return { status: this.startContainer(name) };
      if (action === '/stop' && method === 'POST') return { status: this.stopContainer(name, q.get('t')) };
      if (action === undefined && method === 'DELETE') return { status: this.deleteContainer(name, boolValue(q.get('force'))) };
    }
    const connect = path.match(/^\/networks\/([^/]+)\/connect$/);
    if (connect && method === 'POST') return { status: this.connect(decodeURIComponent(connect[1] ?? ''), body) };
    throw new EngineError(404, 'page not found');
  }

  private list(all: boolean, filters: string | null): unknown[] {
    const label = parseLabelFilter(filters);
    return [...this.containers.values()]
      .filter((c) => all || ['running', 'paused', 'restarting'].includes(c.state))
      .filter((c) => label.every((term) => {
        const eq = term.indexOf('=');
        return eq < 0 ? term in c.Config.Labels : c.Config.Labels[term.slice(0, eq)] === term.slice(eq + 1);
      }))
      .sort((a, b) => b.createdAt - a.createdAt)
      .map((c) => ({
        Id: c.Id,
        Names: [c.Name],
        Image: c.Config.Image,
        ImageID: c.imageId,
        Command: [...(c.Config.Entrypoint ?? []), ...(c.Config.Cmd ?? [])].join(' '),
        Created: c.createdAt,
        Ports: [],
        Labels: c.Config.Labels,
        State: c.state,
        Status: this.statusText(c),
        HostConfig: { NetworkMode: c.HostConfig.NetworkMode },
        NetworkSettings: { Networks: c.Networks },
        Mounts: [],
      }));
  }

  private statusText(c: FakeContainer): string {
    switch (c.state) {
      case 'created':
        return 'Created';
      case 'running':
        return 'Up 5 seconds';
      case 'paused':
        return 'Up 5 seconds (Paused)';
      case 'restarting':
        return `Restarting (${c.exitCode}) 1 second ago`;
      case 'removing':
        return 'Removal In Progress';
      case 'exited':
        return `Exited (${c.exitCode}) 3 seconds ago`;
      case 'dead':
        return 'Dead';
    }
  }

  private create(name: string, body: unknown, text: string): unknown {
    if (text === '' || body === null || typeof body !== 'object') throw new EngineError(400, 'Config cannot be empty in order to create a container');
    if (name !== '' && !VALID_NAME.test(name)) throw new EngineError(400, `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const finalName = name === '' ? `fake_${hex(4)}` : name.replace(/^\//, '');
    const taken = [...this.containers.values()].find((c) => c.Name === `/${finalName}`);
    if (taken) throw new EngineError(409, `Conflict. The container name "/${finalName}" is already in use by container "${taken.Id}". You have to remove (or rename) that container to be able to reuse that name.`);
    const { HostConfig, NetworkingConfig, ...config } = body as { HostConfig?: Record<string, unknown>; NetworkingConfig?: { EndpointsConfig?: Record<string, { Aliases?: string[] } | null> } } & Record<string, unknown>;
    const endpoints = Object.entries(NetworkingConfig?.EndpointsConfig ?? {});
    if (endpoints.length > 1) throw new EngineError(400, `Container cannot be connected to network endpoints: ${endpoints.map(([n]) => n).join(', ')}`);
    const mode = typeof HostConfig?.NetworkMode === 'string' && HostConfig.NetworkMode !== '' ? HostConfig.NetworkMode : 'default';
    const modeNetwork = mode === 'default' ? 'bridge' : mode;
    if (!mode.startsWith('container:') && !this.networks.has(modeNetwork)) throw new EngineError(404, `network ${modeNetwork} not found`);
    for (const [n] of endpoints) if (!this.networks.has(n)) throw new EngineError(404, `network ${n} not found`);
    if (typeof config.Image !== 'string' || config.Image === '') throw new EngineError(404, 'No such image: ');
    const c = this.newContainer(finalName, config as FakeContainer['Config'], HostConfig ?? {});
    const [endpoint] = endpoints;
    if (endpoint) c.Networks[endpoint[0]] = this.endpoint(endpoint[0], endpoint[1]?.Aliases ?? null);
    else if (!mode.startsWith('container:')) c.Networks[modeNetwork] = this.endpoint(modeNetwork, null);
    return { Id: c.Id, Warnings: [] };
  }

  private inspectAnswer(c: FakeContainer): Record<string, unknown> {
    const running = c.state === 'running' || c.state === 'paused' || c.state === 'restarting';
    return {
      Id: c.Id,
      Created: iso(c.createdAt),
      Path: [...(c.Config.Entrypoint ?? []), ...(c.Config.Cmd ?? [])][0] ?? '',
      Args: [...(c.Config.Entrypoint ?? []), ...(c.Config.Cmd ?? [])].slice(1),
      State: {
        Status: c.state,
        Running: running,
        Paused: c.state === 'paused',
        Restarting: c.state === 'restarting',
        OOMKilled: false,
        Dead: c.state === 'dead',
        Pid: running ? 4242 : 0,
        ExitCode: c.exitCode,
        Error: '',
        StartedAt: iso(c.startedAt),
        FinishedAt: iso(c.finishedAt),
      },
      Image: c.imageId,
      Name: c.Name,
      RestartCount: 0,
      Driver: 'overlay2',
      Platform: 'linux',
      HostConfig: structuredClone(c.HostConfig),
      Mounts: [],
      Config: structuredClone(c.Config),
      NetworkSettings: { Bridge: '', SandboxID: running ? c.Id.slice(0, 64) : '', HairpinMode: false, Ports: {}, Networks: structuredClone(c.Networks) },
    };
  }

  private startContainer(ref: string): number {
    const c = this.find(ref);
    if (c.state === 'running') return 304;
    if (c.state === 'paused') throw new EngineError(409, 'cannot start a paused container, try unpause instead');
    this.run(c);
    return 204;
  }

  private stopContainer(ref: string, t: string | null): number {
    if (t !== null && t !== '' && !/^-?[0-9]+$/.test(t)) throw new EngineError(400, `strconv.Atoi: parsing "${t}": invalid syntax`);
    const c = this.find(ref);
    if (!['running', 'paused', 'restarting'].includes(c.state)) return 304;
    this.setState(c.Name.slice(1), 'exited', 143);
    return 204;
  }

  private deleteContainer(ref: string, force: boolean): number {
    const c = this.find(ref);
    if (!force && c.state === 'running') throw new EngineError(409, `You cannot remove a running container ${c.Id}. Stop the container before attempting removal or force remove`);
    if (!force && c.state === 'paused') throw new EngineError(409, `You cannot remove a paused container ${c.Id}. Unpause and then stop the container before attempting removal or force remove`);
    if (!force && c.state === 'restarting') throw new EngineError(409, `You cannot remove a restarting container ${c.Id}. Stop the container before attempting removal or force remove`);
    this.containers.delete(c.Id);
    return 204;
  }

  private connect(network: string, body: unknown): number {
    if (!this.networks.has(network)) throw new EngineError(404, `network ${network} not found`);
    const { Container, EndpointConfig } = (body ?? {}) as { Container?: string; EndpointConfig?: { Aliases?: string[] } };
    const c = this.find(Container ?? '');
    if (c.Networks[network]) throw new EngineError(403, `endpoint with name ${c.Name.slice(1)} already exists in network ${network}`);
    c.Networks[network] = this.endpoint(network, EndpointConfig?.Aliases ?? null);
    return 200;
  }
}

/** The `label` values of a filters argument, in either JSON form the engine reads; any other key is "invalid filter". */
function parseLabelFilter(filters: string | null): string[] {
  if (filters === null || filters === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(filters);
  } catch (err) {
    throw new EngineError(400, (err as Error).message);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new EngineError(400, 'json: cannot unmarshal into Go value of type filters.Args');
  const labels: string[] = [];
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (key !== 'label') throw new EngineError(400, `invalid filter '${key}'`);
    if (Array.isArray(value)) labels.push(...value.map(String));
    else if (value !== null && typeof value === 'object') labels.push(...Object.entries(value as Record<string, unknown>).filter(([, on]) => on === true).map(([k]) => k));
    else throw new EngineError(400, 'json: cannot unmarshal into Go value of type map[string]bool');
  }
  return labels;
}
