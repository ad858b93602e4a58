import type { Command } from '../command.js';
import { calls, trace } from './calls.js';
import { drain, drainStatus, undrain } from './drains.js';
import { nodes } from './nodes.js';
import { operations } from './operations.js';
import { room, rooms } from './rooms.js';
import { scale } from './scale.js';

/** Every sbcctl command, in the order the usage lists them. */
export const COMMANDS: readonly Command[] = [rooms, room, nodes, drain, undrain, drainStatus, scale, operations, trace, calls];
