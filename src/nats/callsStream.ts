import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { subjects } from '../events/subjects.js';

/**
 * The JetStream stream that keeps every call event (`{prefix}.calls.>`: the agents' channel
 * events, Kamailio's routing decisions) for the control plane to consume durably.
 *
 * Spoken over the JetStream API's plain request/reply subjects (`$JS.API.STREAM.*`) and the
 * publish-with-ack protocol (a request to the stream's subject; the server answers a PubAck):
 * both are a JSON request and a JSON answer, small enough to carry here behind a narrow port
 * (JetStreamRequests) that the agent's publisher and its tests share without a NATS client.
 * Consuming is @nats-io/jetstream's (callsConsumer.ts): pull requests, heartbeats and
 * redelivery are not worth writing again.
 */

/** JetStream's duplicate window: a message id seen again within it is acknowledged, not stored. */
export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
/** How long call events are kept. */
export const DEFAULT_CALLS_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
/** Each JetStream API request is bounded by this. */
export const JS_API_TIMEOUT_MS = 5000;

const NS_PER_MS = 1_000_000;

/** The stream's name: the prefix with `.` as `_`, upper case, `_CALLS` (sbc -> SBC_CALLS). */
export function callsStreamName(prefix: string): string {
  subjects(prefix); // validates the prefix
  return `${prefix.replace(/\./g, '_').toUpperCase()}_CALLS`;
}

/** The part of a JetStream StreamConfig this project sets (the API's JSON field names). */
export interface CallsStreamConfig {
  readonly name: string;
  readonly subjects: readonly string[];
  readonly retention: 'limits';
  readonly storage: 'file';
  readonly discard: 'old';
  readonly num_replicas: number;
  /** Nanoseconds. */
  readonly max_age: number;
  /** Nanoseconds. */
  readonly duplicate_window: number;
}

export interface CallsStreamOptions {
  readonly maxAgeMs?: number;
  readonly duplicateWindowMs?: number;
  readonly replicas?: number;
}

export function callsStreamConfig(prefix: string, opts: CallsStreamOptions = {}): CallsStreamConfig {
  const maxAgeMs = opts.maxAgeMs ?? DEFAULT_CALLS_MAX_AGE_MS;
  const duplicateWindowMs = opts.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
  if (!Number.isSafeInteger(maxAgeMs) || maxAgeMs <= 0) throw new Error(`maxAgeMs must be a positive integer, got ${maxAgeMs}`);
  if (!Number.isSafeInteger(duplicateWindowMs) || duplicateWindowMs <= 0) throw new Error(`duplicateWindowMs must be a positive integer, got ${duplicateWindowMs}`);
  // The server refuses a duplicate window longer than the age limit.
  if (duplicateWindowMs > maxAgeMs) throw new Error(`duplicateWindowMs (${duplicateWindowMs}) must not exceed maxAgeMs (${maxAgeMs})`);
  return Object.freeze({
    name: callsStreamName(prefix),
    subjects: Object.freeze([subjects(prefix).allCalls]),
    retention: 'limits',
    storage: 'file',
    discard: 'old',
    num_replicas: opts.replicas ?? 1,
    max_age: maxAgeMs * NS_PER_MS,
    duplicate_window: duplicateWindowMs * NS_PER_MS,
  });
}

/** What the stream helpers need of NATS: one request with optional headers, answered or rejected. */
export interface JetStreamRequests {
  request(subject: string, data: Uint8Array, opts: { readonly timeoutMs: number; readonly headers?: Readonly<Record<string, string>> }): Promise<Uint8Array>;
}

export function natsJetStreamRequests(nc: NatsConnection): JetStreamRequests {
  return {
    async request(subject, data, opts) {
      const h = opts.headers ? natsHeaders() : undefined;
      if (h && opts.headers) for (const [k, v] of Object.entries(opts.headers)) h.set(k, v);
      const msg = await nc.request(subject, data, { timeout: opts.timeoutMs, ...(h ? { headers: h } : {}) });
      return msg.data;
    },
  };
}

