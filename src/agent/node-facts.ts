import type { FreeSwitchLink } from './esl.js';
import { parseCoreUuid, parseHostname, parseStatus } from './fs-output.js';
import type { NodeFacts } from './messages.js';
import { probeCommands, readReadiness } from './probe.js';

export interface FactsQuery {
  readonly sipProfile: string;
  /** When set, the profile's address is not used (its state still is). */
  readonly sipUriOverride: string | undefined;
  readonly timeoutMs: number;
}

export type FactsRead =
  | { readonly ok: true; readonly facts: NodeFacts; readonly sessions: number; readonly connection: number }
  | { readonly ok: false; readonly step: string; readonly detail: string };

const snippet = (text: string): string => JSON.stringify(text.trim().slice(0, 80));

/**
 * Reads who the FreeSWITCH is, how to reach it and whether it can take calls: five commands
 * side by side (bgapi), so it takes one timeout at most, and the first failing step (in this
 * order) is the one reported. `connection` is the link's connection at the start: answers
 * can only come on that connection, as a closed one fails everything it was waiting for.
 */
export async function readNodeFacts(link: FreeSwitchLink, q: FactsQuery): Promise<FactsRead> {
  const connection = link.connections();
  const probe = probeCommands(q.sipProfile);
  const [uuidReply, hostReply, profileReply, pauseReply, statusReply] = await Promise.all([
    link.api(probe.coreUuid, q.timeoutMs),
    link.api('hostname', q.timeoutMs),
    link.api(probe.profile, q.timeoutMs),
    link.api(probe.inboundPaused, q.timeoutMs),
    link.api('status', q.timeoutMs),
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

  return {
    ok: true,
    facts: { nodeId, sipUri, hostname, capacity: status.maxSessions, blockers: readiness.blockers },
    sessions: status.sessions,
    connection,
  };
}
