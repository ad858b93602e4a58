import type { Metrics } from '../metrics/metrics.js';
import type { KamailioRpc } from '../ports/kamailioRpc.js';
import { rpcOutcomeOf } from './errors.js';

/**
 * Every Kamailio RPC, counted by outcome (`sbc_kamailio_rpc_total`) and timed
 * (`sbc_kamailio_rpc_duration_seconds`) in one place: whatever calls the port (a reconcile
 * step, the start-up checks) is measured alike.
 */
export function instrumented(k: KamailioRpc, metrics: Pick<Metrics, 'kamailioRpc' | 'kamailioRpcSeconds'>): KamailioRpc {
  const measure = async <T>(method: string, work: () => Promise<T>): Promise<T> => {
    const end = metrics.kamailioRpcSeconds.startTimer({ kamailio: k.name, method });
    try {
      const value = await work();
      metrics.kamailioRpc.inc({ kamailio: k.name, method, outcome: 'ok' });
      return value;
    } catch (err) {
      metrics.kamailioRpc.inc({ kamailio: k.name, method, outcome: rpcOutcomeOf(err) });
      throw err;
    } finally {
      end();
    }
  };
  return {
    name: k.name,
    call: (method, params) => measure(method, () => k.call(method, params)),
    list: () => measure('dispatcher.list', () => k.list()),
    reload: () => measure('dispatcher.reload', () => k.reload()),
    setState: (state, setId, uri) => measure('dispatcher.set_state', () => k.setState(state, setId, uri)),
    listSockets: () => measure('corex.list_sockets', () => k.listSockets()),
    htableDump: (table) => measure('htable.dump', () => k.htableDump(table)),
    htableSet: (table, key, value) => measure(typeof value === 'number' ? 'htable.seti' : 'htable.sets', () => k.htableSet(table, key, value)),
    htableDelete: (table, key) => measure('htable.delete', () => k.htableDelete(table, key)),
  };
}
