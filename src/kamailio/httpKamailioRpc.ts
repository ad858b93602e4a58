import type { KamailioSnapshot } from '../core/kamailioView.js';
import type { DispatcherState, HtableItem, KamailioRpc, KamailioSocket } from '../ports/kamailioRpc.js';
import { parseDispatcherList, parseHtableDump, parseSocketList } from './answers.js';
import {
  isHtableKeyMissing,
  isNoDestinationSets,
  isOngoingReloadMessage,
  KamailioReloadPendingError,
  KamailioRpcError,
  KamailioUnreachableError,
} from './errors.js';

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

  async call(method: string, params: readonly unknown[] = []): Promise<unknown> {
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
      const Err = isOngoingReloadMessage(msg) ? KamailioReloadPendingError : KamailioRpcError;
      throw new Err(this.name, method, answer.error.code, msg);
    }
    return answer.result;
  }

  async list(): Promise<KamailioSnapshot> {
    try {
      return parseDispatcherList(await this.call('dispatcher.list'));
    } catch (err) {
      if (isNoDestinationSets(err)) return { destinations: [] };
      throw err;
    }
  }

  async reload(): Promise<void> {
    await this.call('dispatcher.reload');
  }

  async setState(state: DispatcherState, setId: number, uri: string): Promise<void> {
    await this.call('dispatcher.set_state', [state, setId, uri]);
  }

  async listSockets(): Promise<KamailioSocket[]> {
    return parseSocketList(await this.call('corex.list_sockets'));
  }

  async htableDump(table: string): Promise<HtableItem[]> {
    return parseHtableDump(await this.call('htable.dump', [table]));
  }

  async htableSet(table: string, key: string, value: string | number): Promise<void> {
    if (typeof value === 'number') await this.call('htable.seti', [table, key, value]);
    else await this.call('htable.sets', [table, key, value]);
  }

  async htableDelete(table: string, key: string): Promise<boolean> {
    try {
      await this.call('htable.delete', [table, key]);
      return true;
    } catch (err) {
      if (isHtableKeyMissing(err)) return false;
      throw err;
    }
  }
}
