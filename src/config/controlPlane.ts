import { hostname } from 'node:os';
import { ConfigError, int, oneOf, readEnv, str, url, urlList, type Parsed, type VarSpec } from './env.js';
import { natsAuthSpec, natsCredentialsOf } from './natsAuth.js';
import { apiAuthOf, apiAuthSpec, type ApiAuthConfig } from './apiAuth.js';
import type { NatsCredentials } from '../nats/auth.js';
import type { DispatcherPolicy } from '../core/dispatcher.js';
import { DEFAULT_HEALTH_POLICY, healthPolicyProblems, type HealthPolicy } from '../core/health.js';
import { parseSipUri } from '../events/sipUri.js';

/** Comma-separated SIP URIs, each checked and normalised like a node's; empty by default. */
const sipUriList = (description: string): VarSpec<readonly string[]> => ({
  description,
  default: [],
  parse(raw) {
    const items = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    return Object.freeze(
      items.map((item) => {
        const uri = parseSipUri(item);
        if (!uri.ok) throw new Error(`${item}: ${uri.reason}`);
        return uri.value.uri;
      }),
    );
  },
});

/** A whole number, or unset (null). */
const optionalInt = (description: string, min: number, max: number): VarSpec<number | null> => ({
  description,
  default: null,
  parse: (raw) => int(description, undefined, min, max).parse(raw),
});

/**
 * Every variable the control plane reads. The SBC_DS_* names are shared with Kamailio's
 * routing script (lua/routing.lua), which reads the same variables, so both sides agree
 * on set ids and algorithms.
 */
