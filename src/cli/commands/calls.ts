import type { Static } from '@sinclair/typebox';
import type { CallGraphView, CallSummaryView } from '../../http/schemas.js';
import { defineCommand, withQuery } from '../command.js';
import { shortIds, table } from '../format.js';

type Graph = Static<typeof CallGraphView>;
type Summary = Static<typeof CallSummaryView>;

/** Seconds after `originUs`, signed, ms precision: `+1.250`. */
const rel = (us: number | undefined, originUs: number) => (us === undefined ? '-' : `+${((us - originUs) / 1e6).toFixed(3)}`);
const micros = (iso: string | undefined): number | undefined => {
  if (iso === undefined) return undefined;
  const m = /\.(\d{3})(\d{3})Z$/.exec(iso);
  return Date.parse(iso) * 1000 + (m ? Number(m[2]) : 0);
};
const dir = (d: string | undefined) => (d === 'inbound' ? 'in' : d === 'outbound' ? 'out' : '-');

function attemptLine(a: Graph['decisions'][number]['attempts'][number]): string {
  const where = a.set !== undefined ? `set ${a.set}${a.alg !== undefined ? ` alg ${a.alg}` : ''}` : '';
  const after = a.afterStatus !== undefined ? `after ${a.afterStatus}${a.afterTimeout ? ' (timeout)' : ''}` : '';
  const outcome = a.dst !== undefined ? `-> ${a.dst}` : '';
  const result = a.result !== undefined ? `answered the caller ${a.result}` : '';
  return [`attempt ${a.attempt}`, after, where, outcome, result].filter((x) => x !== '').join('  ');
}

/** The call as a timeline: decisions, then one row per leg, times in seconds after the first event. */
export function printTrace(g: Graph): string[] {
  const origin = micros(g.firstAt) ?? 0;
  const short = shortIds([...g.legs.map((l) => l.uuid), ...g.nodes]);
  const span = ((micros(g.lastAt) ?? origin) - origin) / 1e6;
  const head = `call ${g.id}: ${g.legs.length} leg${g.legs.length === 1 ? '' : 's'} on ${g.nodes.length} node${g.nodes.length === 1 ? '' : 's'}, ${g.decisions.length} routing decision${g.decisions.length === 1 ? '' : 's'}, ${span.toFixed(3)} s from ${g.firstAt}`;
  const out = [head];
  if (g.truncated) out.push('(truncated: the lookup reached its bound; more may belong to this call)');
  if (g.decisions.length > 0) {
    out.push('', 'routing:');
    const rows = g.decisions.flatMap((d) =>
      d.attempts.map((a) => [rel(a.atUs, origin), d.kamailioId, d.id, `${d.kind}${d.room !== undefined ? ` ${d.room}` : ''}`, d.pin, attemptLine(a)]),
    );
    out.push(...table(['AT', 'KAMAILIO', 'DECISION', 'KIND', 'PIN', 'WHAT'], rows));
  }
  if (g.legs.length > 0) {
    out.push('', 'legs:');
    out.push(
      ...table(
        ['LEG', 'NODE', 'DIR', 'CALL-ID', 'FROM', 'TO', 'ROOM', 'START', 'ANSWER', 'BRIDGE', 'END', 'CAUSE'],
        g.legs.map((l) => [
          short(l.uuid),
          short(l.nodeId),
          dir(l.direction),
          l.callId ?? '-',
          l.caller ?? '-',
          l.callee ?? '-',
          l.room !== undefined ? `${l.room}${l.link !== undefined ? ' (link)' : ''}` : '-',
          rel(micros(l.startedAt), origin),
          rel(micros(l.answeredAt), origin),
          rel(micros(l.bridgedAt), origin),
          rel(micros(l.endedAt), origin),
          l.cause !== undefined ? `${l.cause}${l.sipStatus !== undefined ? ` (${l.sipStatus})` : ''}` : '-',
        ]),
      ),
    );
  }
  if (g.joins.length > 0) {
    const by = new Map<string, string[]>();
    for (const j of g.joins) by.set(`${short(j.a)} - ${short(j.b)}`, [...(by.get(`${short(j.a)} - ${short(j.b)}`) ?? []), j.by]);
    out.push('', 'joined by:', ...[...by].map(([pair, kinds]) => `  ${pair}: ${kinds.join(', ')}`));
  }
  return out;
}

export function printCalls(body: { legs: Summary[]; next?: string }): string[] {
  if (body.legs.length === 0) return ['no calls'];
  const short = shortIds(body.legs.flatMap((l) => [l.uuid, l.nodeId]));
  const out = table(
    ['STARTED', 'LEG', 'NODE', 'DIR', 'CALL-ID', 'FROM', 'TO', 'ROOM', 'CAUSE'],
    body.legs.map((l) => [l.startedAt, short(l.uuid), short(l.nodeId), dir(l.direction), l.callId ?? '-', l.caller ?? '-', l.callee ?? '-', l.room ?? '-', l.cause ?? (l.endedAt === undefined ? 'up' : '-')]),
  );
  return body.next !== undefined ? [...out, '', `more: --cursor ${body.next}`] : out;
}

export const trace = defineCommand<Graph>({
  name: 'trace',
  args: ['id'],
  summary: 'the whole call of a FreeSWITCH UUID, SIP Call-ID or routing decision id: legs as rows, times after the first event, nodes, causes, routing',
  request: ({ args }) => ({ method: 'GET', path: `/v1/calls/${encodeURIComponent(args.id ?? '')}` }),
  print: printTrace,
});

export const calls = defineCommand<{ legs: Summary[]; next?: string }>({
  name: 'calls',
  args: [],
  options: {
    node: { type: 'string', value: '<node>', help: 'only legs on this node (its Core-UUID)' },
    room: { type: 'string', value: '<room>', help: 'only legs in this room' },
    from: { type: 'string', value: '<time>', help: 'only legs that started at or after (RFC 3339)' },
    to: { type: 'string', value: '<time>', help: 'only legs that started at or before (RFC 3339)' },
    cause: { type: 'string', value: '<cause>', help: 'only legs that ended with this Hangup-Cause (NORMAL_CLEARING, ...)' },
    limit: { type: 'string', value: '<n>', help: 'at most this many, 1 to 1000 (default 50)' },
    cursor: { type: 'string', value: '<cursor>', help: 'the page after the one whose last line said more: --cursor <cursor>' },
  },
  summary: 'recent call legs, newest first, filtered by node, room, start time, cause',
  // What each filter accepts is the API's to say (400).
  request: ({ options }) => ({ method: 'GET', path: withQuery('/v1/calls', options, ['node', 'room', 'from', 'to', 'cause', 'limit', 'cursor']) }),
  print: printCalls,
});
