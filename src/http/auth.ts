import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { API_SCOPES, grants, parseToken, sameDigest, secretDigest, type ApiScope } from '../core/apiTokens.js';
import type { OpenablePath } from '../config/apiAuth.js';
import type { Metrics } from '../metrics/metrics.js';
import { LAST_USED_RESOLUTION_MS, type TokenStore } from '../ports/tokenStore.js';
import { ForbiddenError, UnauthorizedError } from './errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a token needs for this route (GETs read; drains, scaling, room policy operate; tokens admin). Every route declares one. */
    scope?: ApiScope;
    /**
     * A static asset of the operator console (its page, script or style, under CONSOLE_PREFIX):
     * answered without a token even with auth on. It carries no data, and a browser's
     * navigation to /ui sends no Authorization header; the page itself asks the API with the
     * operator's token. Only a GET route under CONSOLE_PREFIX that declares no scope may say so.
     */
    consoleAsset?: true;
  }
  interface FastifyRequest {
    /** Who made the request, once its token was accepted; unset with auth off or on an open path. */
    principal?: Principal;
  }
}

export interface Principal {
  /** The token's name (`bootstrap` for the bootstrap secret). */
  readonly name: string;
  /** The token's id; undefined for the bootstrap secret. */
  readonly tokenId?: string;
  readonly scopes: readonly ApiScope[];
}

/** With it, the API asks every request but open paths for a token (SBC_API_AUTH=on). */
export interface ApiAuth {
  readonly tokens: Pick<TokenStore, 'find' | 'touch'>;
  /** SHA-256 of the bootstrap secret (SBC_API_BOOTSTRAP_TOKEN_FILE), accepted as an admin token. */
  readonly bootstrapSha256?: Uint8Array;
  /** Answered without a token (SBC_API_OPEN_PATHS). */
  readonly openPaths: readonly OpenablePath[];
  readonly now?: () => number;
}

/** Routes some plugin registers without a route config of ours: the docs UI's. */
export const DOCS_PREFIX = '/docs';
/** Where the operator console's static assets are served (routes marked `consoleAsset`). */
export const CONSOLE_PREFIX = '/ui';
/** The schema description of a console asset's route (the OpenAPI document hides them; routeScopes lists them open). */
export const CONSOLE_ASSET_DESCRIPTION = 'Open: a static asset of the operator console, answered without a token (it carries no data; the page asks the API with the operator\'s token).';
/** The scope of every route under a prefix whose routes a third-party plugin registers. */
const PREFIX_SCOPES: readonly (readonly [string, ApiScope])[] = [[DOCS_PREFIX, 'read']];

/** The name components.securitySchemes gives the bearer scheme, and every protected route's `security` names. */
export const SECURITY_SCHEME = 'bearerToken';

/** The securitySchemes entry of the OpenAPI document. */
export const BEARER_SCHEME = {
  [SECURITY_SCHEME]: {
    type: 'http',
    scheme: 'bearer',
    description: 'An API token, `sbc_<id>_<secret>` (`sbcctl token create`), or the bootstrap secret; scopes read < operate < admin',
  },
} as const;

const under = (url: string, prefix: string) => url === prefix || url.startsWith(`${prefix}/`);

/** The scope a route declares, or the one of the prefix it is under. */
export function declaredScope(route: Pick<RouteOptions, 'url' | 'config'>): ApiScope | undefined {
  const own = (route.config as { scope?: unknown } | undefined)?.scope;
  if (own !== undefined) {
    if (!(API_SCOPES as readonly unknown[]).includes(own)) throw new Error(`route ${route.url}: scope ${JSON.stringify(own)} is not one of ${API_SCOPES.join(', ')}`);
    return own as ApiScope;
  }
  return PREFIX_SCOPES.find(([p]) => under(route.url, p))?.[1];
}

function isOpen(url: string, openPaths: readonly OpenablePath[]): boolean {
  return openPaths.some((p) => (p === DOCS_PREFIX ? under(url, p) : url === p));
}

/** One registered route and the scope it declared (undefined: none; refused at start with auth on). */
export interface RouteScope {
  readonly method: string;
  readonly url: string;
  readonly scope: ApiScope | undefined;
  readonly open: boolean;
  /** A static asset of the console: open whatever SBC_API_OPEN_PATHS says, and without a scope. */
  readonly consoleAsset: boolean;
}

/**
 * Whether a route is a console asset, refusing a route that claims it without being one: only
 * GET (and Fastify's HEAD beside it) under CONSOLE_PREFIX, and no scope beside it, so the
 * mark cannot open a data route by mistake.
 */
function isConsoleAsset(route: Pick<RouteOptions, 'url' | 'method' | 'config'>): boolean {
  const mark = (route.config as { consoleAsset?: unknown } | undefined)?.consoleAsset;
  if (mark === undefined) return false;
  const methods = [route.method].flat();
  const what = `route ${methods.join(',')} ${route.url}`;
  if (mark !== true) throw new Error(`${what}: consoleAsset must be true or absent`);
  if (!under(route.url, CONSOLE_PREFIX)) throw new Error(`${what}: a console asset must be under ${CONSOLE_PREFIX}`);
  if (!methods.every((m) => m === 'GET' || m === 'HEAD')) throw new Error(`${what}: a console asset is answered to GET only`);
  if ((route.config as { scope?: unknown }).scope !== undefined) throw new Error(`${what}: a console asset declares no scope (it is answered without a token)`);
  return true;
}

const registered = new WeakMap<FastifyInstance, RouteScope[]>();

/** Every route registered on `app` since installAuth, with its scope (tests iterate over them). */
export function routeScopes(app: FastifyInstance): readonly RouteScope[] {
  return registered.get(app) ?? [];
}

