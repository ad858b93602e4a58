import { parseArgs } from 'node:util';
import type { ApiClientOptions } from './client.js';
import type { Command } from './command.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080';
export const DEFAULT_TIMEOUT_MS = 5000;
/** Node's timers take 32-bit delays: a longer one fires at once (TimeoutOverflowWarning). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The environment sbcctl reads; nothing else of it. */
export interface CliEnv {
  readonly SBC_API_URL?: string | undefined;
  /** Bearer token for the API (it checks none yet: tokens are on the roadmap). */
  readonly SBC_API_TOKEN?: string | undefined;
}

interface GlobalOption {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly value?: string;
  readonly help: string;
}

/** Options every command takes, before or after its name. */
const GLOBAL_OPTIONS = {
  url: { type: 'string', value: '<url>', help: `the API's base URL (default: $SBC_API_URL, else ${DEFAULT_URL})` },
  'timeout-ms': { type: 'string', value: '<ms>', help: `give up on the API after this long (default ${DEFAULT_TIMEOUT_MS})` },
  token: { type: 'string', value: '<token>', help: 'sent as Authorization: Bearer <token> (default: $SBC_API_TOKEN); the API checks none yet' },
  json: { type: 'boolean', help: "print the API's JSON answer as is" },
  help: { type: 'boolean', short: 'h', help: 'print this text' },
} as const satisfies Record<string, GlobalOption>;

type OptionName = keyof typeof GLOBAL_OPTIONS;

export type Invocation =
  | { readonly kind: 'help' }
  | { readonly kind: 'usage-error'; readonly message: string }
  | {
      readonly kind: 'command';
      readonly command: Command;
      readonly args: Readonly<Record<string, string>>;
      readonly json: boolean;
      readonly client: ApiClientOptions;
    };

export function usage(commands: readonly Command[]): string[] {
  const synopsis = (c: Command) => [c.name, ...c.args.map((a) => `<${a}>`)].join(' ');
  const width = Math.max(...commands.map((c) => synopsis(c).length));
  const flag = (name: string, o: GlobalOption) => `${'short' in o ? `-${o.short}, ` : ''}--${name}${o.value ? ` ${o.value}` : ''}`;
  const options = Object.entries(GLOBAL_OPTIONS) as [string, GlobalOption][];
  const flagWidth = Math.max(...options.map(([n, o]) => flag(n, o).length));
  return [
    'usage: sbcctl [options] <command> [arguments]',
    '',
    "Reads the elastic SBC control plane's HTTP API.",
    '',
    'commands:',
    ...commands.map((c) => `  ${synopsis(c).padEnd(width)}  ${c.summary}`),
    '',
    'options:',
    ...options.map(([n, o]) => `  ${flag(n, o).padEnd(flagWidth)}  ${o.help}`),
    '',
    'exit status: 0 ok, 1 the API answered an error, 2 usage error, 3 the API could not be reached',
  ];
}

function apiUrl(raw: string): string | undefined {
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:' ? raw : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads argv without throwing: every problem is a usage error with its reason. Parsed
 * leniently (tokens) and checked here, so the messages name the option as typed.
 */
export function parseInvocation(argv: readonly string[], env: CliEnv, commands: readonly Command[]): Invocation {
  const { tokens } = parseArgs({ args: [...argv], options: GLOBAL_OPTIONS, strict: false, allowPositionals: true, tokens: true });
  const values: Partial<Record<OptionName, string | true>> = {};
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') positionals.push(t.value);
    if (t.kind !== 'option') continue;
    if (!(t.name in GLOBAL_OPTIONS)) return { kind: 'usage-error', message: `unknown option ${t.rawName}` };
    const name = t.name as OptionName;
    const opt: GlobalOption = GLOBAL_OPTIONS[name];
    if (opt.type === 'boolean') {
      if (t.value !== undefined) return { kind: 'usage-error', message: `option ${t.rawName} takes no value` };
      values[name] = true;
    } else {
      // `--url --json`: a value that looks like an option is a forgotten value, not a URL.
      if (t.value === undefined || (!t.inlineValue && t.value.startsWith('-'))) {
        return { kind: 'usage-error', message: `option ${t.rawName} needs a value` };
      }
      values[name] = t.value;
    }
  }
  if (values.help === true || positionals[0] === 'help') return { kind: 'help' };

  const [name, ...rest] = positionals;
  if (name === undefined) return { kind: 'usage-error', message: 'no command given' };
  const command = commands.find((c) => c.name === name);
  if (!command) return { kind: 'usage-error', message: `unknown command ${JSON.stringify(name)}` };
  if (rest.length < command.args.length) {
    return { kind: 'usage-error', message: `${name}: missing ${command.args.slice(rest.length).map((a) => `<${a}>`).join(' ')}` };
  }
  if (rest.length > command.args.length) {
    return { kind: 'usage-error', message: `${name}: unexpected argument ${JSON.stringify(rest[command.args.length])}` };
  }

  const rawUrl = typeof values.url === 'string' ? values.url : env.SBC_API_URL || DEFAULT_URL;
  const baseUrl = apiUrl(rawUrl);
  if (baseUrl === undefined) {
    const from = typeof values.url === 'string' ? '--url' : 'SBC_API_URL';
    return { kind: 'usage-error', message: `${from}: not an http or https URL: ${JSON.stringify(rawUrl)}` };
  }
  const rawTimeout = typeof values['timeout-ms'] === 'string' ? values['timeout-ms'] : String(DEFAULT_TIMEOUT_MS);
  const timeoutMs = /^[0-9]+$/.test(rawTimeout) ? Number(rawTimeout) : NaN;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
    return { kind: 'usage-error', message: `--timeout-ms: not a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}: ${JSON.stringify(rawTimeout)}` };
  }
  const token = typeof values.token === 'string' ? values.token : env.SBC_API_TOKEN || undefined;

  return {
    kind: 'command',
    command,
    args: Object.fromEntries(command.args.map((a, i) => [a, rest[i] ?? ''])),
    json: values.json === true,
    client: { baseUrl, timeoutMs, ...(token !== undefined ? { token } : {}) },
  };
}
