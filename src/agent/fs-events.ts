import type { EventHeaders } from './esl-frames.js';
import { parseCoreUuid } from './fs-output.js';
import { heartbeatIntervalMs, heartbeatLoad, isHeartbeatReschedule } from './node-load.js';

export type { EventHeaders } from './esl-frames.js';

/**
 * The FreeSWITCH events the agent subscribes to. API fires once per api command run anywhere
 * (fs_cli, another ESL client, the console), after the command returned; the agent uses it to
 * probe at once when someone pauses calls or stops the SIP profile, instead of a tick later.
 * CHANNEL_ANSWER, CHANNEL_BRIDGE and CHANNEL_HANGUP_COMPLETE (and CHANNEL_CREATE again) are the
 * channel machine's (channels.ts). RE_SCHEDULE follows every HEARTBEAT (its scheduler task) and
 * is the only event that tells FreeSWITCH's heartbeat interval; others (check_ip, once a
 * minute) are ignored.
 */
export const SUBSCRIBED_EVENTS = [
  'CHANNEL_CREATE',
  'CHANNEL_DESTROY',
  'HEARTBEAT',
  'RE_SCHEDULE',
  'SHUTDOWN',
  'API',
  'CHANNEL_ANSWER',
  'CHANNEL_BRIDGE',
  'CHANNEL_HANGUP_COMPLETE',
] as const;
export type SubscribedEvent = (typeof SUBSCRIBED_EVENTS)[number];
/** CUSTOM subclasses subscribed to as well: the conference machine's (conferences.ts). */
export const SUBSCRIBED_SUBCLASSES = ['conference::maintenance'] as const;

/** What one FreeSWITCH event tells the agent. Every event names the process that sent it. */
export type FsEventInput =
  | { readonly kind: 'channel-created'; readonly coreUuid: string; readonly channelUuid: string }
  | { readonly kind: 'channel-destroyed'; readonly coreUuid: string; readonly channelUuid: string }
  | {
      readonly kind: 'fs-heartbeat';
      readonly coreUuid: string;
      readonly sessions: number;
      readonly maxSessions: number;
      /** `Idle-CPU`, `Session-Per-Sec-Last` (node-load.ts); absent when missing or malformed. */
      readonly idleCpuPercent?: number;
      readonly sessionsPerSecond?: number;
      /** When it reached the agent: stamped by the shell, which has the clock (this reader has none). */
      readonly receivedAt?: number;
    }
  /** The heartbeat task was rescheduled: FreeSWITCH's event-heartbeat-interval. */
  | { readonly kind: 'fs-heartbeat-rescheduled'; readonly coreUuid: string; readonly intervalMs: number }
  | { readonly kind: 'fs-shutdown'; readonly coreUuid: string }
  /** An api command that may have changed whether the node can take calls (`fsctl pause inbound`). */
  | { readonly kind: 'fs-readiness-command'; readonly coreUuid: string; readonly command: string };

/** A subscribed event that is fine but says nothing the agent needs (most API events). */
export const IRRELEVANT: { readonly kind: 'irrelevant' } = Object.freeze({ kind: 'irrelevant' });

function header(headers: EventHeaders, name: string): string | undefined {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
}

function count(headers: EventHeaders, name: string): number | undefined {
  const v = header(headers, name);
  return v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : undefined;
}

/**
 * Commands that change what the probe reads: `fsctl pause|resume [inbound|outbound]` (not
 * pause_check, which the probe itself runs), `sofia profile <name> stop|start|restart|...` (not
 * `sofia status ...`, also the probe's), and loading or unloading mod_sofia.
 */
export function changesReadiness(command: string, argument: string): boolean {
  const arg = argument.trim().toLowerCase();
  switch (command.toLowerCase()) {
    case 'fsctl':
      return /^(pause|resume)(\s|$)/.test(arg);
    case 'sofia':
      return /^profile\s+\S+\s+\S/.test(arg);
    case 'load':
    case 'unload':
    case 'reload':
      return /^(-f\s+)?mod_sofia\b/.test(arg);
    default:
      return false;
  }
}

/**
 * Pure: turns one event into an input for the membership machine; IRRELEVANT for an event of
 * no interest; undefined for an event that lacks what it needs (no Core-UUID, no Unique-ID),
 * which the caller counts and drops.
 */
export function readFsEvent(headers: EventHeaders): FsEventInput | typeof IRRELEVANT | undefined {
  const coreUuid = parseCoreUuid(header(headers, 'Core-UUID') ?? '');
  if (!coreUuid) return undefined;
  switch (header(headers, 'Event-Name')) {
    case 'CHANNEL_CREATE':
    case 'CHANNEL_DESTROY': {
      const channelUuid = header(headers, 'Unique-ID');
      if (!channelUuid) return undefined;
      const kind = header(headers, 'Event-Name') === 'CHANNEL_CREATE' ? 'channel-created' : 'channel-destroyed';
      return { kind, coreUuid, channelUuid };
    }
    case 'HEARTBEAT': {
      // FreeSWITCH's own session counter: a free re-check every HEARTBEAT (20 s by default).
      const sessions = count(headers, 'Session-Count');
      const maxSessions = count(headers, 'Max-Sessions');
      if (sessions === undefined || maxSessions === undefined) return undefined;
      return { kind: 'fs-heartbeat', coreUuid, sessions, maxSessions, ...heartbeatLoad(headers) };
    }
    case 'RE_SCHEDULE': {
      if (!isHeartbeatReschedule(headers)) return IRRELEVANT;
      const intervalMs = heartbeatIntervalMs(headers);
      return intervalMs === undefined ? undefined : { kind: 'fs-heartbeat-rescheduled', coreUuid, intervalMs };
    }
    case 'SHUTDOWN':
      return { kind: 'fs-shutdown', coreUuid };
    case 'CUSTOM':
      // conference::maintenance: the conference machine's, read by readConferenceEvent.
      return IRRELEVANT;
    case 'CHANNEL_ANSWER':
    case 'CHANNEL_BRIDGE':
    case 'CHANNEL_HANGUP_COMPLETE':
      // The channel machine's, read by readChannelEvent.
      return IRRELEVANT;
    case 'API': {
      const command = header(headers, 'API-Command');
      if (command === undefined) return undefined;
      const argument = header(headers, 'API-Command-Argument') ?? '';
      if (!changesReadiness(command, argument)) return IRRELEVANT;
      return { kind: 'fs-readiness-command', coreUuid, command: `${command} ${argument}`.trim() };
    }
    default:
      return undefined;
  }
}
