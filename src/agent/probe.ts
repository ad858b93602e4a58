import { NODE_BLOCKERS, type NodeBlocker } from '../events/index.js';
import type { ApiReply, FreeSwitchLink } from './esl.js';
import { parseCoreUuid, parseInboundPaused, parseProfileState, profileSipUri } from './fs-output.js';

/**
 * The heartbeat probe: is FreeSWITCH there (its Core-UUID), and can it take calls, i.e. is the
 * SIP profile Kamailio sends to RUNNING and are inbound calls not paused. A node can answer
 * the first and fail the others; it then stays a member (its calls go on) with `blockers`.
 */

export function probeCommands(sipProfile: string) {
  return {
    coreUuid: 'global_getvar core_uuid',
    profile: `sofia status profile ${sipProfile}`,
    inboundPaused: 'fsctl pause_check inbound',
  } as const;
}

export interface ProbeReplies {
  readonly coreUuid: ApiReply;
  readonly profile: ApiReply;
  readonly inboundPaused: ApiReply;
}

export type ReadinessRead =
  | {
      readonly ok: true;
      readonly blockers: readonly NodeBlocker[];
      /** The address of a RUNNING profile; undefined while it is down. */
      readonly profileUri: { readonly ok: true; readonly uri: string } | { readonly ok: false; readonly reason: string } | undefined;
    }
  | { readonly ok: false; readonly step: 'sofia profile' | 'pause_check'; readonly detail: string };

const snippet = (text: string): string => JSON.stringify(text.trim().slice(0, 80));

/** In NODE_BLOCKERS order, so equal sets compare equal as arrays. */
export function blockerList(has: ReadonlySet<NodeBlocker>): readonly NodeBlocker[] {
  return NODE_BLOCKERS.filter((b) => has.has(b));
}

export function sameBlockers(a: readonly NodeBlocker[], b: readonly NodeBlocker[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Pure: blockers from the two readiness replies. No answer (timeout, socket gone) means the
 * probe failed: the agent cannot vouch for the node. An `-ERR` to `sofia status` means
 * mod_sofia is not loaded: no profile runs. Output of neither known shape is a failure too.
 */
export function readReadiness(profile: ApiReply, inboundPaused: ApiReply): ReadinessRead {
  const blockers = new Set<NodeBlocker>();
  let profileUri: Extract<ReadinessRead, { ok: true }>['profileUri'];
  if (profile.ok) {
    const state = parseProfileState(profile.output);
    if (!state) return { ok: false, step: 'sofia profile', detail: `unexpected output ${snippet(profile.output)}` };
    if (state.running) profileUri = profileSipUri(state.fields);
    else blockers.add('sip-profile-down');
  } else if (profile.answered) {
    blockers.add('sip-profile-down');
  } else {
    return { ok: false, step: 'sofia profile', detail: profile.error };
  }
  if (!inboundPaused.ok) return { ok: false, step: 'pause_check', detail: inboundPaused.error };
  const paused = parseInboundPaused(inboundPaused.output);
  if (paused === undefined) return { ok: false, step: 'pause_check', detail: `unexpected output ${snippet(inboundPaused.output)}` };
  if (paused) blockers.add('inbound-paused');
  return { ok: true, blockers: blockerList(blockers), profileUri };
}

export type ProbeRead =
  | {
      readonly ok: true;
      readonly coreUuid: string;
      readonly blockers: readonly NodeBlocker[];
      /** Where calls go now, when the probe read it (a RUNNING profile, no override). */
      readonly sipUri: string | undefined;
      /** A RUNNING profile whose address cannot be used; the last known one is kept. */
      readonly addressProblem: string | undefined;
    }
  | { readonly ok: false; readonly step: string; readonly detail: string };

/** Pure: the probe's three replies as one reading. `sipUriOverride` replaces the profile address. */
export function readProbe(replies: ProbeReplies, sipUriOverride: string | undefined): ProbeRead {
  if (!replies.coreUuid.ok) return { ok: false, step: 'core_uuid', detail: replies.coreUuid.error };
  const coreUuid = parseCoreUuid(replies.coreUuid.output);
  if (!coreUuid) return { ok: false, step: 'core_uuid', detail: `not a UUID: ${snippet(replies.coreUuid.output)}` };
  const readiness = readReadiness(replies.profile, replies.inboundPaused);
  if (!readiness.ok) return readiness;
  const uri = readiness.profileUri;
  return {
    ok: true,
    coreUuid,
    blockers: readiness.blockers,
    sipUri: sipUriOverride ?? (uri?.ok ? uri.uri : undefined),
    addressProblem: sipUriOverride === undefined && uri && !uri.ok ? uri.reason : undefined,
  };
}

/** Runs the three probe commands side by side (bgapi), so the probe takes one timeout at most. */
export async function probeFreeSwitch(
  link: FreeSwitchLink,
  q: { readonly sipProfile: string; readonly sipUriOverride: string | undefined; readonly timeoutMs: number },
): Promise<ProbeRead> {
  const cmd = probeCommands(q.sipProfile);
  const [coreUuid, profile, inboundPaused] = await Promise.all([
    link.api(cmd.coreUuid, q.timeoutMs),
    link.api(cmd.profile, q.timeoutMs),
    link.api(cmd.inboundPaused, q.timeoutMs),
  ]);
  return readProbe({ coreUuid, profile, inboundPaused }, q.sipUriOverride);
}
