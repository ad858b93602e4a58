import { Script } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { OPENABLE_PATHS } from '../../../src/config/apiAuth.js';
import { CONSOLE_SCRIPT } from '../../../src/http/console/script.js';
import { CONSOLE_CSP } from '../../../src/http/routes/ui.js';
import { InMemoryTokenStore } from '../../fakes/inMemoryTokenStore.js';
import { testApp, type TestApp } from './harness.js';

const ASSETS = [
  ['/ui', 'text/html; charset=utf-8'],
  ['/ui/console.js', 'text/javascript; charset=utf-8'],
  ['/ui/console.css', 'text/css; charset=utf-8'],
] as const;

/** The script with its string literals and comments blanked, so a check looks at code, not at messages. */
function codeOnly(js: string): string {
  return js
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/'(?:[^'\\\n]|\\.)*'/g, "''")
    .replace(/\/\/[^\n]*/g, ' ');
}

describe('the operator console (/ui)', () => {
  let t: TestApp;
  afterEach(() => t.app.close());

  it.each(['off', 'on'] as const)('serves the page, its script and its style with their content types, a strict CSP and nosniff (auth %s, no token sent)', async (mode) => {
    const tokens = new InMemoryTokenStore();
    t = await testApp(mode === 'on' ? { tokens, auth: { tokens, openPaths: OPENABLE_PATHS } } : { tokens });
    for (const [url, type] of ASSETS) {
      for (const method of ['GET', 'HEAD'] as const) {
        const res = await t.app.inject({ method, url });
        expect([method, url, res.statusCode, res.headers['content-type'], res.headers['content-security-policy'], res.headers['x-content-type-options'], res.headers['referrer-policy']]).toEqual([
          method, url, 200, type, CONSOLE_CSP, 'nosniff', 'no-referrer',
        ]);
      }
    }
    expect((await t.app.inject('/v1/nodes')).statusCode).toBe(mode === 'on' ? 401 : 200);
  });

  it('the CSP allows only this origin, and nothing inline or evaluated', () => {
    const directives: Record<string, string[]> = Object.fromEntries(CONSOLE_CSP.split('; ').map((d): [string, string[]] => [d.split(' ')[0]!, d.split(' ').slice(1)]));
    expect(directives['default-src']).toEqual(["'self'"]);
    expect(directives['script-src']).toEqual(["'self'"]);
    expect(directives['style-src']).toEqual(["'self'"]);
    expect(directives['connect-src']).toEqual(["'self'"]);
    expect(directives['frame-ancestors']).toEqual(["'none'"]);
    expect(directives['object-src']).toEqual(["'none'"]);
    expect(CONSOLE_CSP).not.toMatch(/unsafe|data:|blob:|\*|http/);
  });

  it('the page has no inline script, style or event handler and loads nothing from another origin', async () => {
    t = await testApp();
    const page = (await t.app.inject('/ui')).body;
    const scripts = [...page.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.map((m) => [m[1]!.trim(), m[2]])).toEqual([['src="/ui/console.js" defer', '']]);
    expect([...page.matchAll(/<link\b[^>]*>/g)].map((m) => m[0])).toEqual(['<link rel="stylesheet" href="/ui/console.css">']);
    expect(page).not.toMatch(/<style\b/i);
    expect(page).not.toMatch(/\sstyle=/i);
    expect(page).not.toMatch(/\son[a-z]+=/i);
    expect(page).not.toMatch(/(src|href)="(?!\/ui\/|#)/);
    expect(page).not.toMatch(/https?:|\/\//);
    // Every element the script fills is there.
    for (const id of ['token', 'token-form', 'token-needed', 'action-result', 'nodes', 'rooms', 'calls', 'trace', 'trace-legs', 'trace-decisions']) expect([id, page.includes(`id="${id}"`)]).toEqual([id, true]);
  });

  it('the script is valid JavaScript that writes data as text only: no innerHTML, outerHTML, insertAdjacentHTML, document.write or eval', async () => {
    t = await testApp();
    const js = (await t.app.inject('/ui/console.js')).body;
    expect(js).toBe(CONSOLE_SCRIPT);
    expect(() => new Script(js, { filename: 'console.js' })).not.toThrow();
    const code = codeOnly(js);
    for (const sink of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write', 'eval(', 'Function(', 'createContextualFragment', 'DOMParser', 'srcdoc']) {
      expect([sink, js.includes(sink)]).toEqual([sink, false]);
    }
    // Timers get functions, never code strings.
    expect([...code.matchAll(/set(?:Timeout|Interval)\(\s*(['"])/g)]).toEqual([]);
    // setAttribute is reached through el() only, whose callers name the attribute literally;
    // none of them is a handler or a URL taken from data.
    expect([...js.matchAll(/\{ ?'?(on[a-z]+|src|srcdoc|style)'?:/g)].map((m) => m[1])).toEqual([]);
    expect([...js.matchAll(/href: ([^,}]+)/g)].map((m) => m[1]!.trim())).toEqual(["'#trace/' + encodeURIComponent(l.uuid)"]);
  });

  it('the script sends the operator\'s token from sessionStorage as a bearer token, polls every 2 s, and shows the API\'s errors', () => {
    const code = CONSOLE_SCRIPT;
    expect(code).toContain("sessionStorage.getItem(TOKEN_KEY)");
    expect(code).toContain("headers.authorization = 'Bearer ' + t");
    expect(code).not.toContain('localStorage');
    expect(code).toContain('var POLL_MS = 2000;');
    expect(code).toContain('setInterval(refresh, POLL_MS)');
    // Every API path it asks is one the API has.
    const paths = [...code.matchAll(/api\('(GET|POST)', '([^']+)'/g)].map((m) => `${m[1]} ${m[2]}`).sort();
    expect(paths).toEqual(['GET /v1/calls/', 'GET /v1/calls?limit=20', 'GET /v1/cluster', 'GET /v1/nodes', 'GET /v1/rooms']);
    expect(code).toContain("'/v1/nodes/' + encodeURIComponent(node.nodeId) + '/' + kind");
    // 401 asks for a token; every refusal is printed with its status and code, none swallowed.
    expect(code).toMatch(/status === 401\) askForToken\(err\)/);
    expect(code).toContain("'HTTP ' + this.status + ' ' + this.code + ': ' + this.message");
    expect(code).toContain("refused: ' + String(err), true)");
    expect(codeOnly(code)).not.toMatch(/catch\s*\(\w*\)\s*\{\s*\}/);
  });

  it('is left out of the OpenAPI document (not part of the API) and refuses query parameters like every route', async () => {
    t = await testApp();
    const doc = (await t.app.inject('/openapi.json')).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/ui'))).toEqual([]);
    const res = await t.app.inject('/ui?token=x');
    expect([res.statusCode, res.json<{ error: string }>().error]).toEqual([400, 'unknown-parameter']);
    expect((await t.app.inject({ method: 'POST', url: '/ui' })).statusCode).toBe(405);
  });
});
