import { localStamp } from './events.js';

/**
 * The clock placeholders every leg's event templates share, from its µs instants (0: not
 * happened yet): `<moment>Us` (FreeSWITCH's `*_time`, µs), `<moment>S` (`*_epoch`, s),
 * `<moment>Stamp` (`*_stamp`, local time; it exists only for a moment that happened, except
 * created and hangup, which the templates show always), and the durations `duration*`,
 * `bill*` (from answer) and `wait*` (to answer) in s, ms and µs.
 */
export interface LegInstants {
  readonly createdUs: number;
  readonly answeredUs: number;
  readonly hangupUs: number;
  /** Legs that bridge have the bridge's moment too. */
  readonly bridgedUs?: number;
}

const s = (t: number) => String(Math.floor(t / 1e6));
const ms = (t: number) => String(Math.floor(t / 1000));
const stamp = (t: number) => localStamp(Math.floor(t / 1000));

/** The value of clock placeholder `key`, or `none` when `key` is not one (the caller looks further). */
export function legClock(key: string, t: LegInstants): { readonly value: string | undefined } | 'none' {
  const dur = t.hangupUs - t.createdUs;
  const bill = t.answeredUs ? t.hangupUs - t.answeredUs : 0;
  const wait = t.answeredUs ? t.answeredUs - t.createdUs : 0;
  const v = (value: string | undefined) => ({ value });
  switch (key) {
    case 'createdUs': return v(String(t.createdUs));
    case 'createdS': return v(s(t.createdUs));
    case 'createdStamp': return v(stamp(t.createdUs));
    case 'answeredUs': return v(String(t.answeredUs));
    case 'answeredS': return v(s(t.answeredUs));
    case 'answeredStamp': return v(t.answeredUs ? stamp(t.answeredUs) : undefined);
    case 'hangupUs': return v(String(t.hangupUs));
    case 'hangupS': return v(s(t.hangupUs));
    case 'hangupStamp': return v(stamp(t.hangupUs));
    case 'durationS': return v(s(dur));
    case 'durationMs': return v(ms(dur));
    case 'durationUs': return v(String(dur));
    case 'billS': return v(s(bill));
    case 'billMs': return v(ms(bill));
    case 'billUs': return v(String(bill));
    case 'waitS': return v(s(wait));
    case 'waitMs': return v(ms(wait));
    case 'waitUs': return v(String(wait));
  }
  if (t.bridgedUs === undefined) return 'none';
  switch (key) {
    case 'bridgedUs': return v(String(t.bridgedUs));
    case 'bridgedS': return v(s(t.bridgedUs));
    case 'bridgedStamp': return v(t.bridgedUs ? stamp(t.bridgedUs) : undefined);
    default: return 'none';
  }
}
