import type { HeaderList } from './esl-frames.js';
import type { Calling } from './templates.js';

export interface Identity {
  coreUuid: string;
  hostname: string;
  ipv4: string;
  ipv6: string;
}

export interface FiredEvent {
  readonly name: string;
  readonly subclass: string | undefined;
  /** Complete header list, core headers first, values not yet URL-encoded. */
  readonly headers: HeaderList;
  readonly body: string | undefined;
}

export type EventSink = (ev: FiredEvent) => void;

/** Wall-clock microseconds, the unit of Event-Date-Timestamp and the channel times. */
export function nowUs(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `2026-11-21 07:47:44` in local time (Event-Date-Local, *_stamp variables, `show` tables). */
export function localStamp(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** strftime `%a, %d %b %Y %T %z` in local time, as the dialplan's RFC2822_DATE export. */
export function rfc2822(ms: number): string {
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const zone = `${off >= 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}${pad(Math.abs(off) % 60)}`;
  return `${DAYS[d.getDay()]}, ${pad(d.getDate())} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zone}`;
}

/**
 * The switch's event system: stamps the 13 core headers every event carries (order as captured)
 * and hands the event to every sink; each ESL connection filters and formats for itself.
 */
export class EventBus {
  private seq = 0;
  private readonly sinks = new Set<EventSink>();

  constructor(public identity: Identity) {}

  subscribe(sink: EventSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  /** New Core-UUID after a restart; Event-Sequence starts again. */
  reset(identity: Identity): void {
    this.identity = identity;
    this.seq = 0;
  }

  fire(name: string, calling: Calling, headers: HeaderList, opts: { body?: string; subclass?: string } = {}): FiredEvent {
    const us = nowUs();
    const ms = Math.floor(us / 1000);
    const id = this.identity;
    const core: HeaderList = [
      ['Event-Name', name],
      ['Core-UUID', id.coreUuid],
      ['FreeSWITCH-Hostname', id.hostname],
      ['FreeSWITCH-Switchname', id.hostname],
      ['FreeSWITCH-IPv4', id.ipv4],
      ['FreeSWITCH-IPv6', id.ipv6],
      ['Event-Date-Local', localStamp(ms)],
      ['Event-Date-GMT', new Date(ms).toUTCString()],
      ['Event-Date-Timestamp', String(us)],
      ['Event-Calling-File', calling[0]],
      ['Event-Calling-Function', calling[1]],
      ['Event-Calling-Line-Number', calling[2]],
      ['Event-Sequence', String(++this.seq)],
    ];
    // CUSTOM events carry Event-Subclass before Event-Name (conference::maintenance in the capture).
    if (opts.subclass !== undefined) core.unshift(['Event-Subclass', opts.subclass]);
    const ev: FiredEvent = { name, subclass: opts.subclass, headers: [...core, ...headers], body: opts.body };
    for (const sink of [...this.sinks]) sink(ev);
    return ev;
  }
}
