import type { LoadFacts } from '../events/schemas.js';
import type { EventHeaders } from './esl-frames.js';

/**
 * FreeSWITCH's load as the agent reports it in `joined` and `heartbeat` (events/schemas.ts
 * LoadFacts documents each field), for the control plane's health sensors. Every field is
 * absent while the agent does not know it: 0 is a real reading (no idle CPU, no new session),
 * so it never stands in for "unknown". `sessionsPerSecond` is HEARTBEAT `Session-Per-Sec-Last`,
 * never `Session-Per-Sec` (the budget left in the current second) nor `Session-Per-Sec-Max`.
 */
export type NodeLoad = LoadFacts;

/** What the HEARTBEAT events of one FreeSWITCH life (Core-UUID) said last. */
export interface HeartbeatFacts {
  readonly coreUuid: string;
  readonly idleCpuPercent?: number;
  readonly sessionsPerSecond?: number;
  readonly heartbeatEventAt?: number;
  readonly heartbeatEventIntervalMs?: number;
}

/** The schema's bounds (src/events/schemas.ts); a reading outside them is left out. */
const MAX_RATE = 1_000_000;
const MIN_INTERVAL_MS = 1000;
const MAX_INTERVAL_MS = 3_600_000;

function header(headers: EventHeaders, name: string): string | undefined {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** `Idle-CPU` is printed with "%f" (switch_core.c send_heartbeat): `99.866667`. */
export function parseIdleCpu(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,3}(\.\d{1,9})?$/.test(value)) return undefined;
  const n = Number(value);
  return n <= 100 ? n : undefined;
}

function parseRate(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,7}$/.test(value)) return undefined;
  const n = Number(value);
  return n <= MAX_RATE ? n : undefined;
}

/** The load facts one HEARTBEAT carries; a header that is missing or malformed is left out. */
export function heartbeatLoad(headers: EventHeaders): { idleCpuPercent?: number; sessionsPerSecond?: number } {
  const idleCpuPercent = parseIdleCpu(header(headers, 'Idle-CPU'));
  const sessionsPerSecond = parseRate(header(headers, 'Session-Per-Sec-Last'));
  return {
    ...(idleCpuPercent === undefined ? {} : { idleCpuPercent }),
    ...(sessionsPerSecond === undefined ? {} : { sessionsPerSecond }),
  };
}

/** The RE_SCHEDULE the core's heartbeat task fires after each run (Task-Desc heartbeat, group core). */
export function isHeartbeatReschedule(headers: EventHeaders): boolean {
  return header(headers, 'Task-Desc') === 'heartbeat' && header(headers, 'Task-Group') === 'core';
}

/**
 * The HEARTBEAT itself does not say how often it comes. Its task does: heartbeat_callback()
 * sets the next run to `now + event-heartbeat-interval` in whole epoch seconds, and the
 * scheduler's RE_SCHEDULE that follows carries it as `Task-Runtime`; that event's own
 * `Event-Date-Timestamp` (µs) falls in the same second (the captures: 20 s by default, 1 s on
 * the node configured so). Undefined for anything else or outside the schema's bounds.
 */
export function heartbeatIntervalMs(headers: EventHeaders): number | undefined {
  const runtime = header(headers, 'Task-Runtime');
  const at = header(headers, 'Event-Date-Timestamp');
  if (!isHeartbeatReschedule(headers) || runtime === undefined || at === undefined) return undefined;
  if (!/^\d{1,12}$/.test(runtime) || !/^\d{1,18}$/.test(at)) return undefined;
  const ms = (Number(runtime) - Math.floor(Number(at) / 1_000_000)) * 1000;
  return ms >= MIN_INTERVAL_MS && ms <= MAX_INTERVAL_MS ? ms : undefined;
}

/**
 * `fsctl sps` with no argument: ctl_function() (mod_commands.c) calls SCSC_SPS with 0, which
 * changes nothing and returns runtime.sps_total, and writes `+OK sessions per second: %d\n`. No
 * capture holds this answer; the format is the source's.
 */
export function parseSessionsPerSecondLimit(output: string): number | undefined {
  const m = /^\+OK sessions per second: (\d{1,7})\n?$/.exec(output);
  if (!m) return undefined;
  const n = Number(m[1]);
  return n >= 1 && n <= MAX_RATE ? n : undefined;
}

export const SPS_COMMAND = 'fsctl sps';

/** Pure: the facts after one more HEARTBEAT of `coreUuid`; a new Core-UUID starts afresh. */
export function heartbeatSeen(
  prev: HeartbeatFacts | undefined,
  coreUuid: string,
  beat: { idleCpuPercent?: number; sessionsPerSecond?: number },
  receivedAt: number | undefined,
): HeartbeatFacts {
  // The interval belongs to the process, not to one beat: it stays until its next RE_SCHEDULE.
  const interval = prev?.coreUuid === coreUuid && prev.heartbeatEventIntervalMs !== undefined ? { heartbeatEventIntervalMs: prev.heartbeatEventIntervalMs } : {};
  return { coreUuid, ...beat, ...(receivedAt === undefined ? {} : { heartbeatEventAt: receivedAt }), ...interval };
}

/** Pure: the facts after the heartbeat task of `coreUuid` was rescheduled `intervalMs` ahead. */
export function heartbeatRescheduled(prev: HeartbeatFacts | undefined, coreUuid: string, intervalMs: number): HeartbeatFacts {
  return prev?.coreUuid === coreUuid ? { ...prev, heartbeatEventIntervalMs: intervalMs } : { coreUuid, heartbeatEventIntervalMs: intervalMs };
}

/** The load fields of node `nodeId`: the heartbeat facts only if they are that node's. */
export function loadOf(nodeId: string, facts: HeartbeatFacts | undefined): NodeLoad {
  if (!facts || facts.coreUuid !== nodeId) return {};
  const { coreUuid: _id, ...load } = facts;
  return load;
}
