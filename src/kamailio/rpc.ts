import type { KamailioDestination, KamailioSnapshot } from '../core/kamailioView.js';
import { KamailioReloadPendingError, KamailioRpcError, KamailioUnreachableError } from './errors.js';

/** One Kamailio's dispatcher, as the reconciler needs it. */
export interface KamailioRpc {
  /** The RPC URL; also this Kamailio's name in logs, metrics and the API. */
  readonly name: string;
  list(): Promise<KamailioSnapshot>;
  reload(): Promise<void>;
  /** `state` as dispatcher.set_state takes it: a (active), i (inactive), d (disabled), with p (probing). */
  setState(state: 'i' | 'ip' | 'd' | 'a', setId: number, uri: string): Promise<void>;
  /** The sockets Kamailio listens on (`corex.list_sockets`): its own addresses, never a node's. */
  listSockets(): Promise<KamailioSocket[]>;
}

/** One listen socket as `corex.list_sockets` reports it. */
export interface KamailioSocket {
  readonly proto: string;
  /** Every address the socket is bound to (more than one when multihomed). */
  readonly addresses: readonly string[];
  readonly port: number;
  /** The advertised host (`listen=... advertise host:port`), if any. */
  readonly advertise: string | undefined;
}

interface JsonRpcAnswer {
  result?: unknown;
  error?: { code?: number; message?: string };
}

let nextId = 1;

/** JSON-RPC 2.0 over HTTP (Kamailio's jsonrpcs + xhttp), every call bounded by a timeout. */
export class HttpKamailioRpc implements KamailioRpc {
  constructor(
    readonly name: string,
    private readonly timeoutMs: number,
  ) {}

  async call(method: string, params: unknown[] = []): Promise<unknown> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.name, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', method, params, id: nextId++ }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      throw new KamailioUnreachableError(this.name, method, undefined, `no answer: ${(err as Error).message}`, { cause: err });
    }
    let answer: JsonRpcAnswer;
    try {
      answer = JSON.parse(text) as JsonRpcAnswer;
    } catch (err) {
      throw new KamailioUnreachableError(this.name, method, res.status, `HTTP ${res.status}, not JSON-RPC: ${text.slice(0, 200)}`, { cause: err });
    }
    if (answer.error) {
      const msg = String(answer.error.message ?? 'unknown error');
      const Err = /ongoing reload/i.test(msg) ? KamailioReloadPendingError : KamailioRpcError;
      throw new Err(this.name, method, answer.error.code, msg);
    }
    return answer.result;
  }

  async list(): Promise<KamailioSnapshot> {
    try {
      return parseDispatcherList(await this.call('dispatcher.list'));
    } catch (err) {
      // With no destination loaded at all Kamailio answers an error instead of an empty list.
      if (err instanceof KamailioRpcError && !(err instanceof KamailioUnreachableError) && /no destination sets/i.test(err.message)) {
        return { destinations: [] };
      }
      throw err;
    }
  }

  async reload(): Promise<void> {
    await this.call('dispatcher.reload');
  }

  async setState(state: 'i' | 'ip' | 'd' | 'a', setId: number, uri: string): Promise<void> {
    await this.call('dispatcher.set_state', [state, setId, uri]);
  }

  async listSockets(): Promise<KamailioSocket[]> {
    return parseSocketList(await this.call('corex.list_sockets'));
  }
}

/**
 * Parses `corex.list_sockets`: [{PROTO, NAME, ADDRLIST: {ADDR} | {ADDR: [..]}, PORT (a string),
 * ADVERTISE ("-" or the host), ...}]. Throws on anything else.
 */
export function parseSocketList(result: unknown): KamailioSocket[] {
  return asArray(result).map((item) => {
    if (!isObj(item) || typeof item.PROTO !== 'string' || typeof item.NAME !== 'string') {
      throw new Error('corex.list_sockets: entry without PROTO/NAME');
    }
    const port = Number(item.PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`corex.list_sockets: bad PORT ${String(item.PORT)}`);
    const listed = isObj(item.ADDRLIST) ? asArray(item.ADDRLIST.ADDR).filter((a): a is string => typeof a === 'string') : [];
    const addresses = [...new Set([item.NAME, ...listed])];
    const advertise = typeof item.ADVERTISE === 'string' && item.ADVERTISE !== '-' && item.ADVERTISE !== '' ? item.ADVERTISE : undefined;
    return { proto: item.PROTO, addresses, port, advertise };
  });
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

/**
 * Parses `dispatcher.list`: {NRSETS, RECORDS: [{SET: {ID, TARGETS: [{DEST: {URI, FLAGS,
 * PRIORITY, ATTRS: {BODY, ...}}}]}}]}. Throws on anything else rather than guessing, so a
 * changed format shows up as an error instead of as a silently empty set.
 */
export function parseDispatcherList(result: unknown): KamailioSnapshot {
  if (!isObj(result)) throw new Error('dispatcher.list: result is not an object');
  const destinations: KamailioDestination[] = [];
  for (const rec of asArray(result.RECORDS)) {
    const set = isObj(rec) ? rec.SET : undefined;
    if (!isObj(set) || typeof set.ID !== 'number') throw new Error('dispatcher.list: record without SET.ID');
    for (const target of asArray(set.TARGETS)) {
      const dest = isObj(target) ? target.DEST : undefined;
      if (!isObj(dest) || typeof dest.URI !== 'string' || typeof dest.FLAGS !== 'string') {
        throw new Error(`dispatcher.list: set ${set.ID} has a target without DEST.URI/FLAGS`);
      }
      const attrs = isObj(dest.ATTRS) && typeof dest.ATTRS.BODY === 'string' ? dest.ATTRS.BODY : '';
      destinations.push({
        setId: set.ID,
        uri: dest.URI,
        flags: dest.FLAGS,
        priority: typeof dest.PRIORITY === 'number' ? dest.PRIORITY : 0,
        attrs,
      });
    }
  }
  return { destinations };
}
