/**
 * Room pins as Kamailio holds them in its `pins` htable (kamailio.cfg, lua/routing.lua):
 * key = room key, or "<room>-<shard>" for one shard of a cascaded room; value =
 * "<destination uri>;at=<ms>;by=<who>". routing.lua writes them when it places a room's
 * first caller; the control plane writes them (by=control) when its room table says so.
 * Both sides read the value the same way: this file is the TypeScript half of that format.
 */
export interface Pin {
  /** The htable key. */
  readonly key: string;
  /** Where callers of the room (or shard) go: a dispatcher destination URI. */
  readonly uri: string;
  /** When it was made, ms since the epoch (0 when unknown). */
  readonly at: number;
  /** The Kamailio that made it (SBC_KAMAILIO_ID), or `control`. */
  readonly by: string;
}

export const CONTROL_PLANE_PIN_AUTHOR = 'control';

/** Room keys: the room number, or "<domain>/<number>" (SBC_ROOM_SCOPE=domain). Conference names use the same. */
export const ROOM_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;
/** What routing.lua accepts as a pin's destination. */
const PIN_URI = /^sip:[A-Za-z0-9.\-[\]:]+$/;
const AUTHOR = /^[A-Za-z0-9._-]{1,64}$/;

export function isRoomKey(s: string): boolean {
  return ROOM_KEY_PATTERN.test(s);
}

/** The htable key of one shard of a cascaded room (routing.lua builds the same string). */
export function shardKey(room: string, shard: number): string {
  return `${room}-${shard}`;
}

export function pinValue(p: Pick<Pin, 'uri' | 'at' | 'by'>): string {
  return `${p.uri};at=${Math.max(0, Math.trunc(p.at))};by=${p.by}`;
}

/** Reads one htable item back; undefined for a value routing.lua would not follow either. */
export function parsePin(key: string, value: string | number): Pin | undefined {
  if (typeof value !== 'string' || key.length === 0 || key.length > 140) return undefined;
  const [uri, ...params] = value.split(';');
  if (uri === undefined || !PIN_URI.test(uri)) return undefined;
  let at = 0;
  let by = '';
  for (const p of params) {
    const [name, v] = p.split('=', 2);
    if (name === 'at' && v !== undefined && /^\d{1,16}$/.test(v)) at = Number(v);
    else if (name === 'by' && v !== undefined && AUTHOR.test(v)) by = v;
  }
  return { key, uri, at, by };
}

/** Same destination: what decides whether a Kamailio's pin must be rewritten. */
export function samePinTarget(a: Pin | undefined, b: Pin | undefined): boolean {
  return a !== undefined && b !== undefined && a.uri === b.uri;
}
