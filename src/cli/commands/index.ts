import type { Command } from '../command.js';
import { calls, trace } from './calls.js';
import { nodes } from './nodes.js';
import { room, rooms } from './rooms.js';

/** Every sbcctl command, in the order the usage lists them. */
export const COMMANDS: readonly Command[] = [rooms, room, nodes, trace, calls];
