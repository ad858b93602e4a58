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

/** No answer: connection refused, timeout, or an answer that is not JSON-RPC. */
export class KamailioUnreachableError extends KamailioRpcError {
  override readonly name = 'KamailioUnreachableError';
}
