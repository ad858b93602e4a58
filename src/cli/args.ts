import { parseArgs } from 'node:util';
import type { ApiClientOptions, ApiRequest } from './client.js';
import { synopsis, UsageError, type Command, type CommandInput, type CommandOption } from './command.js';
import type { CliFileConfig, ConfigFileEnv } from './configFile.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080';
export const DEFAULT_TIMEOUT_MS = 5000;
/** Node's timers take 32-bit delays: a longer one fires at once (TimeoutOverflowWarning). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The environment sbcctl reads; nothing else of it. */
export interface CliEnv extends ConfigFileEnv {
  readonly SBC_API_URL?: string | undefined;
  /** Bearer token for the API (`sbcctl token create`). */
  readonly SBC_API_TOKEN?: string | undefined;
}

interface GlobalOption extends CommandOption {
  readonly short?: string;
}

/** Options every command takes, before or after its name. */
const GLOBAL_OPTIONS = {
  url: { type: 'string', value: '<url>', help: `the API's base URL (default: $SBC_API_URL, else the config file's "url", else ${DEFAULT_URL})` },
  'timeout-ms': { type: 'string', value: '<ms>', help: `give up on the API after this long (default ${DEFAULT_TIMEOUT_MS})` },
  token: { type: 'string', value: '<token>', help: 'sent as Authorization: Bearer <token> (default: $SBC_API_TOKEN, else the config file\'s "token")' },
  json: { type: 'boolean', help: "print the API's JSON answer as is" },
  help: { type: 'boolean', short: 'h', help: 'print this text (after a command: that command\'s)' },
} as const satisfies Record<string, GlobalOption>;

type OptionName = keyof typeof GLOBAL_OPTIONS;

export type Invocation =
  | { readonly kind: 'help'; readonly command?: Command }
  /** `command`: the error is that command's, and its usage is the one to show. */
  | { readonly kind: 'usage-error'; readonly message: string; readonly command?: Command }
  | {
      readonly kind: 'command';
      readonly command: Command;
      readonly request: ApiRequest;
      /** What the command was asked (its print sees it too). */
      readonly input: CommandInput;
      readonly json: boolean;
      readonly client: ApiClientOptions;
    };

const EXIT_STATUS = [
  'exit status: 0 ok, 1 the API answered an error, 2 usage error, 3 the API could not be reached,',
  '  4 the API refused the token (401: none, unknown or revoked; 403: its scope is too low)',
];
const CONFIG_FILE = [
  'config file: $SBCCTL_CONFIG, else ~/.config/sbcctl/config.json ($XDG_CONFIG_HOME/sbcctl if set),',
  '  JSON {"url": ..., "token": ...}; flags win over the environment, which wins over the file',
];

function optionLines(options: readonly (readonly [string, CommandOption & { short?: string }])[]): string[] {
  const flag = (name: string, o: CommandOption & { short?: string }) => `${o.short !== undefined ? `-${o.short}, ` : ''}--${name}${o.value ? ` ${o.value}` : ''}`;
  const width = Math.max(...options.map(([n, o]) => flag(n, o).length));
  return options.map(([n, o]) => `  ${flag(n, o).padEnd(width)}  ${o.help}`);
}

const globalOptionLines = () => optionLines(Object.entries(GLOBAL_OPTIONS));

export function usage(commands: readonly Command[]): string[] {
  const width = Math.max(...commands.map((c) => synopsis(c).length));
  return [
    'usage: sbcctl [options] <command> [arguments]',
    '',
    "Reads the elastic SBC control plane's HTTP API, and drains and scales its pool.",
    '',
    'commands (sbcctl <command> --help: its own options):',
    ...commands.map((c) => `  ${synopsis(c).padEnd(width)}  ${c.summary}`),
    '',
    'options:',
    ...globalOptionLines(),
    '',
    ...CONFIG_FILE,
    '',
    ...EXIT_STATUS,
  ];
}