/** An error answer of the JetStream API (`{"error":{"code":404,"err_code":10059,...}}`). */
export class JetStreamApiError extends Error {
  override readonly name = 'JetStreamApiError';
  constructor(
    readonly subject: string,
    readonly code: number,
    readonly errCode: number,
    description: string,
  ) {
    super(`${subject}: ${code} ${description} (err_code ${errCode})`);
  }
}

/** JetStream's err_code for "stream not found". */
export const JS_STREAM_NOT_FOUND = 10059;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Json = Record<string, unknown>;

/** Reads a JetStream answer: the JSON object, or a JetStreamApiError for its `error`. */
export function readJsAnswer(subject: string, data: Uint8Array): Json {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch (err) {
    throw new Error(`${subject}: the answer is not JSON`, { cause: err });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${subject}: the answer is not a JSON object`);
  const error = (json as Json).error;
  if (typeof error === 'object' && error !== null) {
    const e = error as Json;
    throw new JetStreamApiError(subject, Number(e.code ?? 0), Number(e.err_code ?? 0), typeof e.description === 'string' ? e.description : 'error');
  }
  return json as Json;
}

async function api(js: JetStreamRequests, subject: string, body: object | undefined): Promise<Json> {
  const data = body === undefined ? new Uint8Array(0) : encoder.encode(JSON.stringify(body));
  return readJsAnswer(subject, await js.request(subject, data, { timeoutMs: JS_API_TIMEOUT_MS }));
}

/** The fields of `wanted` whose value the server's config differs in (what an update would change). */
export function streamConfigDrift(wanted: CallsStreamConfig, actual: Readonly<Json>): string[] {
  const drift: string[] = [];
  for (const [key, value] of Object.entries(wanted)) {
    if (JSON.stringify(actual[key]) !== JSON.stringify(value)) drift.push(key);
  }
  return drift;
}

export type EnsureResult = { readonly action: 'created' | 'updated' | 'unchanged'; readonly name: string; readonly changed: readonly string[] };

/**
 * Creates the calls stream, or brings its settings to these: idempotent, for every control-plane
 * replica to call at start (two creating at once: the loser finds it and compares). Settings the
 * operator added that this does not set (placement, limits on bytes) are kept on update.
 */
export async function ensureCallsStream(js: JetStreamRequests, prefix: string, opts: CallsStreamOptions = {}): Promise<EnsureResult> {
  const wanted = callsStreamConfig(prefix, opts);
  const name = wanted.name;
  let info: Json;
  try {
    info = await api(js, `$JS.API.STREAM.INFO.${name}`, undefined);
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.errCode !== JS_STREAM_NOT_FOUND) throw err;
    try {
      await api(js, `$JS.API.STREAM.CREATE.${name}`, wanted);
      return { action: 'created', name, changed: Object.keys(wanted) };
    } catch (createErr) {
      // Another replica created it in between (10058: stream name already in use): compare with it.
      if (!(createErr instanceof JetStreamApiError) || createErr.errCode !== 10058) throw createErr;
      info = await api(js, `$JS.API.STREAM.INFO.${name}`, undefined);
    }
  }
  const actual = (info.config ?? {}) as Json;
  const changed = streamConfigDrift(wanted, actual);
  if (changed.length === 0) return { action: 'unchanged', name, changed };
  await api(js, `$JS.API.STREAM.UPDATE.${name}`, { ...actual, ...wanted });
  return { action: 'updated', name, changed };
}

/** The number of messages the stream holds (for tests and status). */
export async function callsStreamMessages(js: JetStreamRequests, prefix: string): Promise<number> {
  const name = callsStreamName(prefix);
  const info = await api(js, `$JS.API.STREAM.INFO.${name}`, undefined);
  const state = (info.state ?? {}) as Json;
  return Number(state.messages ?? 0);
}