/** `token:<name>` when the request's token was accepted, else `api:<client address>`: the audit log's actor. */
export function actorOf(req: FastifyRequest): string {
  return req.principal ? `token:${req.principal.name}` : `api:${req.ip}`;
}

type Outcome = 'accepted' | 'missing' | 'malformed' | 'unknown' | 'revoked' | 'forbidden' | 'error';

const INVALID = 'Bearer realm="sbc", error="invalid_token"';

/**
 * The API's one token check (call before any route is registered). Every route must declare
 * its scope in its config (`config: { scope: 'operate' }`); with auth on, one that does not
 * fails the start, so a new route cannot be left open by forgetting. The one exception is a
 * console asset (`config: { consoleAsset: true }`, GET under CONSOLE_PREFIX only), which is
 * always answered without a token. An onRequest hook
 * (before the body is read: an unauthenticated client cannot make the server parse 64 KiB)
 * then checks `Authorization: Bearer <token>` against the token store: 401 without a token or
 * with one that is malformed, unknown, revoked or has a wrong secret; 403 with one that lacks
 * the scope. Each check is counted (sbc_api_auth_total). Without `auth` nothing is checked.
 */
export function installAuth(app: FastifyInstance, auth: ApiAuth | undefined, metrics: Metrics): void {
  const routes: RouteScope[] = [];
  registered.set(app, routes);
  app.decorateRequest('principal', undefined);
  app.addHook('onRoute', (route: RouteOptions) => {
    const consoleAsset = isConsoleAsset(route);
    const scope = declaredScope(route);
    const open = consoleAsset || (auth !== undefined && isOpen(route.url, auth.openPaths));
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, scope, open, consoleAsset });
    if (consoleAsset) {
      const schema = (route.schema ??= {}) as { security?: unknown; description?: string };
      schema.description ??= CONSOLE_ASSET_DESCRIPTION;
      if (auth) schema.security = [];
      return;
    }
    if (!auth) return;
    if (scope === undefined) throw new Error(`route ${[route.method].flat().join(',')} ${route.url} declares no scope (config: { scope: 'read' | 'operate' | 'admin' })`);
    const schema = (route.schema ??= {}) as { security?: unknown; description?: string };
    schema.security = open ? [] : [{ [SECURITY_SCHEME]: [] }];
    schema.description ??= open ? 'Open: no token asked (SBC_API_OPEN_PATHS).' : `Needs a token with scope \`${scope}\` (or a scope above it).`;
  });
  if (!auth) return;

  const now = auth.now ?? Date.now;
  const refuse = (outcome: Outcome, err: Error) => {
    metrics.apiAuth.inc({ outcome });
    return err;
  };

  const authenticate = async (header: string | undefined): Promise<Principal> => {
    if (header === undefined || header === '') throw refuse('missing', new UnauthorizedError('this route needs an API token: Authorization: Bearer <token>'));
    const m = /^Bearer +(\S+) *$/i.exec(header);
    if (!m) throw refuse('malformed', new UnauthorizedError('the Authorization header is not "Bearer <token>"', INVALID));
    const text = m[1] as string;
    const digest = secretDigest(text);
    if (auth.bootstrapSha256 && sameDigest(digest, auth.bootstrapSha256)) return { name: 'bootstrap', scopes: ['admin'] };
    const parts = parseToken(text);
    if (!parts) throw refuse('malformed', new UnauthorizedError('not an API token (sbc_<id>_<secret>)', INVALID));
    let found;
    try {
      found = await auth.tokens.find(parts.id);
    } catch (err) {
      metrics.apiAuth.inc({ outcome: 'error' });
      throw err;
    }
    // An unknown id and a wrong secret get the same answer: the id alone proves nothing.
    if (!found || !sameDigest(secretDigest(parts.secret), found.secretSha256)) throw refuse('unknown', new UnauthorizedError('unknown API token', INVALID));
    const { token } = found;
    if (token.revokedAt !== null) throw refuse('revoked', new UnauthorizedError(`API token ${token.id} (${token.name}) was revoked at ${new Date(token.revokedAt).toISOString()}`, INVALID));
    const t = now();
    if (token.lastUsedAt === null || token.lastUsedAt <= t - LAST_USED_RESOLUTION_MS) {
      // Bookkeeping, not a decision: a failed write must not refuse the request.
      auth.tokens.touch(token.id, t).catch((err: unknown) => app.log.warn({ err: (err as Error).message, tokenId: token.id }, 'could not record a token\'s last use'));
    }
    return { name: token.name, tokenId: token.id, scopes: token.scopes };
  };

  app.addHook('onRequest', async (req) => {
    // No route: the not-found handler answers 404/405, which tells nothing a token protects.
    if (req.is404) return;
    // Checked at registration: only GET routes under CONSOLE_PREFIX carry the mark.
    if (req.routeOptions.config.consoleAsset === true) return;
    const url = req.routeOptions.url ?? '';
    if (isOpen(url, auth.openPaths)) return;
    const needed = declaredScope({ url, config: req.routeOptions.config });
    // installAuth refused every route without a scope at registration; a request never meets one.
    if (needed === undefined) throw refuse('forbidden', new ForbiddenError(`route ${url} declares no scope`));
    const principal = await authenticate(req.headers.authorization);
    if (!grants(principal.scopes, needed)) {
      throw refuse(
        'forbidden',
        new ForbiddenError(`token ${principal.name} (scopes ${principal.scopes.join(', ')}) may not use ${req.method} ${url}: it needs scope ${needed}`, `Bearer realm="sbc", error="insufficient_scope", scope="${needed}"`),
      );
    }
    metrics.apiAuth.inc({ outcome: 'accepted' });
    req.principal = principal;
  });
}
