import type { FreeSwitchLink } from './esl.js';
import { parseCoreUuid, parseHostname, parseSofiaProfile, parseStatus, profileSipUri } from './fs-output.js';
import type { NodeFacts } from './messages.js';

export interface FactsQuery {
  readonly sipProfile: string;
  /** When set, the profile is not read. */
  readonly sipUriOverride: string | undefined;
  readonly timeoutMs: number;
  /**
   * Timeout of the first command only. While FreeSWITCH is unreachable the client keeps
   * unanswered commands queued and replays them on reconnect, so one long-lived probe
   * (rather than one per tick) both bounds that queue and answers the moment it is back.
   */
  readonly firstTimeoutMs: number;
}

export type FactsRead =
  | { readonly ok: true; readonly facts: NodeFacts; readonly sessions: number; readonly connection: number }
  | { readonly ok: false; readonly step: string; readonly detail: string };

/**
 * Reads who the FreeSWITCH is and how to reach it, one command at a time (each bounded).
 * `connection` is the link's connection count once the Core-UUID was read: if it changes
 * later, the socket was replaced and events may have been missed.
 */
export async function readNodeFacts(link: FreeSwitchLink, q: FactsQuery): Promise<FactsRead> {
  const uuidReply = await link.api('global_getvar core_uuid', q.firstTimeoutMs);
  if (!uuidReply.ok) return { ok: false, step: 'core_uuid', detail: uuidReply.error };
  const nodeId = parseCoreUuid(uuidReply.output);
  if (!nodeId) return { ok: false, step: 'core_uuid', detail: `not a UUID: ${JSON.stringify(uuidReply.output.slice(0, 80))}` };
  const connection = link.connections();

  const hostReply = await link.api('hostname', q.timeoutMs);
  if (!hostReply.ok) return { ok: false, step: 'hostname', detail: hostReply.error };
  const hostname = parseHostname(hostReply.output);
  if (!hostname) return { ok: false, step: 'hostname', detail: `unusable hostname ${JSON.stringify(hostReply.output.slice(0, 80))}` };

  let sipUri = q.sipUriOverride;
  if (sipUri === undefined) {
    const profileReply = await link.api(`sofia status profile ${q.sipProfile}`, q.timeoutMs);
    if (!profileReply.ok) return { ok: false, step: 'sofia profile', detail: profileReply.error };
    const fields = parseSofiaProfile(profileReply.output);
    if (!fields) return { ok: false, step: 'sofia profile', detail: `profile ${q.sipProfile}: ${profileReply.output.trim().slice(0, 80)}` };
    const uri = profileSipUri(fields);
    if (!uri.ok) return { ok: false, step: 'sofia profile', detail: uri.reason };
    sipUri = uri.uri;
  }

  const statusReply = await link.api('status', q.timeoutMs);
  if (!statusReply.ok) return { ok: false, step: 'status', detail: statusReply.error };
  const status = parseStatus(statusReply.output);
  if (!status) return { ok: false, step: 'status', detail: 'no session counts in status output' };

  return { ok: true, facts: { nodeId, sipUri, hostname, capacity: status.maxSessions }, sessions: status.sessions, connection };
}
