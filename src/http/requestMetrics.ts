import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Metrics } from '../metrics/metrics.js';

/** The label for requests no route matched (404, 405, a bad URL, a refused HTTP request). */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * The route *pattern*, never the raw URL: label values stay bounded whatever clients send.
 * Node's parser only accepts the methods it knows, so the method label is bounded too.
 */
function routeLabel(req: FastifyRequest): string {
  return req.is404 ? UNMATCHED_ROUTE : (req.routeOptions.url ?? UNMATCHED_ROUTE);
}

/** Counts and times one answered request. */
export function observeRequest(metrics: Metrics, req: FastifyRequest, reply: FastifyReply): void {
  const route = routeLabel(req);
  metrics.httpRequests.inc({ route, method: req.method, status: String(reply.statusCode) });
  metrics.httpRequestSeconds.observe({ route, method: req.method }, reply.elapsedTime / 1000);
}

/**
 * Counts and times every answered request (call before any route is registered). Errors
 * Fastify's router answers through `frameworkErrors` skip the hooks: that path calls
 * observeRequest itself.
 */
export function installRequestMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', (req, reply, done) => {
    observeRequest(metrics, req, reply);
    done();
  });
}

/** A request Node's HTTP server refused before Fastify (no method known yet). */
export function countRefusedRequest(metrics: Metrics, status: number): void {
  metrics.httpRequests.inc({ route: UNMATCHED_ROUTE, method: 'unknown', status: String(status) });
}
