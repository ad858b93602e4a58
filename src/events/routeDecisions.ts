import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { DECISION_ID_PATTERN } from './calls.js';
import type { Subjects } from './subjects.js';

/**
 * Kamailio's routing decisions (call correlation), as routing.lua publishes them on
 * `{prefix}.calls.kamailio.{kamailioId}.route` into the calls stream: each SIP worker queues
 * every attempt of every initial INVITE (htable natsq) and one timer process sends the queue
 * every 5 ms in batches (ksr_nats_flush):
 *
 *   {"v":1,"by":"kam-a","decisions":[{"id":"kam-a-692e1f3c-0a1b2-1f2e-001","attempt":1,
 *     "atUs":1764650000123456,"callId":"1-5894@127.0.0.1","kind":"room","pin":"made",
 *     "room":"3000","key":"3000","set":2,"alg":2,"dst":"sip:10.0.0.5:5060"}]}
 *
 * One decision id per INVITE (X-SBC-Decision on the relayed request, so the FreeSWITCH leg
 * carries it); attempt 1 is the first destination or the refusal, each failover one more,
 * with `after` the reply that caused it; `result` is a reply Kamailio sent the caller itself
 * (no destination, a refused link, the last failure). Kamailio cannot set Nats-Msg-Id, so a
 * re-sent copy is dropped by the store (id = `<decision>:<attempt>`), not by the stream.
 */
export const MAX_DECISIONS_PER_MESSAGE = 32;
/** 32 items of at most ~2.2 KB (a 256-byte Call-ID escaped as \u00XX is 1.5 KB), with margin. */
export const MAX_DECISION_MESSAGE_BYTES = 128 * 1024;

export const DECISION_KINDS = ['general', 'room', 'cascade', 'link'] as const;
export const DECISION_PINS = ['none', 'hit', 'made', 'moved'] as const;
const SipStatus = Type.Integer({ minimum: 0, maximum: 699 });

export const RouteAttempt = Type.Object(
  {
    id: Type.String({ pattern: DECISION_ID_PATTERN }),
    attempt: Type.Integer({ minimum: 1, maximum: 1000 }),
    atUs: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Kamailio wall clock, µs since the epoch' }),
    callId: Type.String({ minLength: 1, maxLength: 1024, description: 'SIP Call-ID (routing.lua sends at most 256 bytes of it)' }),
    kind: Type.Union(DECISION_KINDS.map((k) => Type.Literal(k))),
    pin: Type.Union(DECISION_PINS.map((p) => Type.Literal(p))),
    room: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    key: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    set: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
    alg: Type.Optional(Type.Integer({ minimum: 0, maximum: 13 })),
    dst: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    result: Type.Optional(SipStatus),
    after: Type.Optional(Type.Object({ status: SipStatus, timeout: Type.Optional(Type.Boolean()) }, { additionalProperties: true })),
    link: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  // routing.lua may add fields later; a reader keeps what it knows.
  { additionalProperties: true },
);
export type RouteAttempt = Static<typeof RouteAttempt>;

export const KamailioDecisionBatch = Type.Object(
  {
    v: Type.Literal(1),
    by: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
    decisions: Type.Array(RouteAttempt, { minItems: 1, maxItems: MAX_DECISIONS_PER_MESSAGE }),
  },
  { additionalProperties: true, $id: 'KamailioDecisionBatchV1' },
);
export type KamailioDecisionBatch = Static<typeof KamailioDecisionBatch>;

const check = TypeCompiler.Compile(KamailioDecisionBatch);
const decoder = new TextDecoder('utf-8', { fatal: true });

export type DecisionRejection = 'subject' | 'too-large' | 'json' | 'schema' | 'kamailio-id-mismatch';
export type DecodedDecisions =
  | { readonly ok: true; readonly kamailioId: string; readonly attempts: readonly RouteAttempt[] }
  | { readonly ok: false; readonly reason: DecisionRejection; readonly detail: string };

/** The store's id of one attempt: a re-sent copy has the same one. */
export const routeAttemptId = (a: Pick<RouteAttempt, 'id' | 'attempt'>): string => `${a.id}:${a.attempt}`;

/**
 * One message from the route subject of Kamailio `<id>`: its subject must name the same
 * Kamailio as its `by` (a Kamailio's NATS user may publish any route subject, so the subject
 * alone proves nothing; together they refuse a mislabelled message).
 */
export function decodeDecisionMessage(subjects: Subjects, subject: string, data: Uint8Array): DecodedDecisions {
  const fromSubject = subjects.parseKamailioRouteSubject(subject);
  if (fromSubject === undefined) return { ok: false, reason: 'subject', detail: `not a route subject: ${subject.slice(0, 200)}` };
  if (data.byteLength > MAX_DECISION_MESSAGE_BYTES) return { ok: false, reason: 'too-large', detail: `${data.byteLength} bytes > ${MAX_DECISION_MESSAGE_BYTES}` };
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch (err) {
    return { ok: false, reason: 'json', detail: (err as Error).message };
  }
  if (!check.Check(json)) {
    const first = check.Errors(json).First();
    return { ok: false, reason: 'schema', detail: first ? `${first.path || '/'}: ${first.message}` : 'does not match schema' };
  }
  if (json.by !== fromSubject) return { ok: false, reason: 'kamailio-id-mismatch', detail: `by ${json.by} on the subject of ${fromSubject}` };
  const prefix = `${json.by}-`;
  const foreign = json.decisions.find((d) => !d.id.startsWith(prefix));
  if (foreign) return { ok: false, reason: 'kamailio-id-mismatch', detail: `decision ${foreign.id} is not one of ${json.by}'s` };
  return { ok: true, kamailioId: json.by, attempts: json.decisions };
}
