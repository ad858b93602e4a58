import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { parsePin, ROOM_KEY_PATTERN, type Pin } from '../core/pins.js';
import { subjects } from './subjects.js';

/**
 * Pins a Kamailio made, as routing.lua publishes them on `{prefix}.kamailio.pins`. A SIP
 * worker queues each pin it makes (htable `pinq`) and one timer process of that Kamailio
 * publishes the queue every 5 ms (ksr_pin_flush, the nats module's asynchronous
 * nats_publish), in batches:
 * `{"v":2,"by":"kam-a","pins":[{"room":"3000","key":"3000","uri":"sip:10.0.0.5:5060","at":1764650000123}]}`
 * (`shard` added to an item for one shard of a cascaded room; `key` is then "<room>-<shard>").
 * A Kamailio of the previous release sends one pin per message (v1:
 * `{"v":1,"room":"3000","key":"3000","uri":"sip:10.0.0.5:5060","by":"kam-a","at":1764650000123}`),
 * still read. Every Kamailio hears them (routing.lua ksr_nats_event) and so do the control
 * plane replicas (one of them, in their queue group), which record them in the room table.
 */
/** 32 items (PIN_BATCH_MAX in routing.lua) of at most ~520 bytes each, with a margin. */
export const MAX_PIN_MESSAGE_BYTES = 32 * 1024;
export const MAX_PINS_PER_MESSAGE = 32;

/** Where routing.lua publishes pins (kamailio.cfg's SBC_NATS_PINS_SUBSCRIPTION names the same subject). */
export const kamailioPinsSubject = (prefix: string): string => subjects(prefix).kamailioPins;

const PinFields = {
  room: Type.String({ pattern: ROOM_KEY_PATTERN.source }),
  key: Type.String({ minLength: 1, maxLength: 140, pattern: '^[A-Za-z0-9][A-Za-z0-9._/-]*$' }),
  shard: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  uri: Type.String({ minLength: 5, maxLength: 192 }),
  at: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
};
const By = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' });

export const KamailioPinMessage = Type.Object(
  { v: Type.Literal(1), ...PinFields, by: By },
  // routing.lua may add fields later; a reader keeps what it knows.
  { additionalProperties: true, $id: 'KamailioPinV1' },
);
export type KamailioPinMessage = Static<typeof KamailioPinMessage>;

export const KamailioPinBatch = Type.Object(
  {
    v: Type.Literal(2),
    by: By,
    pins: Type.Array(Type.Object(PinFields, { additionalProperties: true }), { minItems: 1, maxItems: MAX_PINS_PER_MESSAGE }),
  },
  { additionalProperties: true, $id: 'KamailioPinBatchV2' },
);
export type KamailioPinBatch = Static<typeof KamailioPinBatch>;

const checkV1 = TypeCompiler.Compile(KamailioPinMessage);
const checkV2 = TypeCompiler.Compile(KamailioPinBatch);
const decoder = new TextDecoder('utf-8', { fatal: true });

export type PinRejection = 'too-large' | 'json' | 'schema' | 'uri';
export interface HeardPin {
  readonly room: string;
  readonly pin: Pin;
  readonly shard?: number;
}
export type DecodedPins = { readonly ok: true; readonly pins: readonly HeardPin[] } | { readonly ok: false; readonly reason: PinRejection; readonly detail: string };

type Rejected = Extract<DecodedPins, { ok: false }>;

function firstError(check: typeof checkV1 | typeof checkV2, json: unknown): Rejected {
  const first = check.Errors(json).First();
  return { ok: false, reason: 'schema', detail: first ? `${first.path || '/'}: ${first.message}` : 'does not match schema' };
}

function heardPin(item: Static<typeof KamailioPinBatch>['pins'][number], by: string): HeardPin | Rejected {
  const pin = parsePin(item.key, `${item.uri};at=${item.at};by=${by}`);
  if (!pin || pin.uri !== item.uri) return { ok: false, reason: 'uri', detail: `not a destination URI routing.lua follows: ${item.uri.slice(0, 100)}` };
  const expectedKey = item.shard === undefined ? item.room : `${item.room}-${item.shard}`;
  if (item.key !== expectedKey) return { ok: false, reason: 'schema', detail: `/key: ${item.key} is not ${expectedKey}` };
  return { room: item.room, pin, ...(item.shard !== undefined ? { shard: item.shard } : {}) };
}

/** The pins of one message; one bad item refuses the whole message (it came from a broken or forged sender). */
export function decodePinMessage(data: Uint8Array): DecodedPins {
  if (data.byteLength > MAX_PIN_MESSAGE_BYTES) return { ok: false, reason: 'too-large', detail: `${data.byteLength} bytes > ${MAX_PIN_MESSAGE_BYTES}` };
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch (err) {
    return { ok: false, reason: 'json', detail: (err as Error).message };
  }
  let items: { item: Static<typeof KamailioPinBatch>['pins'][number]; by: string }[];
  if (checkV2.Check(json)) items = json.pins.map((item) => ({ item, by: json.by }));
  else if (checkV1.Check(json)) items = [{ item: json, by: json.by }];
  else return firstError((json as { v?: unknown } | null)?.v === 2 ? checkV2 : checkV1, json);
  const pins: HeardPin[] = [];
  for (const { item, by } of items) {
    const p = heardPin(item, by);
    if ('ok' in p) return p;
    pins.push(p);
  }
  return { ok: true, pins };
}
