import type { NodeRecord } from '../../../src/core/node.js';
import type { DispatcherPolicy } from '../../../src/core/dispatcher.js';

export const policy: DispatcherPolicy = {
  sets: [
    { purpose: 'general', setId: 1, algorithm: 4 },
    { purpose: 'rooms', setId: 2, algorithm: 2 },
    { purpose: 'cascade', setId: 3, algorithm: 7 },
  ],
};

export function node(n: number, over: Partial<NodeRecord> = {}): NodeRecord {
  const hex = n.toString(16).padStart(12, '0');
  return {
    nodeId: `00000000-0000-4000-8000-${hex}`,
    machineId: `10.0.0.${n}:5080`,
    sipUri: `sip:10.0.0.${n}:5080`,
    hostname: `fs${n}`,
    capacity: 1000,
    sessions: 0,
    agentVersion: '0.1.0',
    heartbeatIntervalMs: 2000,
    state: 'active',
    health: 'healthy',
    slot: n,
    seq: 100,
    rev: 1,
    joinedAt: 1000 + n,
    lastSeenAt: 1000,
    expiresAt: 7000,
    stateChangedAt: 1000,
    ...over,
  };
}
