import type { ApiRequest } from './client.js';

/** One option of one command (`--deadline <time>`), declared next to the command that reads it. */
export interface CommandOption {
  readonly type: 'string' | 'boolean';
  /** What its value is, as the usage shows it (`<time>`); string options only. */
  readonly value?: string;
  readonly help: string;
}

/** What a command's `request` sees: its positional arguments and its own options, by name. */
export interface CommandInput {
  /** Every required argument; an optional one only when given. */
  readonly args: Readonly<Record<string, string>>;
  /** Only the options given: a string option's value, `true` for a boolean one. */
  readonly options: Readonly<Record<string, string | true>>;
  /** The clock, for values relative to now (`--deadline 30m`). */
  readonly now: number;
}

/**
 * An argument or option the command cannot use (`scale -1`, `--on-deadline never`), found
 * before anything is asked of the API: a usage error (exit 2) with this message.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * One sbcctl command: its name, its positional arguments and options, the API request it makes
 * of them and how it prints the answer. `--json` prints the answer itself instead, so `print`
 * only ever sees a successful body. A new resource is a new file under commands/ and a line in
 * commands/index.ts; run.ts, args.ts and the usage texts need no change.
 */
export interface Command<Body = unknown> {
  readonly name: string;
  /** Positional arguments, in order, all required (shown as `<name>` in the usage). */
  readonly args: readonly string[];
  /** Positional arguments after the required ones that may be left out (shown as `[<name>]`). */
  readonly optionalArgs?: readonly string[];
  /** This command's own options, by long name; they go after the command's name. */
  readonly options?: Readonly<Record<string, CommandOption>>;
  readonly summary: string;
  /** What the command asks the API; throws UsageError for input it cannot use. */
  readonly request: (input: CommandInput) => ApiRequest;
  /** The answer for people, one string per line (`input`: what the command was asked, for an answer that has no body). */
  readonly print: (body: Body, input: CommandInput) => string[];
}

/**
 * Types `print` by the body the route declares (the API's own TypeBox schema, imported as a
 * type only), then forgets it for the command table. The body is trusted, not validated:
 * it is the API's answer to a route that validates its own response.
 */
export function defineCommand<Body>(c: Command<Body>): Command {
  return c as unknown as Command;
}

/** `/v1/calls?node=…&cursor=…`: the options given among `names`, as the query, encoded, in that order. */
export function withQuery(path: string, options: CommandInput['options'], names: readonly string[]): string {
  const q = new URLSearchParams();
  for (const name of names) {
    const v = options[name];
    if (typeof v === 'string') q.set(name, v);
  }
  const query = q.toString();
  return query !== '' ? `${path}?${query}` : path;
}

/** `room <room>`, `scale [<replicas>]`, `token revoke <id>`: the command as its usage shows it. */
export function synopsis(c: Command): string {
  return [c.name, ...c.args.map((a) => `<${a}>`), ...(c.optionalArgs ?? []).map((a) => `[<${a}>]`)].join(' ');
}
