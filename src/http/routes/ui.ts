import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { CONSOLE_PREFIX } from '../auth.js';
import { CONSOLE_PAGE } from '../console/page.js';
import { CONSOLE_SCRIPT } from '../console/script.js';
import { CONSOLE_STYLE } from '../console/style.js';

/**
 * What the console's answers allow the browser: its own script, style and API calls from this
 * origin, nothing inline, no plugin, no frame around it, no form posted anywhere. The script
 * writes data as text only; this is the second wall if it ever did not.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ASSETS = [
  { url: CONSOLE_PREFIX, type: 'text/html; charset=utf-8', body: CONSOLE_PAGE, summary: 'The operator console' },
  { url: `${CONSOLE_PREFIX}/console.js`, type: 'text/javascript; charset=utf-8', body: CONSOLE_SCRIPT, summary: "The operator console's script" },
  { url: `${CONSOLE_PREFIX}/console.css`, type: 'text/css; charset=utf-8', body: CONSOLE_STYLE, summary: "The operator console's style sheet" },
] as const;

/**
 * `/ui`: the operator console, a page, its script and its style, served as they are (no build
 * step, no external asset). They carry no data, so they are console assets, answered without a
 * token even with auth on (a browser's navigation sends no Authorization header); the page asks
 * the API for everything with the operator's token. Hidden from the OpenAPI document: they are
 * not part of the API.
 */
export const uiRoutes: FastifyPluginCallbackTypebox = (app, _opts, done) => {
  for (const asset of ASSETS) {
    app.get(asset.url, { config: { consoleAsset: true }, schema: { hide: true, summary: asset.summary } }, (_req, reply) =>
      reply
        .header('content-type', asset.type)
        .header('content-security-policy', CONSOLE_CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        // The page is small and changes with the control plane's version: always asked anew.
        .header('cache-control', 'no-cache')
        .send(asset.body),
    );
  }
  done();
};
