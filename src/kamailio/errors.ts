/** A Kamailio answered with a JSON-RPC error. */
export class KamailioRpcError extends Error {
  override readonly name: string = 'KamailioRpcError';
  constructor(
    readonly kamailio: string,
    readonly method: string,
    readonly code: number | undefined,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${kamailio} ${method}: ${message}`, options);
  }
}

/** Kamailio refused a reload inside its reload_delta window; retry after the window. */
export class KamailioReloadPendingError extends KamailioRpcError {
  override readonly name = 'KamailioReloadPendingError';
}

/** dispatcher.reload inside reload_delta answers "Ongoing reload" (code 500). */
export const isOngoingReloadMessage = (message: string): boolean => /ongoing reload/i.test(message);

/** No answer: connection refused, timeout, or an answer that is not JSON-RPC. */
export class KamailioUnreachableError extends KamailioRpcError {
  override readonly name = 'KamailioUnreachableError';
}

/**
 * With no destination loaded at all, dispatcher.list answers an error ("No destination
 * sets", captured in test/fixtures/kamailio/rpc-dispatcher-list-no-sets.json) instead of an
 * empty list: that answer means "empty", not "failed".
 */
export const isNoDestinationSets = (err: unknown): boolean =>
  err instanceof KamailioRpcError && !(err instanceof KamailioUnreachableError) && /no destination sets/i.test(err.message);

/** htable.delete of a key that is not there: code 404 "Key not found in htable." */
export const isHtableKeyMissing = (err: unknown): boolean =>
  err instanceof KamailioRpcError && !(err instanceof KamailioUnreachableError) && err.code === 404;

/** The outcome label an RPC error gets in sbc_kamailio_rpc_total. */
export function rpcOutcomeOf(err: unknown): 'unreachable' | 'pending' | 'error' {
  return err instanceof KamailioUnreachableError ? 'unreachable' : err instanceof KamailioReloadPendingError ? 'pending' : 'error';
}
