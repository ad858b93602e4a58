import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AgentCommandRefusedError, AgentCommandTimeoutError } from '../nats/agentCommands.js';
import { InvalidCursorError } from '../ports/callStore.js';
import { TokenNameTakenError } from '../ports/tokenStore.js';

/**
 * Every error answer the API gives, by its stable `error` code. Clients branch on the code,
 * never on the message; the README's error table is generated from this one (describeErrors).
 * A new status is a new row here and a typed error class in TYPED below: the one handler
 * answers any status a row names.
 */
export const HTTP_ERRORS = {
  'bad-request': { status: 400, when: 'a path parameter, query parameter or body does not match the route schema, or a `cursor` this API did not make' },
  'unknown-parameter': { status: 400, when: 'a query parameter the route does not declare (never silently ignored)' },
  'bad-url': { status: 400, when: 'the URL is not valid (e.g. malformed percent-encoding)' },
  'invalid-json': { status: 400, when: 'a body sent as application/json that is empty or not JSON' },
  'malformed-request': { status: 400, when: 'HTTP that Node\'s parser refuses, or a body that does not match its Content-Length' },
  unauthorized: { status: 401, when: 'with `SBC_API_AUTH=on`, a route that is not open got no `Authorization: Bearer` token, or one that is malformed, unknown or revoked; `WWW-Authenticate: Bearer` says which' },
  forbidden: { status: 403, when: 'a valid token whose scopes do not include the route\'s (`read` < `operate` < `admin`); `WWW-Authenticate` names the scope needed' },
  'not-found': { status: 404, when: 'no route for the path, or no node, room, room policy, call or API token with that id' },
  'method-not-allowed': { status: 405, when: 'a known path with a method it does not have; `Allow` lists those it has' },
  'request-timeout': { status: 408, when: 'the request did not arrive in full within the server\'s request timeout' },
  conflict: { status: 409, when: 'the request contradicts the current state of what it names, e.g. a drain of a gone node, a scale-up with no provisioner, a machine that kept changing under a drain, a token name a live token has; or a feature this control plane was started without' },
  'body-too-large': { status: 413, when: 'a body over 64 KiB' },
  'url-too-long': { status: 414, when: 'a path parameter over 2048 characters' },
  'unsupported-media-type': { status: 415, when: 'a body whose Content-Type is missing, malformed or not parsed by the API' },
  'headers-too-large': { status: 431, when: 'request headers over Node\'s limit (16 KiB)' },
  internal: { status: 500, when: 'anything else; the body carries `requestId`, the key to the log line, and never internals' },
  'agent-error': { status: 502, when: 'the node\'s agent answered a command with an error (its code and reason in the message) or an invalid reply' },
  'shutting-down': { status: 503, when: 'a request on a kept-alive connection while the server is closing' },
  'agent-timeout': { status: 504, when: 'the node\'s agent did not answer a command within `SBC_AGENT_COMMAND_TIMEOUT_MS`, or no agent listens for that node' },
} as const satisfies Record<string, { status: number; when: string }>;

export type ErrorCode = keyof typeof HTTP_ERRORS;
export const ERROR_CODES = Object.keys(HTTP_ERRORS) as ErrorCode[];

/**
 * Fastify's own errors that a request can meet, by their `code`. Only Fastify's: an error
 * from inside a handler that happens to carry a Node code (a Redis socket's ECONNRESET) is
 * the server's problem, never the client's.
 */
const BY_CODE: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_VALIDATION: 'bad-request',
  FST_ERR_BAD_URL: 'bad-url',
  FST_ERR_INVALID_URL: 'bad-url',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid-json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid-json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'malformed-request',
  FST_ERR_NOT_FOUND: 'not-found',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body-too-large',
  FST_ERR_MAX_PARAM_LENGTH: 'url-too-long',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported-media-type',
  FST_ERR_ROUTE_MISSING_CONTENT_TYPE: 'unsupported-media-type',
};

/** Node's HTTP server refusing a connection's request before Fastify (answerClientError). */
const BY_CLIENT_ERROR_CODE: Readonly<Record<string, ErrorCode>> = {
  HPE_HEADER_OVERFLOW: 'headers-too-large',
  ERR_HTTP_REQUEST_TIMEOUT: 'request-timeout',
};

/** Every other error Node's parser reports (HPE_INVALID_METHOD, HPE_INVALID_HEADER_TOKEN, ...) is malformed HTTP. */
const CLIENT_ERROR_FALLBACK: ErrorCode = 'malformed-request';

/** An error no table names is the server's own fault. */
const FALLBACK: ErrorCode = 'internal';

export class NodeNotFoundError extends Error {
  override readonly name = 'NodeNotFoundError';
  constructor(readonly nodeId: string) {
    super(`no node ${nodeId}`);
  }
}

export class RoomNotFoundError extends Error {
  override readonly name = 'RoomNotFoundError';
  constructor(readonly room: string) {
    super(`no active room ${room}`);
  }
}

export class CallNotFoundError extends Error {
  override readonly name = 'CallNotFoundError';
  constructor(readonly id: string) {
    super(`no call event names ${id.length > 120 ? `${id.slice(0, 120)}…` : id}`);
  }
}

