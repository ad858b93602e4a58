import { KindGuard, type TObject, type TSchema } from '@sinclair/typebox';
import type { TypeCheck } from '@sinclair/typebox/compiler';
import { channelChecker, type NodeChannel } from './calls.js';
import type { Decoded } from './decoded.js';
import type { MessageKind } from './limits.js';
import { checkers, type NodeConference, type NodeHeartbeat, type NodeJoined, type NodeLeft, type NodeRooms, type ReannounceRequest } from './schemas.js';

/** What each kind reads as, whatever version it arrived in. */
export interface MessageOf {
  joined: NodeJoined;
  heartbeat: NodeHeartbeat;
  left: NodeLeft;
  conference: NodeConference;
  rooms: NodeRooms;
  reannounce: ReannounceRequest;
  channel: NodeChannel;
}

/**
 * The versions this reader understands, per kind. A breaking change (a field removed,
 * renamed, retyped or newly required, a new value in a closed list) gets the next `v`; to
 * read it, add its strict checker here together with a conversion to the shape above.
 * Until then it is refused as `unsupported-version`, never guessed at.
 */
const READERS: { readonly [K in MessageKind]: ReadonlyMap<number, TypeCheck<TObject>> } = {
  joined: new Map([[1, checkers.joined]]),
  heartbeat: new Map([[1, checkers.heartbeat]]),
  left: new Map([[1, checkers.left]]),
  conference: new Map([[1, checkers.conference]]),
  rooms: new Map([[1, checkers.rooms]]),
  reannounce: new Map([[1, checkers.reannounce]]),
  channel: new Map([[1, channelChecker]]),
};

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `value` with only what `schema` declares, through nested objects and arrays: a field a
 * newer writer added is dropped here, at the edge, so nothing downstream (registry, logs,
 * Kamailio) ever holds it. Own properties only, so `__proto__` or `constructor` in the JSON
 * is just another unknown field. Anything else (literals, unions) is left for the strict
 * check that follows, which refuses whatever this did not remove: it fails closed.
 */
export function knownFields(schema: TSchema, value: unknown): unknown {
  if (KindGuard.IsObject(schema) && isObject(value)) {
    const out: Json = {};
    for (const [key, sub] of Object.entries(schema.properties)) {
      if (Object.hasOwn(value, key)) out[key] = knownFields(sub, value[key]);
    }
    return out;
  }
  if (KindGuard.IsArray(schema) && Array.isArray(value)) return value.map((item) => knownFields(schema.items, item));
  return value;
}

/** Reads one parsed payload of `kind`: its version, then its known fields, checked strictly. */
export function readMessage<K extends MessageKind>(kind: K, value: unknown): Decoded<MessageOf[K]> {
  if (!isObject(value)) return { ok: false, reason: 'schema', detail: '/: must be an object' };
  const v = value.v;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    return { ok: false, reason: 'schema', detail: '/v: must be a positive integer (the schema version)' };
  }
  const readers = READERS[kind];
  const checker = readers.get(v);
  if (!checker) {
    return { ok: false, reason: 'unsupported-version', detail: `${kind} v${v}; this reader reads v${[...readers.keys()].join(', v')}` };
  }
  const known = knownFields(checker.Schema(), value);
  if (checker.Check(known)) return { ok: true, value: known as MessageOf[K] };
  const first = checker.Errors(known).First();
  return { ok: false, reason: 'schema', detail: first ? `${first.path || '/'}: ${first.message}` : 'does not match schema' };
}
