import { parseSipUri } from '../events/sipUri.js';

/**
 * Pure parsers for the outputs of the FreeSWITCH api commands the agent runs. Each takes
 * the command's output exactly as FreeSWITCH wrote it (some end with a newline, some do
 * not) and returns undefined when the text is not what that command prints, e.g. an
 * `-ERR ...` line.
 */

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** `global_getvar core_uuid`: exactly the 36 characters, no newline. Lower-cased: node ids are. */
export function parseCoreUuid(output: string): string | undefined {
  const text = output.trim();
  return UUID.test(text) ? text.toLowerCase() : undefined;
}

/** Same shape as the `hostname` field of the node message schema. */
const HOSTNAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

/** `hostname`: the bare name, no newline (`vm`). */
export function parseHostname(output: string): string | undefined {
  const text = output.trim();
  return HOSTNAME.test(text) ? text : undefined;
}

export interface CoreStatus {
  /** Sessions up now: the first number of `N session(s) - peak P, last 5min F`. */
  readonly sessions: number;
  /** `N session(s) max`: FreeSWITCH's max-sessions, the node's capacity. */
  readonly maxSessions: number;
}

/** `status`: the current session count and max-sessions, from their own lines. */
export function parseStatus(output: string): CoreStatus | undefined {
  const current = /^(\d+) session\(s\) - peak /m.exec(output);
  const max = /^(\d+) session\(s\) max\s*$/m.exec(output);
  if (!current?.[1] || !max?.[1]) return undefined;
  return { sessions: Number(current[1]), maxSessions: Number(max[1]) };
}

/** Everything `status` says that the status command reports. */
export interface CoreReport extends CoreStatus {
  /** From `UP 0 years, 0 days, 0 hours, 0 minutes, 5 seconds, 164 milliseconds, 749 microseconds`. */
  readonly uptimeMs: number;
  /** `... is ready`; `is not ready` while new sessions are paused in both directions. */
  readonly ready: boolean;
  readonly sessionsSinceStartup: number;
  /** The all-time peak: the second number of `N session(s) - peak P, last 5min F`. */
  readonly sessionsPeak: number;
}

// switch_core.c: a year is 365 days; each unit is singular when it is 1.
const UP_LINE = /^UP (\d+) years?, (\d+) days?, (\d+) hours?, (\d+) minutes?, (\d+) seconds?, (\d+) milliseconds?, (\d+) microseconds?$/m;

/** `status` in full: the counts parseStatus reads, the uptime, readiness, sessions since start-up and the peak. */
export function parseCoreReport(output: string): CoreReport | undefined {
  const counts = parseStatus(output);
  const up = UP_LINE.exec(output);
  const ready = /^FreeSWITCH \(Version [^)]*\) is (not )?ready$/m.exec(output);
  const since = /^(\d+) session\(s\) since startup$/m.exec(output);
  const peak = /^\d+ session\(s\) - peak (\d+),/m.exec(output);
  if (!counts || !up || !ready || !since?.[1] || !peak?.[1]) return undefined;
  const [years, days, hours, minutes, seconds, millis] = up.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const uptimeMs = ((((years * 365 + days) * 24 + hours) * 60 + minutes) * 60 + seconds) * 1000 + millis;
  return { ...counts, uptimeMs, ready: ready[1] === undefined, sessionsSinceStartup: Number(since[1]), sessionsPeak: Number(peak[1]) };
}

/** `version`: `FreeSWITCH Version 1.11.2-release+git~...~64bit (git 3f13ad1 ...)`; the version token. */
export function parseVersion(output: string): string | undefined {
  const m = /^FreeSWITCH Version (\S{1,128})/.exec(output.trim());
  return m?.[1];
}

/**
 * `sofia status profile <name>`: `KEY<spaces>\tVALUE` lines between rules of `=`. Keys keep
 * their inner spaces (`CODECS IN`). An unknown profile prints `Invalid Profile!` instead.
 */
export function parseSofiaProfile(output: string): ReadonlyMap<string, string> | undefined {
  const fields = new Map<string, string>();
  for (const line of output.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab <= 0) continue;
    fields.set(line.slice(0, tab).trim(), line.slice(tab + 1).trim());
  }
  return fields.has('SIP-IP') && fields.has('URL') ? fields : undefined;
}

/**
 * `sofia status profile <name>` as a profile state. mod_sofia prints the fields only for a
 * profile that is RUNNING (sofia_glue_find_profile() skips one that is not, and one being
 * restarted), and `Invalid Profile!` otherwise: stopped (`sofia profile <name> stop`), never
 * started (a bind failure), or not configured. The fields block has no state line of its own.
 */
export type ProfileState = { readonly running: true; readonly fields: ReadonlyMap<string, string> } | { readonly running: false };

export function parseProfileState(output: string): ProfileState | undefined {
  if (output.trim() === 'Invalid Profile!') return { running: false };
  const fields = parseSofiaProfile(output);
  return fields ? { running: true, fields } : undefined;
}

/**
 * `fsctl pause_check inbound`: `true` or `false`, no newline. True for `fsctl pause inbound`
 * and for `fsctl pause` (both directions); either way every INVITE gets 503.
 */
export function parseInboundPaused(output: string): boolean | undefined {
  const text = output.trim();
  return text === 'true' ? true : text === 'false' ? false : undefined;
}

export type ProfileUriResult = { ok: true; uri: string } | { ok: false; reason: string };

/**
 * Where Kamailio should send calls for this profile: the profile's SIP-IP, the port of its
 * contact URL (`sip:mod_sofia@127.0.0.1:5080`) and a transport from BIND-URL
 * (`...;transport=udp,tcp`). UDP is SIP's default, so a profile that listens on UDP gets
 * no transport parameter; a TCP- or TLS-only profile must say so or Kamailio would use UDP.
 */
export function profileSipUri(fields: ReadonlyMap<string, string>): ProfileUriResult {
  const ip = fields.get('SIP-IP');
  const url = fields.get('URL');
  if (!ip || !url) return { ok: false, reason: 'profile has no SIP-IP or URL' };
  const portMatch = /@(?:\[[^\]]*\]|[^:;>]*)(?::(\d{1,5}))?/.exec(url);
  if (!portMatch) return { ok: false, reason: `cannot read a port from URL ${JSON.stringify(url)}` };
  const port = portMatch[1] ?? '5060';
  const transports = (/;transport=([A-Za-z,]+)/.exec(fields.get('BIND-URL') ?? '')?.[1] ?? 'udp')
    .toLowerCase()
    .split(',');
  const transport = transports.includes('udp') ? undefined : transports.find((t) => t === 'tcp' || t === 'tls' || t === 'sctp');
  const host = ip.includes(':') ? `[${ip}]` : ip;
  const parsed = parseSipUri(`sip:${host}:${port}${transport ? `;transport=${transport}` : ''}`);
  return parsed.ok ? { ok: true, uri: parsed.value.uri } : { ok: false, reason: parsed.reason };
}
