import type { Static } from '@sinclair/typebox';
import type { RoomPolicyView } from '../../http/schemas.js';
import { defineCommand, UsageError, type CommandInput } from '../command.js';
import { keyValues } from '../format.js';

type Policy = Static<typeof RoomPolicyView>;

// Domain-scoped keys hold a '/', which must reach the API as one path segment.
const policyPath = ({ args }: CommandInput) => `/v1/rooms/${encodeURIComponent(args.room ?? '')}/policy`;

export function printPolicy(p: Policy): string[] {
  return keyValues([
    ['room', p.room],
    ['mode', p.mode],
    ['shards', String(p.shards)],
    ['updated', p.updatedAt],
  ]);
}

/** `--shards <n>`: a whole number; its bounds (2..64) are the API's to say (400). */
function shardsOf(raw: string | true | undefined): number {
  if (typeof raw !== 'string') throw new UsageError('--shards is required: how many nodes the room is cascaded over');
  const n = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`--shards: a whole number, not ${JSON.stringify(raw)}`);
  return n;
}

export const policyShow = defineCommand<Policy>({
  name: 'policy show',
  args: ['room'],
  summary: 'a room\'s policy: cascaded over how many nodes (404 when it has none)',
  request: (input) => ({ method: 'GET', path: policyPath(input) }),
  print: printPolicy,
});

export const policySet = defineCommand<Policy>({
  name: 'policy set',
  args: ['room'],
  options: {
    shards: { type: 'string', value: '<n>', help: 'cascade the room over this many nodes (2 to 64), linked in a tree' },
  },
  summary: 'sets a room\'s policy: cascaded over --shards nodes, new participants spread over them (scope operate)',
  request: (input) => ({ method: 'PUT', path: policyPath(input), body: { mode: 'cascade', shards: shardsOf(input.options.shards) } }),
  print: printPolicy,
});

export const policyDelete = defineCommand<null>({
  name: 'policy delete',
  args: ['room'],
  summary: 'removes a room\'s policy: new participants join it as an ordinary room (scope operate)',
  request: (input) => ({ method: 'DELETE', path: policyPath(input) }),
  print: (_body, { args }) => [`policy of room ${args.room ?? ''} removed`],
});
