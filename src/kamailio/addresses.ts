import { parseSipUri } from '../events/sipUri.js';
import type { KamailioSocket } from '../ports/kamailioRpc.js';

/**
 * Kamailio's own SIP addresses, which must never become dispatcher destinations: a node
 * announced at `sip:127.0.0.1:5060` (Kamailio's listen address) was accepted once, and calls
 * looped through Kamailio. Learned from each Kamailio's `corex.list_sockets` (listen and
 * advertised addresses) and from the host of its JSON-RPC URL when it listens on a wildcard
 * address, plus any the operator lists (a VIP or NAT address Kamailio cannot know).
 */
export class KamailioAddressBook {
  private readonly learned = new Map<string, ReadonlySet<string>>();
  /** Per Kamailio, the SIP URI pool nodes reach it at (its first UDP socket; advertised host first). */
  private readonly sipEntry = new Map<string, string>();
  private readonly configured: ReadonlySet<string>;

  constructor(configured: readonly string[] = []) {
    this.configured = new Set(configured.map((u) => endpointKey(u)).filter((k): k is string => k !== undefined));
  }

  /** Replaces what one Kamailio (named by its RPC URL) is known to listen on. */
  learn(kamailio: string, sockets: readonly KamailioSocket[]): void {
    const rpcHost = hostOfUrl(kamailio);
    const keys = new Set<string>();
    for (const s of sockets) {
      for (const address of [...s.addresses, ...(s.advertise ? [s.advertise] : [])]) {
        const wildcard = address === '0.0.0.0' || address === '::' || address === '[::]';
        const host = wildcard ? rpcHost : address;
        if (host) keys.add(`${bracket(host.toLowerCase())}:${s.port}`);
      }
    }
    this.learned.set(kamailio, keys);
    const udp = sockets.find((s) => s.proto.toLowerCase() === 'udp');
    const host = udp && (udp.advertise ?? udp.addresses.find((a) => a !== '0.0.0.0' && a !== '::' && a !== '[::]') ?? rpcHost);
    if (udp && host) this.sipEntry.set(kamailio, `sip:${bracket(host)}:${udp.port}`);
    else this.sipEntry.delete(kamailio);
  }

  /** Where a pool node reaches one Kamailio over SIP (a cascade link's `via`), once its sockets were read. */
  sipUriOf(kamailio: string): string | undefined {
    return this.sipEntry.get(kamailio);
  }

  knows(kamailio: string): boolean {
    return this.learned.has(kamailio);
  }

  /** Whether this SIP URI (any scheme or transport) points at a Kamailio. */
  has(sipUri: string): boolean {
    const key = endpointKey(sipUri);
    if (key === undefined) return false;
    if (this.configured.has(key)) return true;
    for (const keys of this.learned.values()) if (keys.has(key)) return true;
    return false;
  }

  /** Every known address, for logs and the API. */
  all(): string[] {
    const out = new Set(this.configured);
    for (const keys of this.learned.values()) for (const k of keys) out.add(k);
    return [...out].sort();
  }
}

function bracket(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** `host:port` of a SIP URI, normalised as parseSipUri does; undefined when it is not one. */
function endpointKey(sipUri: string): string | undefined {
  const parsed = parseSipUri(sipUri);
  return parsed.ok ? `${parsed.value.host}:${parsed.value.port}` : undefined;
}

function hostOfUrl(url: string): string | undefined {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
}
