import type { Static } from '@sinclair/typebox';
import type { NodeDrainView } from '../../http/schemas.js';
import { defineCommand, UsageError, type CommandInput } from '../command.js';
import { keyValues } from '../format.js';

type Drain = Static<typeof NodeDrainView>;

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** RFC 3339 as the API's `date-time` takes it: a full date, a time and an offset. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * `--deadline` as the API wants it (RFC 3339): one given as such is sent as typed; a duration
 * (`30m`, `2h`, `1h30m`, `90s`, `1d`) is that long from now.
 */
export function deadlineOf(raw: string, now: number): string {
  if (RFC3339.test(raw) && !Number.isNaN(Date.parse(raw))) return raw;
  const parts = /^(\d+[smhd])+$/.test(raw) ? [...raw.matchAll(/(\d+)([smhd])/g)] : [];
  const ms = parts.reduce((sum, [, n, unit]) => sum + Number(n) * (UNIT_MS[unit ?? ''] ?? NaN), 0);
  if (parts.length === 0 || !Number.isSafeInteger(ms) || ms <= 0) {
    throw new UsageError(`--deadline: neither an RFC 3339 time (2026-12-02T05:30:00Z) nor a duration from now (30m, 2h, 1h30m): ${JSON.stringify(raw)}`);
  }
  return new Date(now + ms).toISOString();
}

/** The drain's terms from the options; what is not given is the API's default (SBC_DRAIN_DEADLINE_MS, keep). */
function drainBody({ options, now }: CommandInput): Record<string, string> {
  const body: Record<string, string> = {};
  const { deadline, cause } = options;
  const onDeadline = options['on-deadline'];
  if (typeof deadline === 'string') body.deadline = deadlineOf(deadline, now);
  if (typeof onDeadline === 'string') {
    if (onDeadline !== 'hangup' && onDeadline !== 'keep') throw new UsageError(`--on-deadline: hangup or keep, not ${JSON.stringify(onDeadline)}`);
    body.onDeadline = onDeadline;
  }
  // Which causes are valid, and that a cause needs hangup, the API says (400): one list, kept there.
  if (typeof cause === 'string') body.hangupCause = cause;
  return body;
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no');

function atDeadline(d: NonNullable<Drain['drain']>): string {
  return d.onDeadline === 'hangup' ? `hang up the calls left${d.hangupCause !== undefined ? ` (${d.hangupCause})` : ''}` : 'keep the calls left';
}

/** A drain's progress as `key: value` lines: the answer of drain, undrain and drain-status alike. */
export function printDrain(v: Drain): string[] {
  const d = v.drain;
  return keyValues([
    ['node', v.node.nodeId],
    ['machine', v.node.machineId],
    ['state', v.node.state],
    ['remaining calls', String(v.remainingCalls)],
    ['rooms', v.remainingRooms.length > 0 ? v.remainingRooms.join(', ') : 'none'],
    ['pinned rooms', String(v.pinnedRooms)],
    ['inbound paused', yesNo(v.inboundPaused)],
    ...(d
      ? ([
          ['drain', `${d.by ?? 'operator'}${d.since !== undefined ? `, since ${d.since}` : ''}`],
          ['deadline', d.deadline],
          ['at deadline', atDeadline(d)],
        ] as const)
      : ([['drain', 'none']] as const)),
    ['estimated end', v.estimatedEnd ?? 'unknown'],
    ['applied', v.applied ? 'yes' : 'no (the leader applies it in its next pass)'],
  ]);
}

const nodePath = (input: CommandInput, action: string) => `/v1/nodes/${encodeURIComponent(input.args.node ?? '')}/${action}`;

export const drain = defineCommand<Drain>({
  name: 'drain',
  args: ['node'],
  options: {
    deadline: { type: 'string', value: '<time>', help: 'stop waiting for its calls then: RFC 3339, or a duration from now (30m, 2h, 1h30m); default SBC_DRAIN_DEADLINE_MS' },
    'on-deadline': { type: 'string', value: 'hangup|keep', help: 'at the deadline, hang up the calls left, or keep them (default keep)' },
    cause: { type: 'string', value: '<cause>', help: 'the hang-up cause for --on-deadline hangup (NORMAL_CLEARING, ...)' },
  },
  summary: 'drains a node (its id, or its machine\'s): no new calls or rooms; drained once its calls are 0',
  request: (input) => ({ method: 'POST', path: nodePath(input, 'drain'), body: drainBody(input) }),
  print: printDrain,
});

export const undrain = defineCommand<Drain>({
  name: 'undrain',
  args: ['node'],
  summary: 'lifts a node\'s drain: it takes new calls and rooms again, inbound resumed',
  request: (input) => ({ method: 'POST', path: nodePath(input, 'undrain') }),
  print: printDrain,
});

export const drainStatus = defineCommand<Drain>({
  name: 'drain-status',
  args: ['node'],
  summary: 'a drain\'s progress: state, calls and rooms left, pinned rooms, inbound paused, deadline, estimated end',
  request: (input) => ({ method: 'GET', path: nodePath(input, 'drain') }),
  print: printDrain,
});
