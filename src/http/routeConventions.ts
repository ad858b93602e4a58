import { Type } from '@sinclair/typebox';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { MethodNotAllowedError, RouteNotFoundError } from './errors.js';
import { ErrorBody } from './schemas.js';

/** A route's query string when it declares none: no parameter at all is accepted. */
const NoQuery = Type.Object({}, { additionalProperties: false });

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * find-my-way's pattern syntax as far as this API uses it: `:name` (optionally with a
 * `(regex)` suffix, approximated as any segment) matches one segment, a final `*` the rest.
 */
function patternRegExp(url: string): RegExp {
  const body = url
    .split('/')
    .map((seg) => (seg === '*' ? '.*' : seg.split(/(:[A-Za-z0-9_]+(?:\([^)]*\))?)/).map((p) => (p.startsWith(':') ? '[^/]+' : escapeRegExp(p))).join('')))
    .join('/');
  return new RegExp(`^${body}$`);
}

/** Route patterns and their methods, as registered; answers "which methods does this path have". */
export class RouteMethods {
  private readonly byPattern = new Map<string, { match: RegExp; methods: Set<string> }>();

  add(url: string, methods: readonly string[]): void {
    const entry = this.byPattern.get(url) ?? { match: patternRegExp(url), methods: new Set<string>() };
    for (const m of methods) entry.methods.add(m.toUpperCase());
    // Fastify answers HEAD on every GET route (exposeHeadRoutes).
    if (entry.methods.has('GET')) entry.methods.add('HEAD');
    this.byPattern.set(url, entry);
  }

  /** Every method some route has for this concrete path, sorted; empty when no pattern matches. */
  allowed(path: string): string[] {
    const methods = new Set<string>();
    for (const { match, methods: ms } of this.byPattern.values()) if (match.test(path)) ms.forEach((m) => methods.add(m));
    return [...methods].sort();
  }
}

function pathOf(url: string): string {
  const path = url.split('?', 1)[0] ?? url;
  try {
    return decodeURI(path);
  } catch {
    return path;
  }
}

/**
 * Conventions every route gets for free, whoever registers it (so call this before any
 * route): unknown query parameters are refused (a route without a querystring schema
 * takes none; one with a schema must refuse extras itself), error answers are documented
 * as ErrorBody, and a known path with a wrong method is 405 with Allow, not 404.
 */
export function installRouteConventions(app: FastifyInstance): RouteMethods {
  const routes = new RouteMethods();
  app.addHook('onRoute', (route: RouteOptions) => {
    routes.add(route.url, [route.method].flat());
    const schema = (route.schema ??= {});
    schema.querystring ??= NoQuery;
    const query = schema.querystring as { additionalProperties?: unknown };
    if (query.additionalProperties !== false) {
      throw new Error(`route ${route.url}: its querystring schema must set additionalProperties: false (unknown parameters are refused)`);
    }
    const response = (schema.response ??= {}) as Record<string, unknown>;
    response['4XX'] ??= ErrorBody;
    response['5XX'] ??= ErrorBody;
  });
  app.setNotFoundHandler((req) => {
    const path = pathOf(req.url);
    const allowed = routes.allowed(path);
    if (allowed.length > 0 && !allowed.includes(req.method)) throw new MethodNotAllowedError(req.method, path, allowed);
    throw new RouteNotFoundError(req.method, path);
  });
  return routes;
}
