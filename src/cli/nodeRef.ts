import type { ApiClient } from './client.js';
import { UsageError, type Command, type CommandInput } from './command.js';

/** The shortest prefix taken for a node id (`sbcctl nodes` prints 8 characters, more where 8 are not unique). */
const MIN_PREFIX = 4;
/** What can be the start of a node id (FreeSWITCH's Core-UUID) but is not a whole one; machine ids (host:port) never are. */
const PARTIAL_UUID = /^[0-9a-f-]+$/i;
const UUID_LENGTH = 36;

interface NodeList {
  readonly nodes: readonly { readonly nodeId: string; readonly machineId?: string }[];
}

/**
 * A node argument as the operator typed it, made whole: `sbcctl nodes` prints ids cut to a
 * unique prefix, and `drain 2b178d73` should drain that node. A full node id or a machine id
 * is sent as typed (the API resolves both); an argument that can be the start of a node id is
 * looked up in `GET /v1/nodes` first, and the one node id it starts is sent instead. A prefix
 * that starts several ids is a usage error naming them; one that starts none, or shorter than
 * 4 characters, is sent as typed, for the API to answer (400 or 404).
 */
export async function expandNodeArgument(command: Command, input: CommandInput, client: ApiClient): Promise<CommandInput> {
  const typed = input.args.node;
  if (!command.args.includes('node') || typed === undefined || typed.length < MIN_PREFIX || typed.length >= UUID_LENGTH || !PARTIAL_UUID.test(typed)) return input;
  const listed: unknown = ((await client.call({ method: 'GET', path: '/v1/nodes' })) as Partial<NodeList> | null)?.nodes;
  if (!Array.isArray(listed)) return input;
  const nodes = listed as NodeList['nodes'];
  if (nodes.some((n) => n.nodeId === typed || n.machineId === typed)) return input;
  const matches = [...new Set(nodes.map((n) => n.nodeId).filter((id) => id.startsWith(typed)))].sort();
  if (matches.length > 1) throw new UsageError(`${typed} is the start of ${matches.length} node ids (${matches.join(', ')}): give more of it`);
  return matches.length === 1 ? { ...input, args: { ...input.args, node: matches[0] as string } } : input;
}
