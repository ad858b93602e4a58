import type { Static } from '@sinclair/typebox';
import type { NodeView } from '../../http/schemas.js';
import { defineCommand } from '../command.js';
import { shortIds, table } from '../format.js';

type Node = Static<typeof NodeView>;

export function printNodes(body: { nodes: Node[] }): string[] {
  if (body.nodes.length === 0) return ['no nodes'];
  const short = shortIds(body.nodes.map((n) => n.nodeId));
  return table(
    ['ID', 'STATE', 'URI', 'SESSIONS', 'HEALTH'],
    body.nodes.map((n) => [short(n.nodeId), n.state, n.sipUri, `${n.sessions}/${n.capacity}`, n.health]),
  );
}

export const nodes = defineCommand<{ nodes: Node[] }>({
  name: 'nodes',
  args: [],
  summary: 'every node in the registry: state, SIP URI, sessions/capacity, health',
  request: () => ({ method: 'GET', path: '/v1/nodes' }),
  print: printNodes,
});