/** One command's usage: its synopsis, what it does, its own options, then those of every command. */
export function commandUsage(c: Command): string[] {
  const own = Object.entries(c.options ?? {});
  return [
    `usage: sbcctl [options] ${synopsis(c)}${own.length > 0 ? ' [options]' : ''}`,
    '',
    c.summary,
    '',
    ...(own.length > 0 ? [`options of ${c.name}:`, ...optionLines(own), ''] : []),
    'options of every command:',
    ...globalOptionLines(),
    '',
    ...EXIT_STATUS,
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

type Values = Record<string, string | true>;

/**
 * Checks every option token against the options declared for it: an unknown one, a value
 * given to a boolean, a string option with none are each a usage error naming the option as
 * typed. parseArgs' strict mode would find the same but say it in its own words (and throw);
 * its tokens let the message be sbcctl's.
 */
function checkedOptions(
  tokens: NonNullable<ReturnType<typeof parseArgs>['tokens']>,
  allowed: (name: string, index: number) => CommandOption | undefined,
): { values: Values; positionals: { value: string; index: number }[] } | { error: string } {
  const values: Values = {};
  const positionals: { value: string; index: number }[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') positionals.push({ value: t.value, index: t.index });
    if (t.kind !== 'option') continue;
    const opt = allowed(t.name, t.index);
    if (!opt) return { error: `unknown option ${t.rawName}` };
    if (opt.type === 'boolean') {
      if (t.value !== undefined) return { error: `option ${t.rawName} takes no value` };
      values[t.name] = true;
    } else {
      // `--url --json`: a value that looks like an option is a forgotten value, not a URL.
      if (t.value === undefined || (!t.inlineValue && t.value.startsWith('-'))) return { error: `option ${t.rawName} needs a value` };
      values[t.name] = t.value;
    }
  }
  return { values, positionals };
}

/**
 * Reads argv without throwing: every problem is a usage error with its reason. Two passes:
 * the first, with the options every command takes, finds the command's name (the first
 * positional); the second reads the whole line again with that command's own options too,
 * which count only after its name (`sbcctl operations --limit 5`).
 */
export function parseInvocation(argv: readonly string[], env: CliEnv, commands: readonly Command[], now: number = Date.now(), file?: CliFileConfig): Invocation {
  const globalOf = (name: string) => (Object.hasOwn(GLOBAL_OPTIONS, name) ? (GLOBAL_OPTIONS[name as OptionName] as GlobalOption) : undefined);
  const first = parseArgs({ args: [...argv], options: GLOBAL_OPTIONS, strict: false, allowPositionals: true, tokens: true }).tokens;
  const nameToken = first.find((t) => t.kind === 'positional');
  const beforeName = first.filter((t) => nameToken === undefined || t.index < nameToken.index);
  const early = checkedOptions(beforeName, globalOf);
  if ('error' in early) return { kind: 'usage-error', message: early.error };
  const helpAsked = () => first.some((t) => t.kind === 'option' && t.name === 'help');

  if (nameToken === undefined) return helpAsked() ? { kind: 'help' } : { kind: 'usage-error', message: 'no command given' };
  const positionals = first.filter((t) => t.kind === 'positional');
  /** The command named by the positionals from `at`: one word (`drain`), or a group and its verb (`token create`). */
  const named = (at: number): { command?: Command; words: number; group?: string } => {
    const word = positionals[at]?.value;
    const verbs = commands.filter((c) => c.name.startsWith(`${word} `));
    if (verbs.length === 0) {
      const c = commands.find((x) => x.name === word);
      return c ? { command: c, words: 1 } : { words: 1 };
    }
    const verb = positionals[at + 1]?.value;
    const c = verbs.find((x) => x.name === `${word} ${verb}`);
    return c ? { command: c, words: 2 } : { words: 1, ...(word !== undefined ? { group: word } : {}) };
  };
  const groupError = (group: string, verb: string | undefined): string => {
    const verbs = commands.filter((c) => c.name.startsWith(`${group} `)).map((c) => c.name.slice(group.length + 1));
    return `${verb === undefined ? `${group}: missing` : `${group}: unknown`} subcommand${verb === undefined ? '' : ` ${JSON.stringify(verb)}`}; one of ${verbs.join(', ')}`;
  };
  if (nameToken.value === 'help') {
    // `sbcctl help drain`, `sbcctl help token create`: that command's usage.
    const c = named(1).command;
    return c ? { kind: 'help', command: c } : { kind: 'help' };
  }
  const found = named(0);
  const command = found.command;
  if (!command) {
    if (helpAsked()) return { kind: 'help' };
    if (found.group !== undefined) return { kind: 'usage-error', message: groupError(found.group, positionals[1]?.value) };
    return { kind: 'usage-error', message: `unknown command ${JSON.stringify(nameToken.value)}` };
  }
  // The token that ends the command's name: its own options count only after it.
  const lastNameToken = positionals[found.words - 1] ?? nameToken;

  const own = command.options ?? {};
  const options: Record<string, CommandOption> = { ...GLOBAL_OPTIONS, ...own };
  const second = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true }).tokens;
  const ownOf = (name: string) => (Object.hasOwn(own, name) ? own[name] : undefined);
  const parsed = checkedOptions(second, (name, index) => globalOf(name) ?? (index > lastNameToken.index ? ownOf(name) : undefined));
  const fail = (message: string): Invocation => ({ kind: 'usage-error', message, command });
  if ('error' in parsed) return fail(parsed.error);
  if (parsed.values.help === true) return { kind: 'help', command };

  const name = command.name;
  const rest = parsed.positionals.filter((p) => p.index > lastNameToken.index || p.index < nameToken.index).map((p) => p.value);
  const optional = command.optionalArgs ?? [];
  if (rest.length < command.args.length) return fail(`${name}: missing ${command.args.slice(rest.length).map((a) => `<${a}>`).join(' ')}`);
  if (rest.length > command.args.length + optional.length) return fail(`${name}: unexpected argument ${JSON.stringify(rest[command.args.length + optional.length])}`);

  const { values } = parsed;
  const [rawUrl, urlFrom] =
    typeof values.url === 'string' ? [values.url, '--url'] : env.SBC_API_URL ? [env.SBC_API_URL, 'SBC_API_URL'] : file?.url !== undefined ? [file.url, `config file ${file.path}: "url"`] : [DEFAULT_URL, 'default'];
  const baseUrl = apiUrl(rawUrl);
  if (baseUrl === undefined) return fail(`${urlFrom}: not an http or https URL: ${JSON.stringify(rawUrl)}`);
  const rawTimeout = typeof values['timeout-ms'] === 'string' ? values['timeout-ms'] : String(DEFAULT_TIMEOUT_MS);
  const timeoutMs = /^[0-9]+$/.test(rawTimeout) ? Number(rawTimeout) : NaN;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
    return fail(`--timeout-ms: not a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}: ${JSON.stringify(rawTimeout)}`);
  }
  const token = typeof values.token === 'string' ? values.token : env.SBC_API_TOKEN || file?.token || undefined;

  const names = [...command.args, ...optional];
  const input: CommandInput = {
    args: Object.fromEntries(rest.map((v, i) => [names[i] ?? '', v])),
    options: Object.fromEntries(Object.entries(values).filter(([k]) => Object.hasOwn(own, k))),
    now,
  };
  let request: ApiRequest;
  try {
    request = command.request(input);
  } catch (err) {
    if (err instanceof UsageError) return fail(`${name}: ${err.message}`);
    throw err;
  }

  return {
    kind: 'command',
    command,
    request,
    input,
    json: values.json === true,
    client: { baseUrl, timeoutMs, ...(token !== undefined ? { token } : {}) },
  };
}
