import type { KamailioAddressBook } from '../../kamailio/addresses.js';
import type { KamailioRpc } from '../../ports/kamailioRpc.js';
import type { DispatcherPass } from '../dispatcherPass.js';
import type { ReconcileStep } from '../runner.js';

export interface KamailioAddressesDeps {
  readonly kamailios: readonly KamailioRpc[];
  readonly addresses: KamailioAddressBook;
  /** Sockets are read again once older than this (the resync interval). */
  readonly refreshMs: number;
}

/**
 * Learns each Kamailio's own SIP addresses from `corex.list_sockets`, so a node announced at
 * one of them is kept out of routing. Runs after the dispatcher steps (a removal never
 * waits on it; what it learns applies from the next pass), only for Kamailios that answered
 * this pass, and never fails the pass: without corex the configured addresses still apply.
 */
export function kamailioAddressesStep(deps: KamailioAddressesDeps): ReconcileStep<DispatcherPass> {
  /** Monotonic ms at which each Kamailio's sockets were last read. */
  const readAt = new Map<string, number>();
  return {
    name: 'kamailio-addresses',
    async run(pass, ctx) {
      const answered = new Set(pass.kamailios.filter((o) => o.error === undefined).map((o) => o.kamailio));
      await Promise.all(
        deps.kamailios
          .filter((k) => answered.has(k.name))
          .map(async (k) => {
            const at = readAt.get(k.name);
            if (at !== undefined && performance.now() - at < deps.refreshMs) return;
            readAt.set(k.name, performance.now());
            try {
              deps.addresses.learn(k.name, await k.listSockets());
            } catch (err) {
              if (!deps.addresses.knows(k.name)) readAt.delete(k.name);
              ctx.logger.warn({ kamailio: k.name, err: (err as Error).message }, 'could not read Kamailio listen sockets (corex.list_sockets)');
            }
          }),
      );
    },
  };
}
