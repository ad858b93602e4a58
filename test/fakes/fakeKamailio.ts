import type { KamailioSnapshot } from '../../src/core/kamailioView.js';
import { KamailioReloadPendingError, KamailioRpcError, KamailioUnreachableError } from '../../src/kamailio/errors.js';
import type { DispatcherState, HtableItem, KamailioRpc, KamailioSocket } from '../../src/ports/kamailioRpc.js';
import type { FakeStore } from './fakeDispatcherStore.js';

/**
 * Behaves like Kamailio 5.6.3 where the control plane can tell (answers as captured in
 * test/fixtures/kamailio/): reload rebuilds the list from the table (dropping set_state
 * changes), a reload within `reloadDeltaMs` of the previous one is refused with "Ongoing
 * reload", set_state changes the state letter, htables keep string and integer values and
 * deleting a missing key is a 404. `calls` records every RPC in order.
 */
export class FakeKamailio implements KamailioRpc {
  loaded: { setId: number; uri: string; flags: string; priority: number; attrs: string }[] = [];
  calls: string[] = [];
  /** What corex.list_sockets answers: Kamailio's own listen addresses. */
  sockets: KamailioSocket[] = [{ proto: 'udp', addresses: ['127.0.0.1'], port: 5060, advertise: undefined }];
  /** Defined htables and their items. */
  readonly htables = new Map<string, Map<string, string | number>>([
    ['cascade', new Map()],
    ['pins', new Map()],
  ]);
  down = false;
  private lastReload = -Infinity;
  constructor(
    readonly name: string,
    private readonly store: FakeStore,
    private readonly reloadDeltaMs: number,
    private readonly clock: () => number,
  ) {}

  private refuseIfDown(method: string): void {
    if (this.down) throw new KamailioUnreachableError(this.name, method, undefined, 'ECONNREFUSED');
  }

  private table(method: string, name: string): Map<string, string | number> {
    const t = this.htables.get(name);
    if (!t) throw new KamailioRpcError(this.name, method, 500, 'No such htable');
    return t;
  }

  call(method: string, params: readonly unknown[] = []): Promise<unknown> {
    this.calls.push(`call ${method}`);
    return Promise.reject(new KamailioRpcError(this.name, method, -32601, `Method Not Found (${params.length} params)`));
  }

  async list(): Promise<KamailioSnapshot> {
    this.calls.push('list');
    this.refuseIfDown('dispatcher.list');
    return Promise.resolve({ destinations: this.loaded.map((d) => ({ ...d })) });
  }

  async reload(): Promise<void> {
    this.calls.push('reload');
    this.refuseIfDown('dispatcher.reload');
    if (this.clock() - this.lastReload < this.reloadDeltaMs) {
      throw new KamailioReloadPendingError(this.name, 'dispatcher.reload', 500, 'Ongoing reload');
    }
    this.lastReload = this.clock();
    this.loaded = this.store.rows.map((r) => ({
      setId: r.setid,
      uri: r.destination,
      flags: r.flags & 4 ? 'DX' : r.flags & 1 ? 'IX' : 'AX',
      priority: r.priority,
      attrs: r.attrs,
    }));
    return Promise.resolve();
  }

  async setState(state: DispatcherState, setId: number, uri: string): Promise<void> {
    this.calls.push(`set_state ${state} ${setId} ${uri}`);
    this.refuseIfDown('dispatcher.set_state');
    for (const d of this.loaded) if (d.setId === setId && d.uri === uri) d.flags = `${state.charAt(0).toUpperCase()}${state.length > 1 ? 'P' : 'X'}`;
    return Promise.resolve();
  }

  async listSockets(): Promise<KamailioSocket[]> {
    this.calls.push('list_sockets');
    this.refuseIfDown('corex.list_sockets');
    return Promise.resolve(this.sockets.map((s) => ({ ...s })));
  }

  async htableDump(table: string): Promise<HtableItem[]> {
    this.calls.push(`htable.dump ${table}`);
    this.refuseIfDown('htable.dump');
    return Promise.resolve([...this.table('htable.dump', table)].map(([key, value]) => ({ key, value })));
  }

  async htableSet(table: string, key: string, value: string | number): Promise<void> {
    const method = typeof value === 'number' ? 'htable.seti' : 'htable.sets';
    this.calls.push(`${method} ${table} ${key} ${value}`);
    this.refuseIfDown(method);
    this.table(method, table).set(key, value);
    return Promise.resolve();
  }

  async htableDelete(table: string, key: string): Promise<boolean> {
    this.calls.push(`htable.delete ${table} ${key}`);
    this.refuseIfDown('htable.delete');
    return Promise.resolve(this.table('htable.delete', table).delete(key));
  }
}
