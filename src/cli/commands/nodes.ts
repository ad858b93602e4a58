import type { Static } from '@sinclair/typebox';
import type { NodeStatusView, NodeView } from '../../http/schemas.js';
import { defineCommand } from '../command.js';
import { keyValues, shortIds, table } from '../format.js';

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

type NodeStatus = Static<typeof NodeStatusView>;

export function printNode(n: Node): string[] {
  return keyValues([
    ['node', n.nodeId],
    ['machine', n.machineId],
    ['state', `${n.state}${n.goneReason !== undefined ? ` (${n.goneReason})` : ''}, since ${n.stateChangedAt}`],
    ['health', `${n.health}${n.healthScore !== undefined ? ` (score ${n.healthScore}${n.worstSensor !== undefined ? `, worst ${n.worstSensor}` : ''})` : ''}`],
    ['uri', n.sipUri],
    ['host', n.hostname],
    ['sessions', `${n.sessions}/${n.capacity}`],
    ['priority', String(n.priority)],
    ['blockers', n.blockers.length > 0 ? n.blockers.join(', ') : 'none'],
    ['agent', n.agentVersion],
    ['joined', n.joinedAt],
    ['last seen', n.lastSeenAt],
    ['expires', n.expiresAt],
  ]);
}

export function printNodeStatus(s: NodeStatus): string[] {
  const profile = s.sipProfile;
  return keyValues([
    ['node', s.nodeId],
    ['version', s.version],
    ['uptime', `${Math.round(s.uptimeMs / 1000)} s`],
    ['ready', s.ready ? 'yes' : 'no'],
    ['sessions', `${s.sessions}/${s.maxSessions} (peak ${s.sessionsPeak}, ${s.sessionsSinceStartup} since start)`],
    ['sip profile', `${profile.name} ${profile.running ? 'running' : 'not running'}${profile.sipUri !== undefined ? ` at ${profile.sipUri}` : ''}`],
    ['inbound paused', s.inboundPaused ? 'yes' : 'no'],
    ['blockers', s.blockers.length > 0 ? s.blockers.join(', ') : 'none'],
    ['read at', s.readAt],
  ]);
}

const nodePath = (id: string | undefined, rest = '') => `/v1/nodes/${encodeURIComponent(id ?? '')}${rest}`;

export const nodeDetail = defineCommand<Node>({
  name: 'node',
  args: ['node'],
  summary: 'one node by its Core-UUID: state, health and its sensors, sessions, blockers, times',
  request: ({ args }) => ({ method: 'GET', path: nodePath(args.node) }),
  print: printNode,
});

export const nodeStatus = defineCommand<NodeStatus>({
  name: 'node-status',
  args: ['node'],
  summary: 'live FreeSWITCH facts of one node, asked of its agent now: version, uptime, sessions, SIP profile, pause',
  request: ({ args }) => ({ method: 'GET', path: nodePath(args.node, '/status') }),
  print: printNodeStatus,
});
