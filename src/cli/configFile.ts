import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * sbcctl's config file: `$SBCCTL_CONFIG`, else `$XDG_CONFIG_HOME/sbcctl/config.json`, else
 * `~/.config/sbcctl/config.json`. JSON with `url` and `token`, both optional:
 *
 *   {"url": "https://sbc.example:8080", "token": "sbc_0123456789abcdef_..."}
 *
 * Flags win over the environment, which wins over the file. A file named by SBCCTL_CONFIG
 * must exist; the default one may be absent. Anything else in it is refused (a typo such as
 * `"tokn"` would otherwise send no token, silently).
 */
export interface CliFileConfig {
  /** Where it was read from (named in errors). */
  readonly path: string;
  readonly url?: string;
  readonly token?: string;
  /** Said on stderr, the command still runs: a token in a file others may read. */
  readonly warning?: string;
}

export interface ConfigFileEnv {
  readonly SBCCTL_CONFIG?: string | undefined;
  readonly XDG_CONFIG_HOME?: string | undefined;
  readonly HOME?: string | undefined;
}

const KEYS = ['url', 'token'] as const;

/** The file's path, and whether it must exist; undefined when neither variable gives one. */
export function configFilePath(env: ConfigFileEnv): { path: string; required: boolean } | undefined {
  if (env.SBCCTL_CONFIG) return { path: env.SBCCTL_CONFIG, required: true };
  const base = env.XDG_CONFIG_HOME || (env.HOME ? join(env.HOME, '.config') : undefined);
  return base ? { path: join(base, 'sbcctl', 'config.json'), required: false } : undefined;
}

/** What the file says; `{error}` (a usage error, exit 2) when it cannot be used; undefined when there is none. */
export function loadConfigFile(
  env: ConfigFileEnv,
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
  modeOf: (path: string) => number = (p) => statSync(p).mode,
): CliFileConfig | { error: string } | undefined {
  const where = configFilePath(env);
  if (!where) return undefined;
  const { path } = where;
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !where.required) return undefined;
    return { error: `config file ${path}: cannot read it (${code ?? (err as Error).message})` };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { error: `config file ${path}: not JSON (${(err as Error).message})` };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { error: `config file ${path}: not a JSON object` };
  const unknown = Object.keys(body).filter((k) => !(KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) return { error: `config file ${path}: unknown key ${JSON.stringify(unknown[0])}; it takes ${KEYS.join(', ')}` };
  const out: { path: string; url?: string; token?: string; warning?: string } = { path };
  for (const k of KEYS) {
    const v = (body as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v === '') return { error: `config file ${path}: "${k}" must be a non-empty string` };
    out[k] = v;
  }
  if (out.token !== undefined) {
    let mode: number | undefined;
    try {
      mode = modeOf(path) & 0o777;
    } catch {
      // Read a moment ago, gone now: nothing to warn about.
    }
    if (mode !== undefined && (mode & 0o077) !== 0) out.warning = `config file ${path} holds a token and others may read it (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 ${path}`;
  }
  return out;
}
