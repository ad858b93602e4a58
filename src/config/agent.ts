import { ConfigError, int, oneOf, readEnv, str, url, type Parsed, type VarSpec } from './env.js';
import { MACHINE_ID_PATTERN } from '../events/schemas.js';
import { parseSipUri } from '../events/sipUri.js';
import { isValidSubjectPrefix } from '../events/subjects.js';
import type { NatsCredentials } from '../nats/auth.js';
import { natsAuthSpec, natsCredentialsOf } from './natsAuth.js';

/** An optional SIP URI: empty means "derive it from the SIP profile"; otherwise normalised. */
const optionalSipUri = (description: string): VarSpec<string> => ({
  description,
  default: '',
  parse(raw) {
    const uri = parseSipUri(raw);
    if (!uri.ok) throw new Error(uri.reason);
    return uri.value.uri;
  },
});

/**
 * Every variable the agent beside one FreeSWITCH reads. The profile name and the password
 * end up inside ESL command lines, so they are restricted to characters that cannot start
 * another command (no whitespace in the profile, no line breaks in the password).
 */
export const agentConfigSpec = {
  SBC_NATS_URL: url('NATS server the agent publishes membership to', 'nats://127.0.0.1:4222', ['nats:', 'tls:']),
  SBC_NATS_PREFIX: str('Subject prefix for every message', 'sbc', /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/),
  ...natsAuthSpec,
  SBC_FS_ESL_HOST: str('FreeSWITCH Event Socket host', '127.0.0.1', /^[A-Za-z0-9.:_-]{1,253}$/),
  SBC_FS_ESL_PORT: int('FreeSWITCH Event Socket port', 8021, 1, 65535),
  SBC_FS_ESL_PASSWORD: str('FreeSWITCH Event Socket password', 'ClueCon', /^[^\r\n]{1,256}$/),
  SBC_FS_SIP_PROFILE: str('Sofia SIP profile whose address Kamailio sends calls to', 'internal', /^[A-Za-z0-9_.-]{1,64}$/),
  SBC_AGENT_SIP_URI: optionalSipUri('SIP URI Kamailio sends calls to; empty derives it from the profile (SIP-IP, URL port, BIND-URL transport)'),
  SBC_MACHINE_ID: str(
    "Stable id of this machine, which an operator's cordon, drain or weight and the dispatcher priority belong to, so a FreeSWITCH restarted here keeps them; empty: the SIP URI's host:port (what the control plane derives for an agent that sends none)",
    '',
    new RegExp(MACHINE_ID_PATTERN),
  ),
  SBC_HEARTBEAT_MS: int('Heartbeat interval; FreeSWITCH is probed once per heartbeat', 2000, 100, 60_000),
  SBC_SESSION_RECHECK_MS: int('How often the session count from events is re-checked against FreeSWITCH', 30_000, 500, 3_600_000),
  SBC_ESL_TIMEOUT_MS: int('Timeout of each FreeSWITCH command', 2000, 100, 60_000),
  SBC_PROBES_BEFORE_LOST: int('Consecutive failed probes (event socket still open) before FreeSWITCH counts as lost and `left` (esl-lost) is published; raise it on boxes that stall under load. A closed event socket is `left` at once', 1, 1, 10),
  SBC_REANNOUNCE_MIN_INTERVAL_MS: int('At most one answer to reannounce requests per this interval; a request inside it is answered once when it ends, further ones are counted and dropped', 1000, 100, 60_000),
  SBC_CONFERENCE_MESSAGES: oneOf(
    'Whether the agent publishes `conference` and `rooms` messages (`on`, `off`); a control plane older than them counts each as unknown-kind, so set `off` until every control plane reads them. The link commands work either way',
    'on',
    ['on', 'off'],
  ),
  SBC_CALL_EVENTS: oneOf(
    'Whether the agent publishes a `channel` event per CHANNEL_CREATE, CHANNEL_ANSWER, CHANNEL_BRIDGE and CHANNEL_HANGUP_COMPLETE into the calls JetStream stream (`on`, `off`); held in a bounded buffer until the stream acknowledges them',
    'on',
    ['on', 'off'],
  ),
  SBC_CALL_EVENT_BUFFER: int('Call events held while NATS or the calls stream is unavailable; beyond it the oldest are dropped (counted, logged once per outage)', 10_000, 100, 1_000_000),
  SBC_CALL_EVENT_IN_FLIGHT: int('Call events published at once, each awaiting its PubAck (at most SBC_CALL_EVENT_BUFFER)', 64, 1, 1024),
  SBC_CALL_EVENT_ACK_TIMEOUT_MS: int('How long a call event waits for the stream\'s PubAck before it counts as failed and is sent again', 5000, 100, 60_000),
  SBC_LOG_LEVEL: oneOf('pino log level', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
};

export type AgentEnv = Parsed<typeof agentConfigSpec>;

export interface AgentConfig {
  readonly natsUrl: string;
  readonly natsCredentials: NatsCredentials | undefined;
  readonly natsPrefix: string;
  readonly esl: { readonly host: string; readonly port: number; readonly password: string };
  readonly sipProfile: string;
  /** Set only when SBC_AGENT_SIP_URI overrides the address read from the profile. */
  readonly sipUriOverride: string | undefined;
  /** Set only when SBC_MACHINE_ID names the machine; else messages carry none (see machine.ts). */
  readonly machineId: string | undefined;
  readonly heartbeatMs: number;
  readonly sessionRecheckMs: number;
  readonly eslTimeoutMs: number;
  readonly failedProbesBeforeLost: number;
  readonly reannounceMinIntervalMs: number;
  /** SBC_CONFERENCE_MESSAGES: publish conference and rooms messages. */
  readonly conferenceMessages: boolean;
  /** SBC_CALL_EVENTS and its SBC_CALL_EVENT_* bounds. */
  readonly callEvents: { readonly enabled: boolean; readonly bufferSize: number; readonly maxInFlight: number; readonly ackTimeoutMs: number };
  readonly logLevel: AgentEnv['SBC_LOG_LEVEL'];
}

export function loadAgentConfig(env: Record<string, string | undefined> = process.env): AgentConfig {
  const { values, problems } = readEnv(agentConfigSpec, env);
  if (values.SBC_NATS_PREFIX !== undefined && !isValidSubjectPrefix(values.SBC_NATS_PREFIX)) {
    problems.push(`SBC_NATS_PREFIX=${JSON.stringify(values.SBC_NATS_PREFIX)} is not a valid subject prefix (at most 64 characters)`);
  }
  // The probe of one heartbeat must finish before the next heartbeat is due, or heartbeats
  // arrive late and the control plane counts them as missed.
  const { SBC_ESL_TIMEOUT_MS: eslTimeout, SBC_HEARTBEAT_MS: heartbeat } = values;
  if (eslTimeout !== undefined && heartbeat !== undefined && eslTimeout > heartbeat) {
    problems.push(`SBC_ESL_TIMEOUT_MS (${eslTimeout}) must not exceed SBC_HEARTBEAT_MS (${heartbeat})`);
  }
  const { SBC_CALL_EVENT_BUFFER: buffer, SBC_CALL_EVENT_IN_FLIGHT: inFlight } = values;
  if (buffer !== undefined && inFlight !== undefined && inFlight > buffer) {
    problems.push(`SBC_CALL_EVENT_IN_FLIGHT (${inFlight}) must not exceed SBC_CALL_EVENT_BUFFER (${buffer})`);
  }
  const natsCredentials = natsCredentialsOf(values, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  const parsed = values as AgentEnv;
  return Object.freeze({
    natsUrl: parsed.SBC_NATS_URL,
    natsCredentials,
    natsPrefix: parsed.SBC_NATS_PREFIX,
    esl: Object.freeze({ host: parsed.SBC_FS_ESL_HOST, port: parsed.SBC_FS_ESL_PORT, password: parsed.SBC_FS_ESL_PASSWORD }),
    sipProfile: parsed.SBC_FS_SIP_PROFILE,
    sipUriOverride: parsed.SBC_AGENT_SIP_URI === '' ? undefined : parsed.SBC_AGENT_SIP_URI,
    machineId: parsed.SBC_MACHINE_ID === '' ? undefined : parsed.SBC_MACHINE_ID,
    heartbeatMs: parsed.SBC_HEARTBEAT_MS,
    sessionRecheckMs: parsed.SBC_SESSION_RECHECK_MS,
    eslTimeoutMs: parsed.SBC_ESL_TIMEOUT_MS,
    failedProbesBeforeLost: parsed.SBC_PROBES_BEFORE_LOST,
    reannounceMinIntervalMs: parsed.SBC_REANNOUNCE_MIN_INTERVAL_MS,
    conferenceMessages: parsed.SBC_CONFERENCE_MESSAGES === 'on',
    callEvents: Object.freeze({
      enabled: parsed.SBC_CALL_EVENTS === 'on',
      bufferSize: parsed.SBC_CALL_EVENT_BUFFER,
      maxInFlight: parsed.SBC_CALL_EVENT_IN_FLIGHT,
      ackTimeoutMs: parsed.SBC_CALL_EVENT_ACK_TIMEOUT_MS,
    }),
    logLevel: parsed.SBC_LOG_LEVEL,
  });
}