export class RoomPolicyNotFoundError extends Error {
  override readonly name = 'RoomPolicyNotFoundError';
  constructor(readonly room: string) {
    super(`no policy for room ${room}`);
  }
}

export class RouteNotFoundError extends Error {
  override readonly name = 'RouteNotFoundError';
  constructor(method: string, path: string) {
    super(`no route ${method} ${path}`);
  }
}

export class MethodNotAllowedError extends Error {
  override readonly name = 'MethodNotAllowedError';
  constructor(
    method: string,
    path: string,
    readonly allowed: readonly string[],
  ) {
    super(`${method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`);
  }
}

/** A request that does not match its route's schema (Fastify's FST_ERR_VALIDATION, reworded). */
export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';
}

export class UnknownQueryParameterError extends Error {
  override readonly name = 'UnknownQueryParameterError';
  constructor(parameter: string, accepted: readonly string[]) {
    super(`unknown query parameter "${parameter}"; this route takes ${accepted.length > 0 ? accepted.join(', ') : 'none'}`);
  }
}

export class TokenNotFoundError extends Error {
  override readonly name = 'TokenNotFoundError';
  constructor(readonly id: string) {
    super(`no API token ${id}`);
  }
}

/** A route that requires credentials got none that are valid. */
export class UnauthorizedError extends Error {
  override readonly name = 'UnauthorizedError';
  constructor(
    message: string,
    /** The `WWW-Authenticate` challenge (RFC 6750). */
    readonly challenge = 'Bearer realm="sbc"',
  ) {
    super(message);
  }
}

/** Valid credentials that may not use this route. */
export class ForbiddenError extends Error {
  override readonly name = 'ForbiddenError';
  constructor(
    message: string,
    /** The `WWW-Authenticate` challenge (RFC 6750 insufficient_scope). */
    readonly challenge = 'Bearer realm="sbc", error="insufficient_scope"',
  ) {
    super(message);
  }
}

/** The request contradicts the current state of what it names. */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
}

export class ServerClosingError extends Error {
  override readonly name = 'ServerClosingError';
  constructor() {
    super('the control plane is shutting down; retry on another instance');
  }
}

const TYPED: readonly (readonly [new (...args: never[]) => Error, ErrorCode])[] = [
  [NodeNotFoundError, 'not-found'],
  [RoomNotFoundError, 'not-found'],
  [RoomPolicyNotFoundError, 'not-found'],
  [CallNotFoundError, 'not-found'],
  [TokenNotFoundError, 'not-found'],
  [InvalidCursorError, 'bad-request'],
  [InvalidRequestError, 'bad-request'],
  [RouteNotFoundError, 'not-found'],
  [MethodNotAllowedError, 'method-not-allowed'],
  [UnknownQueryParameterError, 'unknown-parameter'],
  [ServerClosingError, 'shutting-down'],
  [UnauthorizedError, 'unauthorized'],
  [ForbiddenError, 'forbidden'],
  [ConflictError, 'conflict'],
  [TokenNameTakenError, 'conflict'],
  [AgentCommandTimeoutError, 'agent-timeout'],
  [AgentCommandRefusedError, 'agent-error'],
];

/** 5xx answers whose message is for the client: it names a remote party's failure, not our internals. */
const TOLD_5XX: ReadonlySet<ErrorCode> = new Set(['shutting-down', 'agent-timeout', 'agent-error']);

export interface ErrorAnswer {
  readonly status: number;
  readonly body: { error: ErrorCode; message: string; requestId?: string };
  readonly headers: Readonly<Record<string, string>>;
}

/** The table lookup: typed errors by class, Fastify's and Node's by code, anything else is 500. */
export function errorCodeOf(err: unknown): ErrorCode {
  for (const [type, code] of TYPED) if (err instanceof type) return code;
  const code = (err as { code?: unknown } | null)?.code;
  return (typeof code === 'string' && BY_CODE[code]) || FALLBACK;
}

/** What the client gets for `err`; internals of a 5xx stay in the log, found by requestId. */
export function errorAnswer(err: unknown, requestId: string): ErrorAnswer {
  const code = errorCodeOf(err);
  const { status } = HTTP_ERRORS[code];
  const headers: Record<string, string> = {};
  if (err instanceof MethodNotAllowedError) headers.allow = err.allowed.join(', ');
  if (err instanceof UnauthorizedError || err instanceof ForbiddenError) headers['www-authenticate'] = err.challenge;
  if (status >= 500) {
    const message = TOLD_5XX.has(code) ? (err as Error).message : 'internal error; see the control plane log';
    return { status, body: { error: code, message, requestId }, headers };
  }
  return { status, body: { error: code, message: (err as Error).message }, headers };
}

interface SchemaError {
  readonly keyword: string;
  readonly instancePath: string;
  readonly message?: string;
  readonly params: Record<string, unknown>;
}

/**
 * Fastify's validation message lists every alternative of an anyOf ("must match pattern,
 * must be array, must match a schema in anyOf"); keep the complaint of the alternative that
 * got furthest into the value.
 * An unknown query parameter is named, with what the route takes, so the caller sees the typo.
 */
