import { describe, expect, it } from 'vitest';
import { readFsEvent } from '../../../src/agent/fs-events.js';
import { channelCreated, channelDestroyed, NO_SESSIONS, recount, sessionCount, type Sessions } from '../../../src/agent/sessions.js';
import { jsonEvents } from './captures.js';

const A = 'aaaaaaaa-0000-4000-8000-000000000001';
const B = 'aaaaaaaa-0000-4000-8000-000000000002';
const C = 'aaaaaaaa-0000-4000-8000-000000000003';

describe('session tracker', () => {
  it('counts channels by Unique-ID through the real capture, agreeing with every FreeSWITCH HEARTBEAT', () => {
    let s: Sessions = NO_SESSIONS;
    const atHeartbeat: Array<[ours: number, theirs: number]> = [];
    let peak = 0;
    for (const headers of jsonEvents('json-events-calls')) {
      const input = readFsEvent(headers);
      if (input?.kind === 'channel-created') s = channelCreated(s, input.channelUuid);
      if (input?.kind === 'channel-destroyed') s = channelDestroyed(s, input.channelUuid);
      if (input?.kind === 'fs-heartbeat') atHeartbeat.push([sessionCount(s), input.sessions]);
      peak = Math.max(peak, sessionCount(s));
    }
    expect(atHeartbeat).toEqual([
      [3, 3],
      [2, 2],
      [0, 0],
    ]);
    // FreeSWITCH's own Session-Peak-Max in the last HEARTBEAT is 4.
    expect(peak).toBe(4);
    expect(sessionCount(s)).toBe(0);
  });

  it('ignores a repeated create and a destroy of a channel it never saw', () => {
    let s = channelCreated(channelCreated(NO_SESSIONS, A), A);
    expect(sessionCount(s)).toBe(1);
    s = channelDestroyed(s, B);
    expect(sessionCount(s)).toBe(1);
    s = channelDestroyed(channelDestroyed(s, A), A);
    expect(sessionCount(s)).toBe(0);
  });

  it('counts channels that were up before it started as untracked, and lets their destroys end them', () => {
    let s = recount(NO_SESSIONS, 2);
    expect(s).toEqual({ live: new Set(), untracked: 2 });
    s = channelCreated(s, A);
    s = channelDestroyed(s, B); // one of the two it never saw created
    expect(sessionCount(s)).toBe(2);
    s = channelDestroyed(s, C);
    s = channelDestroyed(s, C); // a third unknown destroy cannot go below zero untracked
    expect(s).toEqual({ live: new Set([A]), untracked: 0 });
  });

  it('a re-check above the tracked channels adds untracked ones', () => {
    const s = recount(channelCreated(NO_SESSIONS, A), 3);
    expect(s).toEqual({ live: new Set([A]), untracked: 2 });
  });

  it('a re-check below the tracked channels (missed destroys) makes the count right and stays right', () => {
    let s = channelCreated(channelCreated(channelCreated(NO_SESSIONS, A), B), C);
    s = recount(s, 1);
    expect(sessionCount(s)).toBe(1);
    s = channelDestroyed(s, B);
    expect(sessionCount(s)).toBe(0);
  });

  it('returns the same value when nothing changes, so callers can skip work', () => {
    const s = channelCreated(NO_SESSIONS, A);
    expect(recount(s, 1)).toBe(s);
    expect(channelCreated(s, A)).toBe(s);
    expect(channelDestroyed(NO_SESSIONS, A)).toBe(NO_SESSIONS);
  });
});
