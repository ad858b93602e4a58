import { setTimeout as sleep } from 'node:timers/promises';
import { isSelectable, type KamailioSnapshot } from '../src/core/kamailioView.js';
import { HttpKamailioRpc } from '../src/kamailio/httpKamailioRpc.js';

/** What one `dispatcher.list` answer says about routing, per managed set. */
export class RoutingView {
  private readonly bySet = new Map<number, Map<string, boolean>>();

  constructor(
    snapshot: KamailioSnapshot,
    readonly setIds: readonly number[],
  ) {
    for (const id of setIds) this.bySet.set(id, new Map());
    for (const d of snapshot.destinations) this.bySet.get(d.setId)?.set(d.uri, isSelectable(d));
  }

  /** Listed (whatever its FLAGS) in every managed set. */
  inEverySet(uri: string): boolean {
    return this.setIds.every((s) => this.bySet.get(s)?.has(uri) === true);
  }

  /** No managed set would select it: absent, or FLAGS starting with I or D. */
  outOfRouting(uri: string): boolean {
    return this.setIds.every((s) => this.bySet.get(s)?.get(uri) !== true);
  }

  count(setId: number): number {
    return this.bySet.get(setId)?.size ?? 0;
  }

  total(): number {
    return this.setIds.reduce((s, id) => s + this.count(id), 0);
  }

  uris(setId: number): Set<string> {
    return new Set(this.bySet.get(setId)?.keys() ?? []);
  }
}

/** Reads one Kamailio's dispatcher.list as the bench's observer (same parser as the control plane). */
export class RoutingObserver {
  private readonly rpc: HttpKamailioRpc;
  polls = 0;
  pollMsTotal = 0;

  constructor(
    rpcUrl: string,
    private readonly setIds: readonly number[],
    timeoutMs = 2000,
  ) {
    this.rpc = new HttpKamailioRpc(rpcUrl, timeoutMs);
  }

  async read(): Promise<RoutingView> {
    const t = performance.now();
    const snapshot = await this.rpc.list();
    this.polls++;
    this.pollMsTotal += performance.now() - t;
    return new RoutingView(snapshot, this.setIds);
  }

  meanPollMs(): number {
    return this.polls === 0 ? 0 : this.pollMsTotal / this.polls;
  }

  /**
   * Polls until `done` holds; returns the instant the first satisfying answer arrived (an
   * upper bound for when Kamailio changed: it includes up to one poll round trip), or
   * undefined when the bound passed. A failed read counts as "not yet".
   */
  async until(done: (v: RoutingView) => boolean, everyMs: number, timeoutMs: number, onRead?: (v: RoutingView, at: number) => void): Promise<{ at: number; view: RoutingView } | undefined> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      try {
        const view = await this.read();
        const at = performance.now();
        onRead?.(view, at);
        if (done(view)) return { at, view };
      } catch {
        /* Kamailio busy or answering an error: poll again */
      }
      await sleep(everyMs);
    }
    return undefined;
  }
}
