import type { Command } from '../command.js';
import { calls, trace } from './calls.js';
import { drain, drainStatus, undrain } from './drains.js';
import { nodeDetail, nodes, nodeStatus } from './nodes.js';
import { cluster, dispatcher, ready } from './cluster.js';
import { policyDelete, policySet, policyShow } from './policies.js';
import { tokenCreate, tokenList, tokenRevoke } from './tokens.js';
import { operations } from './operations.js';
import { room, rooms } from './rooms.js';
import { scale } from './scale.js';

/** Every sbcctl command, in the order the usage lists them. */
export const COMMANDS: readonly Command[] = [
  rooms,
  room,
  policyShow,
  policySet,
  policyDelete,
  nodes,
  nodeDetail,
  nodeStatus,
  drain,
  undrain,
  drainStatus,
  scale,
  operations,
  trace,
  calls,
  cluster,
  dispatcher,
  ready,
  tokenCreate,
  tokenList,
  tokenRevoke,
];
