import { secretDigest } from '../core/apiTokens.js';
import { oneOf, readConfigFile, type VarSpec } from './env.js';

/**
 * The paths that may be left open (no token asked) while SBC_API_AUTH=on: probes, the
 * Prometheus scrape and the API's own description. `/docs` covers the docs UI and everything
 * under it (its own copy of the document, /docs/json, included). Any other route needs a token.
 */
export const OPENABLE_PATHS = ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs'] as const;
export type OpenablePath = (typeof OPENABLE_PATHS)[number];

/** Shortest and longest bootstrap secret accepted: at least 32 characters, as `openssl rand -hex 16` makes. */
const BOOTSTRAP_MIN = 32;
const BOOTSTRAP_MAX = 1024;

export interface BootstrapToken {
  readonly file: string;
  /** SHA-256 of the file's secret: the secret itself is not kept after start-up. */
  readonly sha256: Buffer;
}

const bootstrapTokenFile: VarSpec<BootstrapToken | null> = {
  description: `File holding a secret (${BOOTSTRAP_MIN} to ${BOOTSTRAP_MAX} printable characters, no spaces; one trailing newline ignored) accepted as an \`admin\` token, actor \`token:bootstrap\`: for the first \`sbcctl token create\`; read at start. Empty: none`,
  default: null,
  parse(raw) {
    const text = readConfigFile(raw);
    const secret = text.replace(/\r?\n$/, '');
    if (!/^[\x21-\x7e]*$/.test(secret)) throw new Error(`${raw}: the secret must be printable ASCII without spaces or line breaks`);
    if (secret.length < BOOTSTRAP_MIN || secret.length > BOOTSTRAP_MAX) throw new Error(`${raw}: the secret must be ${BOOTSTRAP_MIN} to ${BOOTSTRAP_MAX} characters, not ${secret.length}`);
    return Object.freeze({ file: raw, sha256: secretDigest(secret) });
  },
};

const openPaths: VarSpec<readonly OpenablePath[]> = {
  description: `Comma-separated paths answered without a token while SBC_API_AUTH=on, from ${OPENABLE_PATHS.join(', ')}; \`none\`: every route needs one`,
  default: OPENABLE_PATHS,
  parse(raw) {
    if (raw === 'none') return Object.freeze([]);
    const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
    const unknown = items.filter((i) => !(OPENABLE_PATHS as readonly string[]).includes(i));
    if (unknown.length > 0) throw new Error(`${unknown.join(', ')}: not one of ${OPENABLE_PATHS.join(', ')} (or none)`);
    return Object.freeze([...new Set(items)] as OpenablePath[]);
  },
};

/** The HTTP API's authentication (README, API tokens). */
export const apiAuthSpec = {
  SBC_API_AUTH: oneOf(
    'API tokens: on (every route but SBC_API_OPEN_PATHS needs `Authorization: Bearer <token>` with the route\'s scope) or off (no route asks for one; a warning is logged at start)',
    'on',
    ['on', 'off'],
  ),
  SBC_API_BOOTSTRAP_TOKEN_FILE: bootstrapTokenFile,
  SBC_API_OPEN_PATHS: openPaths,
};

export interface ApiAuthConfig {
  readonly bootstrap: BootstrapToken | undefined;
  readonly openPaths: readonly OpenablePath[];
}

/** The API's authentication when SBC_API_AUTH=on; undefined when off. */
export function apiAuthOf(
  parsed: { readonly SBC_API_AUTH?: 'on' | 'off'; readonly SBC_API_BOOTSTRAP_TOKEN_FILE?: BootstrapToken | null; readonly SBC_API_OPEN_PATHS?: readonly OpenablePath[] },
  problems: string[],
): ApiAuthConfig | undefined {
  if (parsed.SBC_API_AUTH === 'off' && parsed.SBC_API_BOOTSTRAP_TOKEN_FILE) {
    problems.push('SBC_API_BOOTSTRAP_TOKEN_FILE is set but SBC_API_AUTH=off: no token would be asked for (set SBC_API_AUTH=on)');
  }
  if (parsed.SBC_API_AUTH !== 'on') return undefined;
  return Object.freeze({ bootstrap: parsed.SBC_API_BOOTSTRAP_TOKEN_FILE ?? undefined, openPaths: parsed.SBC_API_OPEN_PATHS ?? OPENABLE_PATHS });
}
