import { parseCoreUuid } from './fs-output.js';

/** The FreeSWITCH events the agent subscribes to. */
export const SUBSCRIBED_EVENTS = ['CHANNEL_CREATE', 'CHANNEL_DESTROY', 'HEARTBEAT', 'SHUTDOWN'] as const;
export type SubscribedEvent = (typeof SUBSCRIBED_EVENTS)[number];

/** What one FreeSWITCH event tells the agent. Every event names the process that sent it. */
export type FsEventInput =
  | { readonly kind: 'channel-created'; readonly coreUuid: string; readonly channelUuid: string }
  | { readonly kind: 'channel-destroyed'; readonly coreUuid: string; readonly channelUuid: string }
  | { readonly kind: 'fs-heartbeat'; readonly coreUuid: string; readonly sessions: number; readonly maxSessions: number }
  | { readonly kind: 'fs-shutdown'; readonly coreUuid: string };

/** The headers of one event, as esl-lite hands them over (a JSON event's object). */
export type EventHeaders = Readonly<Record<string, unknown>>;

function header(headers: EventHeaders, name: string): string | undefined {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
}

function count(headers: EventHeaders, name: string): number | undefined {
  const v = header(headers, name);
  return v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : undefined;
}

/**
 * Pure: turns one event into an input for the membership machine; undefined for an event
 * that lacks what it needs (no Core-UUID, no Unique-ID), which the caller counts and drops.
 */
export function readFsEvent(headers: EventHeaders): FsEventInput | undefined {
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
      return { kind: 'fs-heartbeat', coreUuid, sessions, maxSessions };
    }
    case 'SHUTDOWN':
      return { kind: 'fs-shutdown', coreUuid };
    default:
      return undefined;
  }
}
