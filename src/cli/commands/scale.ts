import type { Static } from '@sinclair/typebox';
import type { ScaleView } from '../../http/routes/scale.js';
import { defineCommand, UsageError } from '../command.js';
import { compactJson, keyValues, shortIds, table } from '../format.js';

type Scale = Static<typeof ScaleView>;

/** `scale 3`: a whole number from 0; the upper bound is the API's (SBC_SCALE_MAX_REPLICAS). */
function replicasOf(raw: string): number {
  const n = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`<replicas>: a whole number from 0, not ${JSON.stringify(raw)}`);
  return n;
}

export function printScale(s: Scale): string[] {
  const t = s.target;
  const last = s.lastProvision;
  const head = keyValues([
    ['target', t ? `${t.replicas} (asked ${t.requestedAt} by ${t.by})` : 'none asked'],
    ['provisioner', s.provisioner],
    ['serving', String(s.serving)],
    ['settled', s.settled ? 'yes' : 'no'],
    ['last provision', last ? `${last.at} ${last.outcome} ${compactJson(last.detail)}` : 'none'],
  ]);
  if (s.nodes.length === 0) return [...head, '', 'nodes: none'];
  const short = shortIds(s.nodes.map((n) => n.nodeId));
  return [
    ...head,
    '',
    ...table(['NODE', 'MACHINE', 'STATE', 'SESSIONS', 'DRAINED-BY'], s.nodes.map((n) => [short(n.nodeId), n.machineId, n.state, String(n.sessions), n.drainedBy ?? '-'])),
  ];
}

/**
 * One command for both: `scale 5` sets the target (the API answers 202 and the leader gets the
 * pool there), `scale` alone shows it; the same answer either way.
 */
export const scale = defineCommand<Scale>({
  name: 'scale',
  args: [],
  optionalArgs: ['replicas'],
  summary: 'sets the pool\'s size to <replicas> (scale-down drains the fewest calls first); alone: shows the target and the pool',
  request: ({ args }) =>
    args.replicas !== undefined
      ? { method: 'POST', path: '/v1/scale', body: { replicas: replicasOf(args.replicas) } }
      : { method: 'GET', path: '/v1/scale' },
  print: printScale,
});
