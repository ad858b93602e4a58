import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { parsePin, ROOM_KEY_PATTERN, type Pin } from '../core/pins.js';
import { subjects } from './subjects.js';

/**
 * A pin a Kamailio made, as routing.lua publishes it on `{prefix}.kamailio.pins` (the nats
 * module's asynchronous nats_publish) when it places a room's first caller:
 * `{"v":1,"room":"3000","key":"3000","uri":"sip:10.0.0.5:5060","by":"kam-a","at":1764650000123}`
 * (`shard` added for one shard of a cascaded room; `key` is then "<room>-<shard>"). Every
 * Kamailio hears it (routing.lua ksr_nats_event) and so do the control plane replicas (one of
 * them, in their queue group), which record it in the room table.
 */
export const MAX_PIN_MESSAGE_BYTES = 1024;

/** Where routing.lua publishes pins (kamailio.cfg's SBC_NATS_PINS_SUBSCRIPTION names the same subject). */
export const kamailioPinsSubject = (prefix: string): string => subjects(prefix).kamailioPins;

export const KamailioPinMessage = Type.Object(
  {
    v: Type.Literal(1),
    room: Type.String({ pattern: ROOM_KEY_PATTERN.source }),
    key: Type.String({ minLength: 1, maxLength: 140, pattern: '^[A-Za-z0-9][A-Za-z0-9._/-]*$' }),
    shard: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    uri: Type.String({ minLength: 5, maxLength: 192 }),
    by: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }),
    at: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  },
  // routing.lua may add fields later; a reader keeps what it knows.
  { additionalProperties: true, $id: 'KamailioPinV1' },
);
export type KamailioPinMessage = Static<typeof KamailioPinMessage>;

const check = TypeCompiler.Compile(KamailioPinMessage);
const decoder = new TextDecoder('utf-8', { fatal: true });

export type PinRejection = 'too-large' | 'json' | 'schema' | 'uri';
export type DecodedPin = { readonly ok: true; readonly room: string; readonly pin: Pin; readonly shard?: number } | { readonly ok: false; readonly reason: PinRejection; readonly detail: string };

export function decodePinMessage(data: Uint8Array): DecodedPin {
  if (data.byteLength > MAX_PIN_MESSAGE_BYTES) return { ok: false, reason: 'too-large', detail: `${data.byteLength} bytes > ${MAX_PIN_MESSAGE_BYTES}` };
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
  const pin = parsePin(json.key, `${json.uri};at=${json.at};by=${json.by}`);
  if (!pin || pin.uri !== json.uri) return { ok: false, reason: 'uri', detail: `not a destination URI routing.lua follows: ${json.uri.slice(0, 100)}` };
  const expectedKey = json.shard === undefined ? json.room : `${json.room}-${json.shard}`;
  if (json.key !== expectedKey) return { ok: false, reason: 'schema', detail: `/key: ${json.key} is not ${expectedKey}` };
  return { ok: true, room: json.room, pin, ...(json.shard !== undefined ? { shard: json.shard } : {}) };
}
