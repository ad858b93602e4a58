import type { KamailioSnapshot } from '../core/kamailioView.js';

/**
 * One Kamailio as the control plane drives it over JSON-RPC: its dispatcher, its htables
 * and, for anything else, a generic call. The name is the RPC URL; it is also this
 * Kamailio's name in logs, metrics and the API. Adapter: kamailio/httpKamailioRpc.ts;
 * every instance the control plane uses is wrapped by kamailio/instrumented.ts.
 */
export interface KamailioRpc {
  readonly name: string;
  /** Any JSON-RPC method; resolves its `result`, rejects with a KamailioRpcError. */
  call(method: string, params?: readonly unknown[]): Promise<unknown>;
  list(): Promise<KamailioSnapshot>;
  reload(): Promise<void>;
  /** `state` as dispatcher.set_state takes it: a (active), i (inactive), d (disabled), with p (probing). */
  setState(state: DispatcherState, setId: number, uri: string): Promise<void>;
  /** The sockets Kamailio listens on (`corex.list_sockets`): its own addresses, never a node's. */
  listSockets(): Promise<KamailioSocket[]>;
  /** Every item of one htable (`htable.dump`). */
  htableDump(table: string): Promise<HtableItem[]>;
  /** `htable.sets` (string value) or `htable.seti` (integer value). */
  htableSet(table: string, key: string, value: string | number): Promise<void>;
  /** `htable.delete`; resolves false when the key was not there. */
  htableDelete(table: string, key: string): Promise<boolean>;
}

export type DispatcherState = 'i' | 'ip' | 'd' | 'a';

/** One listen socket as `corex.list_sockets` reports it. */
export interface KamailioSocket {
  readonly proto: string;
  /** Every address the socket is bound to (more than one when multihomed). */
  readonly addresses: readonly string[];
  readonly port: number;
  /** The advertised host (`listen=... advertise host:port`), if any. */
  readonly advertise: string | undefined;
}

/** One htable item as `htable.dump` reports it: an integer stays a number. */
export interface HtableItem {
  readonly key: string;
  readonly value: string | number;
}
