/**
 * Pure, immutable count of the sessions (channels) up on one FreeSWITCH.
 *
 * Channels seen in CHANNEL_CREATE are tracked by Unique-ID, so a repeated or unknown
 * CHANNEL_DESTROY cannot push the count wrong. Channels that were already up when the
 * agent started counting (or whose events were lost with a dropped socket) are known only
 * as a number, `untracked`, taken from FreeSWITCH's own count; a CHANNEL_DESTROY for an
 * unknown Unique-ID is one of them ending.
 */
export interface Sessions {
  readonly live: ReadonlySet<string>;
  readonly untracked: number;
}

export const NO_SESSIONS: Sessions = Object.freeze({ live: new Set<string>(), untracked: 0 });

export function sessionCount(s: Sessions): number {
  return s.live.size + s.untracked;
}

export function channelCreated(s: Sessions, channelUuid: string): Sessions {
  if (s.live.has(channelUuid)) return s;
  return { live: new Set(s.live).add(channelUuid), untracked: s.untracked };
}

export function channelDestroyed(s: Sessions, channelUuid: string): Sessions {
  if (s.live.has(channelUuid)) {
    const live = new Set(s.live);
    live.delete(channelUuid);
    return { live, untracked: s.untracked };
  }
  return s.untracked > 0 ? { live: s.live, untracked: s.untracked - 1 } : s;
}

/**
 * Aligns the count with FreeSWITCH's own (`status`, HEARTBEAT Session-Count). When it is
 * below the channels we track, some CHANNEL_DESTROY events were missed and we cannot tell
 * which: every channel becomes untracked, so the count is right from here on.
 */
export function recount(s: Sessions, actual: number): Sessions {
  if (actual === sessionCount(s)) return s;
  if (actual >= s.live.size) return { live: s.live, untracked: actual - s.live.size };
  return { live: new Set<string>(), untracked: actual };
}
