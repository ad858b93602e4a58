import { isIPv4, isIPv6 } from 'node:net';

/**
 * A SIP URI that Kamailio may route to. Deliberately narrow: scheme, host, port and
 * transport only. No user part, no other parameters, no headers: a destination is written
 * verbatim into Kamailio's dispatcher table, so anything looser could smuggle attributes
 * or extra rows in.
 */
export interface SipDestination {
  readonly scheme: 'sip' | 'sips';
  readonly host: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp' | 'tls' | 'sctp' | undefined;
  /** Normalised text form, e.g. `sip:10.0.0.5:5080;transport=tcp`. */
  readonly uri: string;
}

export type SipUriResult = { ok: true; value: SipDestination } | { ok: false; reason: string };

/** The `destination` column of Kamailio's dispatcher table is VARCHAR(192). */
export const MAX_SIP_URI_LENGTH = 192;

const HOSTNAME_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const SHAPE = /^(sips?):(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?(?:;transport=(udp|tcp|tls|sctp))?$/;

function validHostname(host: string): boolean {
  if (host.length > 253 || host.endsWith('.')) return false;
  const labels = host.split('.');
  // An all-numeric dotted name must be a real IPv4 address, never a "hostname".
  if (labels.every((l) => /^[0-9]+$/.test(l))) return false;
  return labels.every((l) => HOSTNAME_LABEL.test(l));
}

export function parseSipUri(input: unknown): SipUriResult {
  if (typeof input !== 'string') return { ok: false, reason: 'SIP URI must be a string' };
  if (input.length === 0) return { ok: false, reason: 'SIP URI is empty' };
  if (input.length > MAX_SIP_URI_LENGTH) {
    return { ok: false, reason: `SIP URI is longer than ${MAX_SIP_URI_LENGTH} characters` };
  }
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f"'`\\<>]/.test(input)) {
    return { ok: false, reason: 'SIP URI contains whitespace, quotes, angle brackets or control characters' };
  }
  const m = SHAPE.exec(input);
  if (!m) {
    return {
      ok: false,
      reason: 'SIP URI must be sip:host[:port][;transport=udp|tcp|tls|sctp] with no user part or other parameters',
    };
  }
  const scheme = m[1] as 'sip' | 'sips';
  const rawHost = m[2] as string;
  const portText = m[3];
  const transport = m[4] as SipDestination['transport'];
  let host: string;
  if (rawHost.startsWith('[')) {
    const inner = rawHost.slice(1, -1);
    if (!isIPv6(inner)) return { ok: false, reason: `invalid IPv6 address ${rawHost}` };
    host = `[${inner.toLowerCase()}]`;
  } else if (isIPv4(rawHost)) {
    host = rawHost;
  } else if (validHostname(rawHost)) {
    host = rawHost.toLowerCase();
  } else {
    return { ok: false, reason: `invalid host ${JSON.stringify(rawHost)}` };
  }
  const defaultPort = scheme === 'sips' || transport === 'tls' ? 5061 : 5060;
  const port = portText === undefined ? defaultPort : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return { ok: false, reason: `port ${portText ?? ''} is outside 1-65535` };
  }
  if (scheme === 'sips' && transport !== undefined && transport !== 'tcp' && transport !== 'tls') {
    return { ok: false, reason: 'sips: requires a reliable transport' };
  }
  const uri = `${scheme}:${host}:${port}${transport ? `;transport=${transport}` : ''}`;
  return { ok: true, value: { scheme, host, port, transport, uri } };
}