function refineValidation(err: unknown, req: FastifyRequest): unknown {
  const v = err as { code?: unknown; validationContext?: unknown; validation?: readonly SchemaError[] };
  if (v.code !== 'FST_ERR_VALIDATION' || !v.validation) return err;
  const context = typeof v.validationContext === 'string' ? v.validationContext : 'request';
  const extra = v.validation.find((e) => e.keyword === 'additionalProperties');
  if (context === 'querystring' && extra) {
    const schema = req.routeOptions.schema?.querystring as { properties?: Record<string, unknown> } | undefined;
    return new UnknownQueryParameterError(String(extra.params.additionalProperty), Object.keys(schema?.properties ?? {}));
  }
  const anyOfAt = v.validation.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath);
  const under = (e: SchemaError, at: string) => e.instancePath === at || e.instancePath.startsWith(`${at}/`);
  const depth = (e: SchemaError) => e.instancePath.split('/').length;
  const kept = v.validation.filter((e) => e.keyword !== 'anyOf' && !anyOfAt.some((at) => under(e, at)));
  for (const at of new Set(anyOfAt)) {
    // The alternative that got furthest into the value says what is wrong with it.
    const branches = v.validation.filter((e) => e.keyword !== 'anyOf' && under(e, at));
    const deepest = branches.reduce<SchemaError | undefined>((best, e) => (best === undefined || depth(e) > depth(best) ? e : best), undefined);
    if (deepest) kept.push(deepest);
  }
  return new InvalidRequestError(kept.map((e) => `${context}${e.instancePath} ${e.message ?? e.keyword}`).join(', '));
}

function send(req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const answer = errorAnswer(refineValidation(err, req), req.id);
  // A client that went away mid-body makes the body stream fail: nobody to answer, nothing to fix.
  const clientGone = req.raw.socket?.destroyed === true;
  if (answer.body.error === 'internal' && !clientGone) req.log.error({ err }, 'request failed');
  else req.log.debug({ err: (err as Error).message, error: answer.body.error }, 'request refused');
  return reply.code(answer.status).headers(answer.headers).send(answer.body);
}

/** The one place errors become HTTP answers, Fastify's own included. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => send(req, reply, err));
}

/**
 * Fastify's `frameworkErrors` option: errors the router meets before any route (a bad URL,
 * an over-long path parameter), which Fastify would otherwise answer in its own shape.
 */
export function answerFrameworkError(err: Error, req: FastifyRequest, reply: FastifyReply): void {
  void send(req, reply, err);
}

/**
 * Fastify's `clientErrorHandler` option: Node's HTTP server refused the request before
 * Fastify saw it (headers too large, a parser error, a request timeout). Answers in the
 * table's shape on the raw socket, as Node itself would, then closes the connection.
 * Returns the status written, or undefined when there was nobody to answer.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket): number | undefined {
  if (err.code === 'ECONNRESET' || socket.destroyed) return undefined;
  const code = (err.code !== undefined && BY_CLIENT_ERROR_CODE[err.code]) || CLIENT_ERROR_FALLBACK;
  const { status } = HTTP_ERRORS[code];
  const messages: Partial<Record<ErrorCode, string>> = {
    'headers-too-large': 'request headers exceed the server limit',
    'request-timeout': 'the request was not received in time',
  };
  const body = JSON.stringify({ error: code, message: messages[code] ?? `malformed HTTP request (${err.code ?? 'parse error'})` });
  // A response already started on this kept-alive connection cannot be followed by a raw one.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  let written: number | undefined;
  if (socket.writable && inFlight?.headersSent !== true) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    written = status;
  }
  socket.destroy();
  return written;
}

/**
 * The README's error table, from the tables above: each code's status and `when`, and `from`,
 * every typed error, Fastify code and Node code the handlers map to it. README.md embeds
 * exactly this (test/unit/http/readme.test.ts); print it with `npx tsx scripts/http-errors.ts`.
 */
export function describeErrors(): string {
  const quoted = (names: readonly string[]) => names.map((n) => `\`${n}\``);
  const rows = ERROR_CODES.map((code) => {
    const from = [
      ...quoted(TYPED.filter(([, c]) => c === code).map(([type]) => type.name)),
      ...quoted(Object.keys(BY_CODE).filter((k) => BY_CODE[k] === code)),
      ...quoted(Object.keys(BY_CLIENT_ERROR_CODE).filter((k) => BY_CLIENT_ERROR_CODE[k] === code)).map((c) => `Node's ${c}`),
      ...(code === CLIENT_ERROR_FALLBACK ? ["any other refusal of Node's HTTP parser (`HPE_*`)"] : []),
      ...(code === FALLBACK ? ['any other error'] : []),
    ];
    const { status, when } = HTTP_ERRORS[code];
    return `| ${status} | \`${code}\` | ${when} | ${from.join(', ')} |`;
  });
  return ['| status | `error` | when | from |', '|---|---|---|---|', ...rows].join('\n');
}
