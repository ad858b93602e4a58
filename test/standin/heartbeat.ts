import { VERSION } from './api.js';
import type { EventBus } from './events.js';
import { upTime, type SessionStats } from './stats.js';
import { systemTemplates } from './templates.js';

/** What a HEARTBEAT reports, read from the running switch. */
export interface HeartbeatState {
  readonly uptimeUs: number;
  readonly stats: SessionStats;
  readonly maxSessions: number;
  readonly intervalMs: number;
  /** runtime.sps_total (`sessions-per-second`). */
  readonly sessionsPerSecondLimit: number;
  readonly idleCpuPercent: number;
}

/**
 * send_heartbeat(): HEARTBEAT with the captured header order, then the task's RE_SCHEDULE.
 * `Session-Per-Sec` is runtime.sps: the budget left in the current second (the limit, counted
 * down per new session; the core's timer resets it every second), so at rest it is the limit
 * itself (captures: 30 by default, 500 or 499 on the nodes set to 500). `Idle-CPU` is "%f".
 */
export function heartbeatEvents(bus: EventBus, h: HeartbeatState): void {
  const t = systemTemplates();
  const s = h.stats;
  const values: Record<string, string> = {
    'Event-Info': 'System Ready',
    'Up-Time': upTime(h.uptimeUs),
    'FreeSWITCH-Version': VERSION,
    'Uptime-msec': String(Math.floor(h.uptimeUs / 1000)),
    'Session-Count': String(s.count),
    'Max-Sessions': String(h.maxSessions),
    'Session-Per-Sec': String(Math.max(0, h.sessionsPerSecondLimit - s.perSecCurrent())),
    'Session-Per-Sec-Last': String(s.perSecLast()),
    'Session-Per-Sec-Max': String(s.perSecMax),
    'Session-Per-Sec-FiveMin': String(s.perSecFiveMin()),
    'Session-Since-Startup': String(s.sinceStartup),
    'Session-Peak-Max': String(s.peak),
    'Session-Peak-FiveMin': String(s.peakFiveMin()),
    'Idle-CPU': h.idleCpuPercent.toFixed(6),
  };
  bus.fire('HEARTBEAT', t.heartbeat.calling, t.heartbeat.names.map((n) => [n, values[n] ?? '']));
  // The heartbeat is a scheduler task; running it reschedules it (Task-Runtime: next run, epoch s).
  const next = String(Math.floor(Date.now() / 1000 + h.intervalMs / 1000));
  const task: Record<string, string> = { 'Task-ID': '1', 'Task-Desc': 'heartbeat', 'Task-Group': 'core', 'Task-Runtime': next };
  bus.fire('RE_SCHEDULE', t.reSchedule.calling, t.reSchedule.names.map((n) => [n, task[n] ?? '']));
}
