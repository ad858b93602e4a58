import { commandUsage, parseInvocation, usage, type CliEnv } from './args.js';
import { ApiClient, ApiError, ApiUnreachableError } from './client.js';
import { UsageError, type Command, type CommandInput } from './command.js';
import { COMMANDS } from './commands/index.js';
import { loadConfigFile, type CliFileConfig } from './configFile.js';
import { expandNodeArgument } from './nodeRef.js';

export interface Output {
  write(chunk: string): unknown;
}

export interface RunContext {
  readonly stdout: Output;
  readonly stderr: Output;
  readonly env: CliEnv;
  /** The command table; tests and future front ends may pass their own. */
  readonly commands?: readonly Command[];
  /** The clock for relative values (`drain --deadline 30m`); tests pass their own. */
  readonly now?: () => number;
  /** Reads the config file (configFile.ts); tests pass their own. */
  readonly readFile?: (path: string) => string;
  /** The config file's mode bits; tests pass their own. */
  readonly fileMode?: (path: string) => number;
}

/** sbcctl's exit statuses (the usage text lists them). */
export const EXIT = { ok: 0, apiError: 1, usage: 2, unreachable: 3, auth: 4 } as const;

/** The API refused the token: none, unknown or revoked (401), or a scope too low (403). */
const AUTH_STATUSES: ReadonlySet<number> = new Set([401, 403]);

const lines = (out: Output, text: readonly string[]) => out.write(text.map((l) => `${l}\n`).join(''));

/** Runs one sbcctl invocation; resolves to its exit status and never throws for anything the API does. */
export async function run(argv: readonly string[], ctx: RunContext): Promise<number> {
  const commands = ctx.commands ?? COMMANDS;
  const file = loadConfigFile(ctx.env, ctx.readFile, ctx.fileMode);
  const fileError = file && 'error' in file ? file.error : undefined;
  const inv = parseInvocation(argv, ctx.env, commands, (ctx.now ?? Date.now)(), fileError === undefined ? (file as CliFileConfig | undefined) : undefined);
  // A broken config file stops every command, but not --help.
  if (fileError !== undefined && inv.kind === 'command') {
    lines(ctx.stderr, [`error: ${fileError}`]);
    return EXIT.usage;
  }
  if (inv.kind === 'command' && file && 'warning' in file && file.warning !== undefined) lines(ctx.stderr, [`warning: ${file.warning}`]);
  if (inv.kind === 'help') {
    lines(ctx.stdout, inv.command ? commandUsage(inv.command) : usage(commands));
    return EXIT.ok;
  }
  if (inv.kind === 'usage-error') {
    lines(ctx.stderr, [`error: ${inv.message}`, '', ...(inv.command ? commandUsage(inv.command) : usage(commands))]);
    return EXIT.usage;
  }

  let body: unknown;
  let ok: boolean;
  let input: CommandInput;
  try {
    const client = new ApiClient(inv.client);
    input = await expandNodeArgument(inv.command, inv.input, client);
    ({ body, ok } = await client.answer(input === inv.input ? inv.request : inv.command.request(input)));
  } catch (err) {
    if (err instanceof UsageError) {
      lines(ctx.stderr, [`error: ${inv.command.name}: ${err.message}`]);
      return EXIT.usage;
    }
    if (err instanceof ApiError) {
      lines(ctx.stderr, [`error: ${err.code}: ${err.message}`]);
      return AUTH_STATUSES.has(err.status) ? EXIT.auth : EXIT.apiError;
    }
    if (err instanceof ApiUnreachableError) {
      lines(ctx.stderr, [`error: ${err.message}`]);
      return EXIT.unreachable;
    }
    throw err;
  }
  // An answer that says "not ok" (not ready) is printed like any other, and exits 1.
  const status = ok ? EXIT.ok : EXIT.apiError;
  if (inv.json) {
    ctx.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return status;
  }
  let text: string[];
  try {
    text = inv.command.print(body, input);
  } catch (err) {
    // An answer of another shape than this sbcctl knows (an API of another version).
    lines(ctx.stderr, [`error: bad-answer: cannot print the answer of ${inv.command.name} (${(err as Error).message}); --json shows it`]);
    return EXIT.apiError;
  }
  lines(ctx.stdout, text);
  return status;
}
