const FIVE_MIN = 5 * 60_000;

/**
 * The session counters HEARTBEAT and `status` report (switch_core_session's runtime counters).
 * Samples are kept in time order for five minutes, so pruning only ever drops from the front.
 */
export class SessionStats {
  sinceStartup = 0;
  count = 0;
  peak = 0;
  perSecMax = 0;
  private created: number[] = []; // creation times within the last five minutes
  private peaks: Array<[at: number, count: number]> = [];
  private perSecPeaks: Array<[at: number, rate: number]> = [];

  /** A new session; returns its number since start-up (the channel's session_id). */
  sessionCreated(): number {
    const now = Date.now();
    this.prune(now);
    this.sinceStartup++;
    this.count++;
    this.peak = Math.max(this.peak, this.count);
    this.created.push(now);
    const rate = this.perSecLast(now);
    this.perSecMax = Math.max(this.perSecMax, rate);
    this.perSecPeaks.push([now, rate]);
    this.peaks.push([now, this.count]);
    return this.sinceStartup;
  }

  ended(): void {
    this.count = Math.max(0, this.count - 1);
  }

  perSecLast(now = Date.now()): number {
    let n = 0;
    for (let i = this.created.length - 1; i >= 0 && (this.created[i] ?? 0) > now - 1000; i--) n++;
    return n;
  }

  /** Sessions created in the current whole second (the core's timer counts per second from its tick). */
  perSecCurrent(now = Date.now()): number {
    const from = Math.floor(now / 1000) * 1000;
    let n = 0;
    for (let i = this.created.length - 1; i >= 0 && (this.created[i] ?? 0) >= from; i--) n++;
    return n;
  }

  peakFiveMin(now = Date.now()): number {
    this.prune(now);
    return this.peaks.reduce((m, [, c]) => Math.max(m, c), this.count);
  }

  perSecFiveMin(now = Date.now()): number {
    this.prune(now);
    return this.perSecPeaks.reduce((m, [, r]) => Math.max(m, r), 0);
  }

  private prune(now: number): void {
    const old = now - FIVE_MIN;
    const drop = <T>(list: T[], at: (x: T) => number) => {
      let i = 0;
      while (i < list.length && at(list[i]!) <= old) i++;
      if (i > 0) list.splice(0, i);
    };
    drop(this.created, (t) => t);
    drop(this.peaks, ([t]) => t);
    drop(this.perSecPeaks, ([t]) => t);
  }
}

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;

/** `0 years, 0 days, 0 hours, 1 minute, 0 seconds, 400 milliseconds, 293 microseconds` */
export function upTime(us: number): string {
  const totalS = Math.floor(us / 1e6);
  const days = Math.floor(totalS / 86400);
  return [
    plural(Math.floor(days / 365), 'year'),
    plural(days % 365, 'day'),
    plural(Math.floor(totalS / 3600) % 24, 'hour'),
    plural(Math.floor(totalS / 60) % 60, 'minute'),
    plural(totalS % 60, 'second'),
    plural(Math.floor(us / 1000) % 1000, 'millisecond'),
    plural(us % 1000, 'microsecond'),
  ].join(', ');
}
