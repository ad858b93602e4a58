import pino from 'pino';
import type { DispatcherRow } from '../../../src/core/dispatcher.js';
import type { KamailioSnapshot } from '../../../src/core/kamailioView.js';
import { planChanges, type StoredRow } from '../../../src/core/planChanges.js';
import { KamailioReloadPendingError, KamailioUnreachableError } from '../../../src/kamailio/errors.js';
import type { KamailioRpc, KamailioSocket } from '../../../src/kamailio/rpc.js';
import type { DispatcherStore, SyncResult } from '../../../src/postgres/dispatcherStore.js';

export const silentLogger = pino({ level: 'silent' });

export class FakeStore implements DispatcherStore {
  rows: StoredRow[] = [];
  private nextId = 1;
  syncs = 0;
  constructor(private readonly managed: ReadonlySet<number>) {}
  sync(desiredFor: (actual: readonly StoredRow[]) => readonly DispatcherRow[]): Promise<SyncResult> {
    this.syncs++;
    const desired = desiredFor(this.rows);
    const changes = planChanges(desired, this.rows, this.managed);
    for (const c of changes) {
      if (c.kind === 'delete') this.rows = this.rows.filter((r) => r.id !== c.id);
      else if (c.kind === 'update') this.rows = this.rows.map((r) => (r.id === c.id ? { id: r.id, ...c.row } : r));
      else this.rows.push({ id: this.nextId++, ...c.row });
    }
    return Promise.resolve({ desired, changes });
  }
  read(): Promise<StoredRow[]> {
    return Promise.resolve(this.rows);
  }
  slotOf(nodeId: string): Promise<number | undefined> {
    const mine = this.rows.filter((r) => r.description === `sbc:${nodeId}`).map((r) => r.priority);
    return Promise.resolve(mine.length > 0 ? Math.max(...mine) : undefined);
  }
  maxSlot(): Promise<number> {
    return Promise.resolve(Math.max(0, ...this.rows.map((r) => r.priority)));
  }
  ping(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Behaves like Kamailio's dispatcher where the reconciler can tell: reload rebuilds the
 * list from the table (dropping set_state changes), a reload within `reloadDeltaMs` of the
 * previous one is refused with "Ongoing reload", set_state changes the state letter.
 */
export class FakeKamailio implements KamailioRpc {
  loaded: { setId: number; uri: string; flags: string; priority: number; attrs: string }[] = [];
  calls: string[] = [];
  /** What corex.list_sockets answers: Kamailio's own listen addresses. */
  sockets: KamailioSocket[] = [{ proto: 'udp', addresses: ['127.0.0.1'], port: 5060, advertise: undefined }];
  down = false;
  private lastReload = -Infinity;
  constructor(
    readonly name: string,
    private readonly store: FakeStore,
    private readonly reloadDeltaMs: number,
    private readonly clock: () => number,
  ) {}
  list(): Promise<KamailioSnapshot> {
    this.calls.push('list');
    if (this.down) return Promise.reject(new KamailioUnreachableError(this.name, 'dispatcher.list', undefined, 'ECONNREFUSED'));
    return Promise.resolve({ destinations: this.loaded.map((d) => ({ ...d })) });
  }
  reload(): Promise<void> {
    this.calls.push('reload');
    if (this.down) return Promise.reject(new KamailioUnreachableError(this.name, 'dispatcher.reload', undefined, 'ECONNREFUSED'));
    if (this.clock() - this.lastReload < this.reloadDeltaMs) {
      return Promise.reject(new KamailioReloadPendingError(this.name, 'dispatcher.reload', 500, 'Ongoing reload'));
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
  setState(state: string, setId: number, uri: string): Promise<void> {
    this.calls.push(`set_state ${state} ${setId} ${uri}`);
    for (const d of this.loaded) if (d.setId === setId && d.uri === uri) d.flags = `${state.charAt(0).toUpperCase()}X`;
    return Promise.resolve();
  }
  listSockets(): Promise<KamailioSocket[]> {
    this.calls.push('list_sockets');
    if (this.down) return Promise.reject(new KamailioUnreachableError(this.name, 'corex.list_sockets', undefined, 'ECONNREFUSED'));
    return Promise.resolve(this.sockets.map((s) => ({ ...s })));
  }
}
