import type { ApiReply, FreeSwitchLink } from './esl.js';
import { parseCoreUuid, parseHostname, parseStatus } from './fs-output.js';
import type { NodeFacts } from './messages.js';
import { parseSessionsPerSecondLimit, SPS_COMMAND } from './node-load.js';
import { probeCommands, readReadiness } from './probe.js';

export interface FactsQuery {
  readonly sipProfile: string;
  /** When set, the profile's address is not used (its state still is). */
  readonly sipUriOverride: string | undefined;
  readonly timeoutMs: number;
}

export type FactsRead =
  | {
      readonly ok: true;
      readonly facts: NodeFacts;
      readonly sessions: number;
      readonly connection: number;
      /** Why `fsctl sps` gave no limit (the facts then have none); the node is announced anyway. */
      readonly sessionLimitProblem?: string;
    }
  | { readonly ok: false; readonly step: string; readonly detail: string };

const snippet = (text: string): string => JSON.stringify(text.trim().slice(0, 80));

/** The limit in an `fsctl sps` reply, or why there is none. */
export function readSessionLimit(reply: ApiReply): { readonly limit: number } | { readonly problem: string } {
  if (!reply.ok) return { problem: reply.error };
  const limit = parseSessionsPerSecondLimit(reply.output);
  return limit === undefined ? { problem: `unexpected answer ${snippet(reply.output)}` } : { limit };
}

/**
 * Reads who the FreeSWITCH is, how to reach it and whether it can take calls: six commands
 * side by side (bgapi), so it takes one timeout at most, and the first failing step (in this
 * order) is the one reported. The sessions-per-second limit is only a load fact: without it
 * the node is still announced, with the field left out. `connection` is the link's connection at the start: answers
 * can only come on that connection, as a closed one fails everything it was waiting for.
 */
export async function readNodeFacts(link: FreeSwitchLink, q: FactsQuery): Promise<FactsRead> {
  const connection = link.connections();
  const probe = probeCommands(q.sipProfile);
  const [uuidReply, hostReply, profileReply, pauseReply, statusReply, spsReply] = await Promise.all([
    link.api(probe.coreUuid, q.timeoutMs),
    link.api('hostname', q.timeoutMs),
    link.api(probe.profile, q.timeoutMs),
    link.api(probe.inboundPaused, q.timeoutMs),
    link.api('status', q.timeoutMs),
    link.api(SPS_COMMAND, q.timeoutMs),
  ]);

  if (!uuidReply.ok) return { ok: false, step: 'core_uuid', detail: uuidReply.error };
  const nodeId = parseCoreUuid(uuidReply.output);
  if (!nodeId) return { ok: false, step: 'core_uuid', detail: `not a UUID: ${snippet(uuidReply.output)}` };

  if (!hostReply.ok) return { ok: false, step: 'hostname', detail: hostReply.error };
  const hostname = parseHostname(hostReply.output);
  if (!hostname) return { ok: false, step: 'hostname', detail: `unusable hostname ${snippet(hostReply.output)}` };

  const readiness = readReadiness(profileReply, pauseReply);
  if (!readiness.ok) return readiness;
  let sipUri = q.sipUriOverride;
  if (sipUri === undefined) {
    // Without an override the profile is the only source of the address: a node whose
    // profile is down at start cannot be announced until it runs.
    const uri = readiness.profileUri;
    if (!uri) return { ok: false, step: 'sofia profile', detail: `profile ${q.sipProfile} is not running` };
    if (!uri.ok) return { ok: false, step: 'sofia profile', detail: uri.reason };
    sipUri = uri.uri;
  }

  if (!statusReply.ok) return { ok: false, step: 'status', detail: statusReply.error };
  const status = parseStatus(statusReply.output);
  if (!status) return { ok: false, step: 'status', detail: 'no session counts in status output' };

  const sps = readSessionLimit(spsReply);
  return {
    ok: true,
    facts: {
      nodeId,
      sipUri,
      hostname,
      capacity: status.maxSessions,
      blockers: readiness.blockers,
      ...('limit' in sps ? { sessionsPerSecondLimit: sps.limit } : {}),
    },
    sessions: status.sessions,
    connection,
    ...('problem' in sps ? { sessionLimitProblem: sps.problem } : {}),
  };
}
