/**
 * The CLI's one way to the control plane's HTTP API: a request with a deadline, and every way
 * it can go wrong sorted into the two failures an operator acts on differently: the API
 * answered with an error (ApiError: exit 1, or 4 when it refused the token) or it could not be
 * reached at all (ApiUnreachableError, exit 3).
 */

export interface ApiClientOptions {
  /** The API's base URL; a path prefix (a reverse proxy's) is kept. */
  readonly baseUrl: string;
  readonly timeoutMs: number;
  /** Sent as `Authorization: Bearer <token>` when set. */
  readonly token?: string;
}

export interface ApiRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** From the API's root, starting with `/`; path parameters and the query already URL-encoded. */
  readonly path: string;
  /** Sent as JSON (POST and PUT); a request without one sends none. */
  readonly body?: unknown;
  /** Non-2xx statuses whose body is the answer, not an error (`/readyz`'s 503): call() returns it, flagged `ok: false`. */
  readonly answers?: readonly number[];
}

/** The answer's JSON body; `ok` false for a status the request declared in `answers`. */
export interface ApiAnswer {
  readonly ok: boolean;
  readonly body: unknown;
}

/** The API answered, with an error status or with something that is not the JSON it promises. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    /** The body's stable `error` code (README error table), or `http-<status>` / `bad-answer` when the body has none. */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Nothing answered: connection refused, unknown host, or no full answer within the timeout. */
export class ApiUnreachableError extends Error {
  override readonly name = 'ApiUnreachableError';
  constructor(
    readonly baseUrl: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot reach the API at ${baseUrl}: ${reason}`, options);
  }
}

/** Node's socket error codes, as an operator would say them. */
const NETWORK_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connect timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_SOCKET: 'connection closed by the other side',
};

/** `fetch` hides the socket's error in `cause` (an AggregateError when every address refused). */
function unreachableReason(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = err instanceof Error ? (err.cause as NodeJS.ErrnoException | undefined) : undefined;
  const code = cause?.code;
  if (code !== undefined) return `${NETWORK_REASONS[code] ?? cause?.message ?? code} (${code})`;
  return cause?.message ?? (err instanceof Error ? err.message : String(err));
}

export function joinUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${path}`;
}

/** What a non-2xx answer says: the API's `{error, message}`, or whatever a proxy in between sent. */
function errorOf(status: number, statusText: string, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    if (typeof body.error === 'string') {
      return new ApiError(status, body.error, typeof body.message === 'string' ? body.message : statusText);
    }
  } catch {
    // Not JSON: not the API's own answer (a proxy's error page); say what arrived.
  }
  const excerpt = text.trim().replace(/\s+/g, ' ').slice(0, 120);
  return new ApiError(status, `http-${status}`, excerpt === '' ? statusText || 'no body' : excerpt);
}

export class ApiClient {
  constructor(readonly options: ApiClientOptions) {}

  /** The answer's JSON body, as the API sent it (key order kept); null for a 204. */
  async call(req: ApiRequest): Promise<unknown> {
    return (await this.answer(req)).body;
  }

  /** As call(), and whether the status was a success or one of the request's `answers`. */
  async answer(req: ApiRequest): Promise<ApiAnswer> {
    const { baseUrl, timeoutMs, token } = this.options;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token !== undefined && token !== '') headers.authorization = `Bearer ${token}`;
    const payload = req.body !== undefined ? JSON.stringify(req.body) : undefined;
    if (payload !== undefined) headers['content-type'] = 'application/json';
    let status: number;
    let statusText: string;
    let text: string;
    try {
      // One deadline for the whole exchange, the body included: a server that stalls mid-body is as unreachable as one that never answers.
      const res = await fetch(joinUrl(baseUrl, req.path), { method: req.method, headers, ...(payload !== undefined ? { body: payload } : {}), signal: AbortSignal.timeout(timeoutMs) });
      status = res.status;
      statusText = res.statusText;
      text = await res.text();
    } catch (err) {
      throw new ApiUnreachableError(baseUrl, unreachableReason(err, timeoutMs), { cause: err });
    }
    const ok = status >= 200 && status <= 299;
    if (!ok && !(req.answers ?? []).includes(status)) throw errorOf(status, statusText, text);
    // 204 No Content (a room policy removed): nothing to parse.
    if (status === 204) return { ok, body: null };
    try {
      return { ok, body: JSON.parse(text) as unknown };
    } catch {
      throw new ApiError(status, 'bad-answer', `${req.method} ${req.path} answered ${status} with a body that is not JSON`);
    }
  }
}
