import type { ApiRequest } from './client.js';

/**
 * One sbcctl command: its name, its positional arguments, the API request it makes of them and
 * how it prints the answer. `--json` prints the answer itself instead, so `print` only ever
 * sees a successful body. A new resource is a new file under commands/ and a line in
 * commands/index.ts; run.ts and the usage text need no change.
 */
export interface Command<Body = unknown> {
  readonly name: string;
  /** Positional arguments, in order, all required (shown as `<name>` in the usage). */
  readonly args: readonly string[];
  readonly summary: string;
  /** What the command asks the API, from its arguments by name. */
  readonly request: (args: Readonly<Record<string, string>>) => ApiRequest;
  /** The answer for people, one string per line. */
  readonly print: (body: Body) => string[];
}

/**
 * Types `print` by the body the route declares (the API's own TypeBox schema, imported as a
 * type only), then forgets it for the command table. The body is trusted, not validated:
 * it is the API's answer to a route that validates its own response.
 */
export function defineCommand<Body>(c: Command<Body>): Command {
  return c as unknown as Command;
}
