import { readFileSync } from 'node:fs';
/**
 * A tiny declarative parser over environment variables. Each program declares its
 * variables once; `readEnv` checks all of them, the program adds the problems of its
 * checks across variables, and one error reports every problem; the result is a typed,
 * frozen object. Nothing else in the code reads process.env.
 */
export interface VarSpec<T> {
  readonly description: string;
  /** Used when the variable is unset or empty; no default means required. */
  readonly default?: T;
  parse(raw: string): T;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

export type Spec = Record<string, VarSpec<unknown>>;
export type Parsed<S extends Spec> = { readonly [K in keyof S]: S[K] extends VarSpec<infer T> ? T : never };

/**
 * Every variable that parsed, and a problem for each that did not. A program runs its
 * checks across variables on what parsed, adds their problems to the same list and only
 * then throws, so one start-up shows every problem, never one at a time.
 */
export function readEnv<S extends Spec>(spec: S, env: Record<string, string | undefined>): { values: Partial<Parsed<S>>; problems: string[] } {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, v] of Object.entries(spec)) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') {
      if (v.default === undefined) problems.push(`${name} is required (${v.description})`);
      else out[name] = v.default;
      continue;
    }
    try {
      out[name] = v.parse(raw.trim());
    } catch (err) {
      problems.push(`${name}=${JSON.stringify(raw)} is invalid: ${(err as Error).message}`);
    }
  }
  return { values: out as Partial<Parsed<S>>, problems };
}

/** Every variable parsed, or a ConfigError listing each one that did not. */
export function parseEnv<S extends Spec>(spec: S, env: Record<string, string | undefined>): Parsed<S> {
  const { values, problems } = readEnv(spec, env);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(values) as Parsed<S>;
}

export const str = (description: string, def?: string, pattern?: RegExp): VarSpec<string> => ({
  description,
  default: def,
  parse(raw) {
    if (pattern && !pattern.test(raw)) throw new Error(`must match ${pattern}`);
    return raw;
  },
});

export const int = (description: string, def: number | undefined, min: number, max: number): VarSpec<number> => ({
  description,
  default: def,
  parse(raw) {
    if (!/^-?[0-9]+$/.test(raw)) throw new Error('must be a whole number');
    const n = Number(raw);
    if (n < min || n > max) throw new Error(`must be between ${min} and ${max}`);
    return n;
  },
});

export const oneOf = <T extends string>(description: string, def: T | undefined, values: readonly T[]): VarSpec<T> => ({
  description,
  default: def,
  parse(raw) {
    if (!(values as readonly string[]).includes(raw)) throw new Error(`must be one of ${values.join(', ')}`);
    return raw as T;
  },
});

export const url = (description: string, def: string | undefined, protocols: readonly string[]): VarSpec<string> => ({
  description,
  default: def,
  parse(raw) {
    const u = new URL(raw);
    if (!protocols.includes(u.protocol)) throw new Error(`protocol must be one of ${protocols.join(', ')}`);
    return raw;
  },
});

export const urlList = (description: string, def: readonly string[] | undefined, protocols: readonly string[]): VarSpec<readonly string[]> => ({
  description,
  default: def,
  parse(raw) {
    const items = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    if (items.length === 0) throw new Error('must list at least one URL');
    for (const item of items) {
      const u = new URL(item);
      if (!protocols.includes(u.protocol)) throw new Error(`${item}: protocol must be one of ${protocols.join(', ')}`);
    }
    return Object.freeze(items);
  },
});

/** Renders a spec as a Markdown table for the README's configuration reference. */
export function describeSpec(spec: Spec): string {
  const rows = Object.entries(spec).map(([name, v]) => {
    const shown = Array.isArray(v.default) ? v.default.join(',') : JSON.stringify(v.default)?.replace(/^"|"$/g, '');
    const def = v.default === undefined ? '(required)' : v.default === null ? '(unset)' : shown === '' ? '(empty)' : `\`${shown}\``;
    return `| \`${name}\` | ${def} | ${v.description} |`;
  });
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

/** A file a variable names, read at start-up; a clear error naming the file and the reason otherwise. */
export function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}
