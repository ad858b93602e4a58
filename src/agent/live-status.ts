import type { StatusResult } from '../events/index.js';
import type { ApiReply, FreeSwitchLink } from './esl.js';
import { parseCoreReport, parseCoreUuid, parseInboundPaused, parseVersion } from './fs-output.js';
import { probeCommands, readReadiness } from './probe.js';

/**
 * The `status` command's reading: what FreeSWITCH says about itself right now, read through
 * ESL when a request arrives (not what the agent last announced). Five commands side by side
 * (bgapi), so one reading takes one ESL timeout at most.
 */
export function liveStatusCommands(sipProfile: string) {
  const probe = probeCommands(sipProfile);
  return { coreUuid: probe.coreUuid, version: 'version', status: 'status', profile: probe.profile, inboundPaused: probe.inboundPaused } as const;
}

export type LiveStatusReplies = { readonly [K in keyof ReturnType<typeof liveStatusCommands>]: ApiReply };

export type LiveStatusRead =
  | { readonly ok: true; readonly result: StatusResult }
  | { readonly ok: false; readonly code: 'timeout' | 'not-ready' | 'freeswitch-error'; readonly detail: string };

const snippet = (text: string): string => JSON.stringify(text.trim().slice(0, 80));

/**
 * Pure: one reading from the five replies. A command that got no answer makes the reading
 * fail as `timeout` when FreeSWITCH was connected but silent, `not-ready` when there was no
 * connection; an answer the parsers cannot read is `freeswitch-error`. The profile's state
 * and address, and the blockers, are read as the heartbeat probe reads them.
 */
export function readLiveStatus(replies: LiveStatusReplies, sipProfile: string, readAt: number): LiveStatusRead {
  const unanswered = Object.entries(replies).filter((e): e is [string, Extract<ApiReply, { ok: false }>] => !e[1].ok && !e[1].answered);
  if (unanswered.length > 0) {
    const timedOut = unanswered.filter(([, r]) => r.timedOut === true);
    const [step, reply] = (timedOut[0] ?? unanswered[0]) as [string, Extract<ApiReply, { ok: false }>];
    return { ok: false, code: timedOut.length > 0 ? 'timeout' : 'not-ready', detail: `${step}: ${reply.error}` };
  }
  const failed = (step: string, reply: ApiReply) => ({
    ok: false as const,
    code: 'freeswitch-error' as const,
    detail: `${step}: unexpected output ${snippet(reply.ok ? reply.output : reply.error)}`,
  });
  const coreUuid = replies.coreUuid.ok ? parseCoreUuid(replies.coreUuid.output) : undefined;
  if (!coreUuid) return failed('core_uuid', replies.coreUuid);
  const version = replies.version.ok ? parseVersion(replies.version.output) : undefined;
  if (!version) return failed('version', replies.version);
  const core = replies.status.ok ? parseCoreReport(replies.status.output) : undefined;
  if (!core) return failed('status', replies.status);
  const readiness = readReadiness(replies.profile, replies.inboundPaused);
  if (!readiness.ok) return { ok: false, code: 'freeswitch-error', detail: `${readiness.step}: ${readiness.detail}` };
  // readReadiness has read pause_check already; this cannot fail after it succeeded.
  const inboundPaused = replies.inboundPaused.ok && parseInboundPaused(replies.inboundPaused.output) === true;
  const running = !readiness.blockers.includes('sip-profile-down');
  const sipUri = readiness.profileUri?.ok ? readiness.profileUri.uri : undefined;
  return {
    ok: true,
    result: {
      coreUuid,
      version,
      uptimeMs: core.uptimeMs,
      ready: core.ready,
      sessions: core.sessions,
      maxSessions: core.maxSessions,
      sessionsSinceStartup: core.sessionsSinceStartup,
      sessionsPeak: core.sessionsPeak,
      sipProfile: { name: sipProfile, running, ...(sipUri ? { sipUri } : {}) },
      inboundPaused,
      blockers: [...readiness.blockers],
      readAt,
    },
  };
}

/** Runs the five commands side by side on the link; never rejects. */
export async function readLiveStatusFrom(
  link: FreeSwitchLink,
  q: { readonly sipProfile: string; readonly timeoutMs: number; readonly now: () => number },
): Promise<LiveStatusRead> {
  const cmd = liveStatusCommands(q.sipProfile);
  const [coreUuid, version, status, profile, inboundPaused] = await Promise.all(
    [cmd.coreUuid, cmd.version, cmd.status, cmd.profile, cmd.inboundPaused].map((c) =>
      link.api(c, q.timeoutMs).catch((err: unknown): ApiReply => ({ ok: false, answered: false, error: String(err) })),
    ),
  ) as [ApiReply, ApiReply, ApiReply, ApiReply, ApiReply];
  return readLiveStatus({ coreUuid, version, status, profile, inboundPaused }, q.sipProfile, q.now());
}