export const controlPlaneSpec = {
  SBC_NATS_URL: url('NATS server(s) the agents publish to', 'nats://127.0.0.1:4222', ['nats:', 'tls:']),
  SBC_NATS_PREFIX: str('Subject prefix for every message', 'sbc', /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/),
  ...natsAuthSpec,
  SBC_REDIS_URL: url('Redis holding the live node registry', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
  SBC_REDIS_PREFIX: str('Key prefix in Redis', 'sbc:', /^[A-Za-z0-9_:.-]{1,64}$/),
  SBC_PG_URL: url('Postgres database holding Kamailio\'s dispatcher table', 'postgres://postgres@127.0.0.1:5432/postgres', ['postgres:', 'postgresql:']),
  SBC_KAMAILIO_RPC_URLS: urlList('Comma-separated JSON-RPC URLs, one per Kamailio', ['http://127.0.0.1:5071/RPC'], ['http:', 'https:']),
  SBC_KAMAILIO_SIP_URIS: sipUriList('Extra SIP addresses of the Kamailios (a VIP, a NAT address) that must never be a node; their listen sockets are learned by RPC (corex.list_sockets)'),
  SBC_DS_SET_GENERAL: int('Dispatcher set for ordinary calls', 1, 1, 65535),
  SBC_DS_ALG_GENERAL: oneOf('Kamailio algorithm for the general set: 4 round-robin; 10 call load (maxload); 11 relative weight (rweight: capacity, operator weight and health share new calls). Not 9, which needs percentages summing to 100', '4', ['4', '10', '11']),
  SBC_DS_SET_ROOMS: int('Dispatcher set for conference rooms', 2, 1, 65535),
  SBC_DS_ALG_ROOMS: oneOf('Kamailio algorithm for rooms (2 hash over To URI, 3 hash over R-URI)', '2', ['2', '3']),
  SBC_DS_SET_CASCADE: int('Dispatcher set for cascaded big rooms (algorithm 7 over hash_pvar)', 3, 1, 65535),
  SBC_RELOAD_DELTA_MS: int('Minimum time between two dispatcher reloads of one Kamailio; at least each Kamailio\'s reload_delta (`SBC_DS_RELOAD_DELTA`), which is read from every Kamailio that answers at start-up: a longer one refuses the start (exit 2)', 1000, 0, 600_000),
  SBC_RESYNC_MS: int('Periodic reconcile even without events (repairs drift)', 10_000, 500, 3_600_000),
  SBC_RPC_TIMEOUT_MS: int('Timeout of each Kamailio JSON-RPC call', 2000, 100, 60_000),
  SBC_AGENT_COMMAND_TIMEOUT_MS: int('How long a command to one agent (GET /v1/nodes/{id}/status) waits for its answer; keep it above the agents\' SBC_ESL_TIMEOUT_MS, so an agent whose FreeSWITCH is slow can still say so', 3000, 100, 60_000),
  SBC_HEARTBEAT_MISSES: int('Missed heartbeats after which a silent node is dead', 3, 1, 100),
  SBC_MAX_CLOCK_SKEW_MS: int('How far a node message\'s seq (the agent\'s clock in ms) may be ahead of this control plane\'s clock; further ahead is refused as forged (keep clocks NTP-synced)', 60_000, 1000, 3_600_000),
  SBC_KAMAILIO_MARK_HOLD_MS: int("How long a destination Kamailio marked inactive itself after a failed call (routing.lua's failure route) is left out of selection before it is set active again; 0 clears marks at the next pass", 30_000, 0, 3_600_000),
  SBC_UNKNOWN_NODE_GRACE_MS: int('How long rows of nodes the registry has no record of are kept (registry lost, agents not yet heard); above the agents\' heartbeat interval', 5000, 0, 600_000),
  SBC_ROOM_PIN_GRACE_MS: int('How long a room pin (made by a Kamailio when it placed a room\'s first caller) waits for a conference on its node to confirm it before the pin is dropped', 30_000, 1000, 3_600_000),
  SBC_ROOM_MAX_MEMBERS_PER_NODE: int('Participants of one room on one node at which the room\'s new callers go to another node (its conferences linked; existing members never move); 0: never, except when a node is at 90 % of its sessions', 0, 0, 100_000),
  SBC_ROOM_LINK_SETUP_MS: int('How long a new cascade link may take to show in both nodes\' conferences before it is dropped and made again', 10_000, 1000, 600_000),
  SBC_ROOM_LINK_MEDIA_TIMEOUT_MS: int('media_timeout of every cascade link leg: FreeSWITCH ends a link whose far node went silent after this long (a second guard; the control plane drops links to a gone node at once)', 10_000, 1000, 3_600_000),
  SBC_GONE_RETENTION_MS: int('How long a gone node stays visible in the API', 3_600_000, 0, 30 * 86_400_000),
  SBC_STARTUP_TIMEOUT_MS: int('How long start-up waits for Redis, Postgres and NATS to become reachable before it exits with an error', 60_000, 0, 3_600_000),
  SBC_HTTP_HOST: str('HTTP API listen address', '0.0.0.0'),
  SBC_HTTP_PORT: int('HTTP API listen port', 8080, 0, 65535),
  ...apiAuthSpec,
  SBC_LEADER_LEASE_MS: int('How long the leader keeps leading without a successful renew of its Postgres lock; it then stops writing. Postgres frees a silent leader\'s lock only later (idle_session_timeout = lease + max(1 s, lease/2)), so another replica takes over after that', 5000, 1000, 600_000),
  SBC_LEADER_RENEW_MS: int('How often each replica renews (leader) or checks (follower) the leader lock; at most half of SBC_LEADER_LEASE_MS', 1000, 100, 300_000),
  SBC_REPLICA_ORDER: optionalInt('This replica\'s place in the takeover order: when the leader is lost the live replica with the lowest order takes over first; unset comes after every ordered replica. Never takes leadership back from a healthy leader', 0, 1_000_000),
  SBC_INSTANCE_ID: str('Name of this control plane instance in logs and NATS requests; empty means the host name', '', /^[A-Za-z0-9._-]{1,128}$/),
  SBC_DRAIN_DEADLINE_MS: int('The deadline of a drain asked without one (POST /v1/nodes/{id}/drain), from the call', 3_600_000, 1000, 30 * 86_400_000),
  SBC_CALLS_INGEST: oneOf('Take call events (agents\' channel events, Kamailio\'s routing decisions) from the calls JetStream stream into Postgres for `GET /v1/calls` (every replica shares one durable consumer)', 'on', ['on', 'off']),
  SBC_CALL_RETENTION_DAYS: int('Days of call events kept in Postgres: whole day partitions older than this are dropped (the leader\'s call-partitions step); also the calls stream\'s age limit', 7, 1, 3650),
  SBC_CALL_INGEST_BATCH: int('Most call events written to Postgres in one insert', 1000, 1, 10_000),
  SBC_CALL_INGEST_DELAY_MS: int('Longest a call event waits for its batch to fill before it is written', 20, 1, 5000),
  SBC_CALL_INGEST_ACK_WAIT_MS: int('A call event taken by a replica but not acknowledged (written) within this goes to another replica', 30_000, 1000, 3_600_000),
  SBC_CALL_INGEST_MAX_PENDING: int('Most call events out unacknowledged at once over all replicas (bounds memory while Postgres is slow)', 20_000, 1, 1_000_000),
  SBC_CALL_INGEST_RETRY_MS: int('How long call events whose write failed wait before they are delivered again', 2000, 0, 600_000),
  SBC_PROVISIONER: oneOf('What starts and removes FreeSWITCH machines for POST /v1/scale: none (drain only; another orchestrator removes drained machines), command (SBC_SCALE_COMMAND), docker (the Engine API, SBC_DOCKER_*), kubernetes (SBC_K8S_*)', 'none', ['none', 'command', 'docker', 'kubernetes']),
  SBC_AUTOSCALE: oneOf('The autoscaler: off; dry-run (logs the target it would set, and sbc_autoscaler_desired_replicas); on (sets the scale target, like POST /v1/scale)', 'off', ['off', 'dry-run', 'on']),
  SBC_AUTOSCALE_TARGET_UTILISATION: int('N+1 headroom: after losing its largest node, the pool carries the current calls within this percentage of the rest\'s capacity (50: the two-node rule)', 50, 1, 100),
  SBC_AUTOSCALE_MIN_REPLICAS: int('Smallest pool the autoscaler sets', 2, 1, 10_000),
  SBC_AUTOSCALE_MAX_REPLICAS: int('Largest pool the autoscaler sets', 10, 1, 10_000),
  SBC_AUTOSCALE_UP_COOLDOWN_MS: int('Least time between the last scale target (whoever set it) and an autoscaler scale-up', 60_000, 0, 86_400_000),
  SBC_AUTOSCALE_DOWN_COOLDOWN_MS: int('Least time between the last scale target and an autoscaler scale-down', 600_000, 0, 86_400_000),
  SBC_AUTOSCALE_EVERY_MS: int('How often the autoscaler evaluates its rule', 10_000, 1000, 3_600_000),
  SBC_SCALE_MIN_REPLICAS: int('Smallest pool POST /v1/scale accepts', 1, 0, 10_000),
  SBC_SCALE_MAX_REPLICAS: int('Largest pool POST /v1/scale accepts', 100, 1, 10_000),
  SBC_SCALE_RETRY_MS: int('How long the scale step waits before making the same request of the provisioner again while the pool does not match', 60_000, 1000, 3_600_000),
  SBC_SCALE_COMMAND: str('The command provisioner\'s executable (absolute path, run without a shell, PATH=/usr/local/bin:/usr/bin:/bin): env SBC_SCALE_REPLICAS and SBC_SCALE_REMOVE (machine ids, comma-separated), the same as JSON on stdin; exit 0 when done', '', /^(\/[^\0]*)?$/),
  SBC_SCALE_COMMAND_TIMEOUT_MS: int('How long the scale command may run before its process group is killed', 120_000, 1000, 3_600_000),
  SBC_DOCKER_SOCKET: str('The Docker Engine API\'s unix socket (docker provisioner; mount it into the control plane\'s container)', '/var/run/docker.sock', /^\/.+$/),
  SBC_DOCKER_PROJECT: str('The compose project of the FreeSWITCH service (label com.docker.compose.project; docker provisioner)', '', /^([a-z0-9][a-z0-9_-]{0,62})?$/),
  SBC_DOCKER_SERVICE: str('The compose service of the FreeSWITCH machines (label com.docker.compose.service): new containers copy its newest running one', '', /^([A-Za-z0-9][A-Za-z0-9_.-]{0,62})?$/),
  SBC_DOCKER_TIMEOUT_MS: int('Timeout of each Docker Engine API request (a stop gets SBC_DOCKER_STOP_TIMEOUT_S on top)', 10_000, 100, 600_000),
  SBC_DOCKER_STOP_TIMEOUT_S: int('Seconds a removed (drained) container gets between SIGTERM and SIGKILL', 30, 0, 3600),
  SBC_K8S_API_URL: url('The Kubernetes API server (kubernetes provisioner)', 'https://kubernetes.default.svc', ['http:', 'https:']),
  SBC_K8S_NAMESPACE: str('Namespace of the FreeSWITCH workload (kubernetes provisioner)', '', /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$/),
  SBC_K8S_WORKLOAD_KIND: oneOf('StatefulSet (drained pods are the highest ordinals) or Deployment (drained pods get pod-deletion-cost -1000)', 'StatefulSet', ['StatefulSet', 'Deployment']),
  SBC_K8S_WORKLOAD_NAME: str('Name of the FreeSWITCH StatefulSet or Deployment (kubernetes provisioner)', '', /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)?$/),
  SBC_K8S_TOKEN_FILE: str('Bearer token file, re-read on every request (the kubelet rotates it)', '/var/run/secrets/kubernetes.io/serviceaccount/token', /^\/.+$/),
  SBC_K8S_CA_FILE: str('CA bundle the API server\'s certificate is checked against; empty: Node\'s default CAs', '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt', /^(\/.+)?$/),
  SBC_K8S_TIMEOUT_MS: int('Timeout of each Kubernetes API request', 10_000, 100, 600_000),
  SBC_HEALTH: oneOf('Health scores (README, Health): on (degraded nodes get less weight, critical ones no new calls) or off (every node counts as healthy; blockers still disable rows)', 'on', ['on', 'off']),
  SBC_HEALTH_EVERY_MS: int('How often the leader scores every node: one reading per sensor each time (hysteresis counts these)', 5000, 100, 600_000),
  SBC_HEALTH_DEGRADED_BELOW: int('A node is degraded below this score (0..100, its worst sensor\'s)', 70, 1, 100),
  SBC_HEALTH_CRITICAL_BELOW: int('A node is critical below this score: no new calls', 30, 1, 99),
  SBC_HEALTH_RECOVER_MARGIN: int('A step back up needs the score this far above the threshold it crossed...', 10, 0, 50),
  SBC_HEALTH_HOLD_MS: int('...for at least this long...', 30_000, 0, 3_600_000),
  SBC_HEALTH_HOLD_READINGS: int('...over at least this many readings in a row', 3, 1, 1000),
  SBC_HEALTH_IDLE_CPU_FINE: int('Idle CPU % at and above which the idle-cpu sensor scores 100', 30, 0, 100),
  SBC_HEALTH_IDLE_CPU_FAIL: int('Idle CPU % at and below which the idle-cpu sensor scores 0', 5, 0, 100),
  SBC_HEALTH_CALLS_FINE: int('Calls in % of capacity up to which the call-utilisation sensor scores 100 (50: the N+1 rule)', 50, 0, 100),
  SBC_HEALTH_CALLS_FAIL: int('Calls in % of capacity from which the call-utilisation sensor scores 0', 100, 1, 1000),
  SBC_HEALTH_PLUGINS_FILE: str('A JSON file of custom sensors and transition hooks (README, Health); empty: none', '', /^(\/[^\0]*)?$/),
  SBC_LOG_LEVEL: oneOf('pino log level', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
};

export type ControlPlaneEnv = Parsed<typeof controlPlaneSpec>;

export interface ControlPlaneConfig extends ControlPlaneEnv {
  readonly natsCredentials: NatsCredentials | undefined;
  /** The API's token check; undefined with SBC_API_AUTH=off. */
  readonly apiAuth: ApiAuthConfig | undefined;
  readonly policy: DispatcherPolicy;
  readonly healthPolicy: HealthPolicy;
  readonly managedSets: ReadonlySet<number>;
}

/** The health policy the SBC_HEALTH_* variables give; undefined while one of them did not parse. */
function healthPolicyOf(v: Partial<ControlPlaneEnv>): HealthPolicy | undefined {
  const { SBC_HEALTH_DEGRADED_BELOW: degradedBelow, SBC_HEALTH_CRITICAL_BELOW: criticalBelow, SBC_HEALTH_RECOVER_MARGIN: recoverMargin } = v;
  const { SBC_HEALTH_HOLD_MS: holdMs, SBC_HEALTH_HOLD_READINGS: holdReadings, SBC_HEALTH_IDLE_CPU_FINE: cpuFine, SBC_HEALTH_IDLE_CPU_FAIL: cpuFail } = v;
  const { SBC_HEALTH_CALLS_FINE: callsFine, SBC_HEALTH_CALLS_FAIL: callsFail } = v;
  const all = [degradedBelow, criticalBelow, recoverMargin, holdMs, holdReadings, cpuFine, cpuFail, callsFine, callsFail];
  if (all.some((x) => x === undefined)) return undefined;
  return Object.freeze({
    degradedBelow: degradedBelow!,
    criticalBelow: criticalBelow!,
    recoverMargin: recoverMargin!,
    holdMs: holdMs!,
    holdReadings: holdReadings!,
    sensors: Object.freeze({
      ...DEFAULT_HEALTH_POLICY.sensors,
      idleCpu: { fine: cpuFine!, fail: cpuFail! },
      callUtilisation: { fine: callsFine! / 100, fail: callsFail! / 100 },
    }),
  });
}

export function loadControlPlaneConfig(env: Record<string, string | undefined> = process.env): ControlPlaneConfig {
  const { values, problems } = readEnv(controlPlaneSpec, env);
  // One set for two purposes would mix their rows; checked when all three parsed, and
  // listed with every other problem.
  const ids = [values.SBC_DS_SET_GENERAL, values.SBC_DS_SET_ROOMS, values.SBC_DS_SET_CASCADE];
  if (ids.every((id) => id !== undefined) && new Set(ids).size !== ids.length) {
    problems.push(`SBC_DS_SET_GENERAL, SBC_DS_SET_ROOMS and SBC_DS_SET_CASCADE must differ (got ${ids.join(', ')})`);
  }
  const { SBC_LEADER_LEASE_MS: lease, SBC_LEADER_RENEW_MS: renew } = values;
  if (lease !== undefined && renew !== undefined && 2 * renew > lease) {
    problems.push(`SBC_LEADER_RENEW_MS (${renew}) must be at most half of SBC_LEADER_LEASE_MS (${lease}): a lease spans at least two renews`);
  }
  if (values.SBC_PROVISIONER === 'command' && values.SBC_SCALE_COMMAND === '') problems.push('SBC_PROVISIONER=command needs SBC_SCALE_COMMAND');
  if (values.SBC_PROVISIONER === 'kubernetes' && (values.SBC_K8S_NAMESPACE === '' || values.SBC_K8S_WORKLOAD_NAME === '')) {
    problems.push('SBC_PROVISIONER=kubernetes needs SBC_K8S_NAMESPACE and SBC_K8S_WORKLOAD_NAME');
  }
  if (values.SBC_PROVISIONER === 'docker' && (values.SBC_DOCKER_PROJECT === '' || values.SBC_DOCKER_SERVICE === '')) {
    problems.push('SBC_PROVISIONER=docker needs SBC_DOCKER_PROJECT and SBC_DOCKER_SERVICE');
  }
  if (values.SBC_AUTOSCALE_MIN_REPLICAS !== undefined && values.SBC_AUTOSCALE_MAX_REPLICAS !== undefined && values.SBC_AUTOSCALE_MIN_REPLICAS > values.SBC_AUTOSCALE_MAX_REPLICAS) {
    problems.push(`SBC_AUTOSCALE_MIN_REPLICAS (${values.SBC_AUTOSCALE_MIN_REPLICAS}) must not exceed SBC_AUTOSCALE_MAX_REPLICAS (${values.SBC_AUTOSCALE_MAX_REPLICAS})`);
  }
  const { SBC_SCALE_MIN_REPLICAS: minR, SBC_SCALE_MAX_REPLICAS: maxR } = values;
  if (minR !== undefined && maxR !== undefined && minR > maxR) problems.push(`SBC_SCALE_MIN_REPLICAS (${minR}) must not exceed SBC_SCALE_MAX_REPLICAS (${maxR})`);
  const health = healthPolicyOf(values);
  if (health) problems.push(...healthPolicyProblems(health).map((p) => `SBC_HEALTH_*: ${p}`));
  const natsCredentials = natsCredentialsOf(values, problems);
  const apiAuth = apiAuthOf(values, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  const parsed = values as ControlPlaneEnv;
  const policy: DispatcherPolicy = Object.freeze({
    sets: Object.freeze([
      { purpose: 'general' as const, setId: parsed.SBC_DS_SET_GENERAL, algorithm: Number(parsed.SBC_DS_ALG_GENERAL) },
      { purpose: 'rooms' as const, setId: parsed.SBC_DS_SET_ROOMS, algorithm: Number(parsed.SBC_DS_ALG_ROOMS) },
      { purpose: 'cascade' as const, setId: parsed.SBC_DS_SET_CASCADE, algorithm: 7 },
    ]),
  });
  return Object.freeze({
    ...parsed,
    natsCredentials,
    apiAuth,
    healthPolicy: health as HealthPolicy,
    SBC_INSTANCE_ID: parsed.SBC_INSTANCE_ID === '' ? hostname() : parsed.SBC_INSTANCE_ID,
    policy,
    managedSets: new Set([parsed.SBC_DS_SET_GENERAL, parsed.SBC_DS_SET_ROOMS, parsed.SBC_DS_SET_CASCADE]),
  });
}
