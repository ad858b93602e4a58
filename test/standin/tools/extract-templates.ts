/**
 * Regenerates test/standin/templates/*.json from the FreeSWITCH 1.11.2 captures:
 *   npx tsx test/standin/tools/extract-templates.ts [fixture dir]
 *
 * Call templates come from two SIPp calls to the tone extension (answer, play tone, park):
 * b543c7e7… (caller hangs up while parked) and b2b12f6f… (caller hangs up during the tone);
 * conference member phases from 7d3e7e8f… (SIPp caller in conference 3000) and dialled-leg phases
 * from 65f4d1d9… (outbound leg into conference 3001). conference.json (conference::maintenance)
 * comes from the two-node captures, see extract-conference.ts.
 * Call-specific values are replaced by {{placeholders}} by header name; the run fails if any
 * value of the template calls (UUID, Call-ID, ports, times, …) survives as a literal.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { parseFrames, parseEventFrame, getHeader, type HeaderList, type EslEvent } from '../esl-frames.js';
import type { CallTemplates, Calling, PhaseName, SystemTemplates, TemplateStep, VarOps } from '../templates.js';
import { CAPTURES } from '../captures.js';
import { rule, legRule, CALL_A, CALL_B, CALL_C, CONF_LEFTOVER_TOKENS, LEFTOVER_TOKENS, LEG, LEG_LEFTOVER_TOKENS } from './template-rules.js';
import { conferenceTemplates } from './extract-conference.js';

const dir = process.argv[2] ?? CAPTURES;
const outDir = new URL('../templates/', import.meta.url);
const CORE = 13; // Event-Name … Event-Sequence, see the fixture README

function events(file: string): EslEvent[] {
  const out: EslEvent[] = [];
  for (const f of parseFrames(readFileSync(`${dir}/${file}`))) {
    const ev = parseEventFrame(f);
    if (ev) out.push(ev);
  }
  return out;
}

const h = (ev: EslEvent, name: string) => getHeader(ev.headers, name) ?? '';
const calling = (ev: EslEvent): Calling => [h(ev, 'Event-Calling-File'), h(ev, 'Event-Calling-Function'), h(ev, 'Event-Calling-Line-Number')];

function label(ev: EslEvent): string {
  const name = h(ev, 'Event-Name');
  if (name === 'CHANNEL_STATE') return `${name} ${h(ev, 'Channel-State')}`;
  if (name === 'CHANNEL_CALLSTATE') return `${name} ${h(ev, 'Channel-Call-State')}`;
  if (name.startsWith('CHANNEL_EXECUTE')) return `${name} ${h(ev, 'Application')}`;
  if (name === 'API') return `${name} ${h(ev, 'API-Command')}`;
  return name;
}

/** One call's events in order, with the dialplan's strftime API event where it happened. */
function callEvents(all: EslEvent[], uuid: string): EslEvent[] {
  const out: EslEvent[] = [];
  let open = false;
  for (const ev of all) {
    const own = h(ev, 'Unique-ID') === uuid;
    if (own) open = true;
    if (!open) continue;
    if (own) out.push(ev);
    else if (h(ev, 'API-Command') === 'strftime' && out.length > 0 && label(out[out.length - 1]!) === 'CHANNEL_EXECUTE_COMPLETE set') out.push(ev);
    if (own && h(ev, 'Channel-State') === 'CS_DESTROY') break;
  }
  return out;
}

interface Shaped {
  ev: EslEvent;
  nonVar: HeaderList[];
  parts: Array<'block' | '$vars'>;
  vars: HeaderList | undefined;
}

function shape(ev: EslEvent, call: typeof CALL_A, valueRule: (k: string, v: string) => string = (k, v) => rule(k, v, call)): Shaped {
  const core = ev.headers.slice(0, CORE).map(([k]) => k).join(',');
  if (!core.startsWith('Event-Name,Core-UUID,') || !core.endsWith(',Event-Sequence')) throw new Error(`unexpected core headers ${core}`);
  const rest = ev.headers.slice(CORE).map(([k, v]): [string, string] => [k, valueRule(k, v)]);
  const nonVar: HeaderList[] = [];
  const parts: Array<'block' | '$vars'> = [];
  let vars: HeaderList | undefined;
  for (const [k, v] of rest) {
    const isVar = k.startsWith('variable_');
    const lastPart = parts[parts.length - 1];
    if (isVar) {
      if (lastPart !== '$vars') {
        if (vars) throw new Error(`${label(ev)}: two variable runs`);
        vars = [];
        parts.push('$vars');
      }
      vars!.push([k, v]);
    } else {
      if (lastPart !== 'block') {
        nonVar.push([]);
        parts.push('block');
      }
      nonVar[nonVar.length - 1]!.push([k, v]);
    }
  }
  return { ev, nonVar, parts, vars };
}

/** Operations turning `prev` into `next` under FreeSWITCH's "set moves to the end" rule. */
function diffVars(prev: HeaderList, next: HeaderList): VarOps {
  const nextNames = next.map(([k]) => k);
  const prevMap = new Map(prev);
  for (let keep = next.length; keep >= 0; keep--) {
    const head = nextNames.slice(0, keep);
    const tail = new Set(nextNames.slice(keep));
    const survivors = prev.filter(([k]) => !tail.has(k) && nextNames.includes(k)).map(([k]) => k);
    if (survivors.join('\n') !== head.join('\n')) continue;
    const ops: VarOps = {};
    const del = prev.filter(([k]) => !nextNames.includes(k)).map(([k]) => k);
    const upd = next.slice(0, keep).filter(([k, v]) => prevMap.get(k) !== v);
    const set = next.slice(keep);
    if (del.length) ops.del = del;
    if (upd.length) ops.upd = upd;
    if (set.length) ops.set = set;
    return ops;
  }
  throw new Error('no variable diff');
}

const blocks: Record<string, HeaderList> = {};
const blockIds = new Map<string, string>();
function blockId(headers: HeaderList): string {
  const key = JSON.stringify(headers);
  let id = blockIds.get(key);
  if (!id) {
    id = `b${blockIds.size}`;
    blockIds.set(key, id);
    blocks[id] = headers;
  }
  return id;
}

/** Steps for events[from, to), diffing variables against `vars` (the last shown list). */
function steps(shaped: Shaped[], from: number, to: number, vars: HeaderList): { steps: TemplateStep[]; vars: HeaderList } {
  const out: TemplateStep[] = [];
  for (const s of shaped.slice(from, to)) {
    let b = 0;
    const parts = s.parts.map((p) => (p === '$vars' ? '$vars' : blockId(s.nonVar[b++]!)));
    const step: TemplateStep = { event: h(s.ev, 'Event-Name'), calling: calling(s.ev), parts, label: label(s.ev) };
    if (s.vars) {
      step.vars = diffVars(vars, s.vars);
      vars = s.vars;
    }
    out.push(step);
  }
  return { steps: out, vars };
}

/**
 * Variables SIPp's INVITE did not cause but other INVITEs do, placed where the capture shows them
 * on channel e617b973… (an INVITE with User-Agent and `rport` in its Via): after the contact/subject
 * variables and after sip_via_port. Their placeholders are empty when the INVITE lacks the header.
 */
const OPTIONAL_VARS: Array<[after: string, name: string, value: string]> = [
  ['variable_sip_subject', 'variable_sip_user_agent', '{{userAgent}}'],
  ['variable_sip_via_port', 'variable_sip_via_rport', '{{viaRport}}'],
];
function withOptionalVars(s: Shaped): Shaped {
  if (!s.vars) return s;
  const vars = [...s.vars];
  for (const [after, name, value] of OPTIONAL_VARS) {
    const i = vars.findIndex(([k]) => k === after);
    if (i >= 0) vars.splice(i + 1, 0, [name, value]);
  }
  return { ...s, vars };
}

const all = events('plain-events-calls.esl');
const a = callEvents(all, CALL_A.uuid).map((ev) => withOptionalVars(shape(ev, CALL_A)));
const b = callEvents(all, CALL_B.uuid).map((ev) => withOptionalVars(shape(ev, CALL_B)));
const idx = (list: Shaped[], l: string) => {
  const i = list.findIndex((s) => label(s.ev) === l);
  if (i < 0) throw new Error(`no ${l}`);
  return i;
};
const answerAt = idx(a, 'CHANNEL_EXECUTE answer');
const toneAt = idx(a, 'PLAYBACK_START') + 1;
const parkedAt = idx(a, 'CHANNEL_PARK') + 1;
const route = steps(a, 0, answerAt, []);
const answer = steps(a, answerAt, toneAt, route.vars);
const toneDone = steps(a, toneAt, parkedAt, answer.vars);
const hangupParked = steps(a, parkedAt, a.length, toneDone.vars);
const bAnswer = steps(b, 0, toneAt, []);
if (JSON.stringify([...route.steps, ...answer.steps]) !== JSON.stringify(bAnswer.steps)) throw new Error('calls A and B differ before the tone');
const hangupInTone = steps(b, toneAt, b.length, bAnswer.vars);
const hangupRinging = ringingTail(b.slice(toneAt), route.vars, bAnswer.vars);

/**
 * A SIPp call into conference 3000 (c, 7d3e7e8f…): the same route as the tone calls, then answer
 * and `conference 3000@default`; the member leaves on the caller's BYE. The conference::maintenance
 * events that carry its Unique-ID are left out here: conference.json renders them.
 */
const c = callEvents(all, CALL_C.uuid)
  .filter((ev) => h(ev, 'Event-Name') !== 'CUSTOM')
  .map((ev) => withOptionalVars(shape(ev, CALL_C)));
const cAnswerAt = idx(c, 'CHANNEL_EXECUTE answer');
const cHangupAt = idx(c, 'CHANNEL_HANGUP');
const cRoute = steps(c, 0, cAnswerAt, []);
if (JSON.stringify(cRoute.steps) !== JSON.stringify(route.steps)) throw new Error('the conference call routes differently');
const confJoin = steps(c, cAnswerAt, cHangupAt, cRoute.vars);
const confHangup = steps(c, cHangupAt, cHangupAt + 1, confJoin.vars);
const confLeave = steps(c, cHangupAt + 1, c.length, confHangup.vars);

/**
 * The main run's outbound leg into a conference (65f4d1d9…, uuid_kill'ed): originate until
 * CS_CONSUME_MEDIA, the answer (CODEC … CALL_UPDATE), the conference application, and the hang-up
 * around its del-member. Its maintenance events are rendered from conference.json.
 */
const leg = callEvents(all, LEG.uuid)
  .filter((ev) => h(ev, 'Event-Name') !== 'CUSTOM')
  .map((ev) => shape(ev, LEG, legRule));
const legAnswerAt = idx(leg, 'CODEC');
const legJoinAt = idx(leg, 'CHANNEL_STATE CS_EXECUTE');
const legHangupAt = idx(leg, 'CHANNEL_HANGUP');
const legOriginate = steps(leg, 0, legAnswerAt, []);
const legAnswer = steps(leg, legAnswerAt, legJoinAt, legOriginate.vars);
const legJoin = steps(leg, legJoinAt, legHangupAt, legAnswer.vars);
const legHangup = steps(leg, legHangupAt, legHangupAt + 1, legJoin.vars);
const legLeave = steps(leg, legHangupAt + 1, leg.length, legHangup.vars);

/**
 * No capture has a call that ends before it is answered; this tail is derived from call B's
 * (hang-up during the tone): no PLAYBACK/EXECUTE_COMPLETE, no codec headers (no media was set
 * up), call state RINGING instead of ACTIVE, and only the variables set by the hang-up itself.
 */
function ringingTail(tail: Shaped[], routeVars: HeaderList, answeredVars: HeaderList): TemplateStep[] {
  const answered = new Set(answeredVars.map(([k]) => k));
  // Media statistics, playback results and what the ACK to a 200 OK sets do not exist unanswered.
  const media = /^variable_(rtp_|playback_|current_application_response$|sip_to_tag$|sip_cseq$)/;
  const keep = tail
    .filter((s) => !['PLAYBACK_STOP', 'CHANNEL_EXECUTE_COMPLETE'].includes(h(s.ev, 'Event-Name')))
    .map((s) => ({
      ...s,
      nonVar: s.nonVar.map((blk) =>
        blk.filter(([k]) => !/^Channel-(Read|Write)-Codec-/.test(k)).map(([k, v]): [string, string] => [k, v === 'ACTIVE' ? 'RINGING' : v]),
      ),
      vars: s.vars && [...routeVars, ...s.vars.filter(([k]) => !answered.has(k) && !media.test(k))],
    }));
  return steps(keep, 0, keep.length, routeVars).steps;
}

const phases: Record<PhaseName, TemplateStep[]> = {
  route: route.steps,
  answer: answer.steps,
  toneDone: toneDone.steps,
  hangupParked: hangupParked.steps,
  hangupInTone: hangupInTone.steps,
  hangupRinging,
  confJoin: confJoin.steps,
  confHangup: confHangup.steps,
  confLeave: confLeave.steps,
  legOriginate: legOriginate.steps,
  legAnswer: legAnswer.steps,
  legJoin: legJoin.steps,
  legHangup: legHangup.steps,
  legLeave: legLeave.steps,
};
const callOut: CallTemplates = {
  source: `plain-events-calls.esl: ${CALL_A.uuid} (BYE while parked), ${CALL_B.uuid} (BYE during the tone), ${CALL_C.uuid} (conference 3000, BYE), ${LEG.uuid} (outbound leg into conference 3001, uuid_kill)`,
  blocks,
  phases,
};

const text = JSON.stringify({ blocks, phases });
for (const token of [...LEFTOVER_TOKENS, ...CONF_LEFTOVER_TOKENS, ...LEG_LEFTOVER_TOKENS]) {
  const at = text.indexOf(token);
  if (at >= 0) throw new Error(`call-specific value left in templates: ${token} in …${text.slice(at - 120, at + 40)}`);
}

/** Non-call events: HEARTBEAT and RE_SCHEDULE header names, SHUTDOWN, MODULE_UNLOAD as captured. */
function system(): SystemTemplates {
  const first = (list: EslEvent[], name: string) => {
    const ev = list.find((e) => h(e, 'Event-Name') === name);
    if (!ev) throw new Error(`no ${name}`);
    return ev;
  };
  const names = (ev: EslEvent) => ev.headers.slice(CORE).map(([k]) => k);
  const api = events('api-replies.esl');
  const shut = events('plain-events-shutdown.esl');
  const hb = first(all, 'HEARTBEAT');
  const rs = all.find((e) => h(e, 'Event-Name') === 'RE_SCHEDULE' && h(e, 'Task-Desc') === 'heartbeat');
  if (!rs) throw new Error('no heartbeat RE_SCHEDULE');
  const sd = first(shut, 'SHUTDOWN');
  return {
    source: 'plain-events-calls.esl, api-replies.esl, plain-events-shutdown.esl',
    api: calling(first(all, 'API')),
    backgroundJob: calling(first(api, 'BACKGROUND_JOB')),
    heartbeat: { calling: calling(hb), names: names(hb) },
    reSchedule: { calling: calling(rs), names: names(rs) },
    shutdown: { calling: calling(sd), headers: sd.headers.slice(CORE) },
    moduleUnload: shut.filter((e) => h(e, 'Event-Name') === 'MODULE_UNLOAD').map((e) => ({ calling: calling(e), headers: e.headers.slice(CORE) })),
  };
}

/** One header pair per line keeps the generated files diffable. */
function pretty(value: unknown): string {
  return JSON.stringify(value, null, 1).replace(/\[\n\s*("(?:[^"\\]|\\.)*"),\n\s*("(?:[^"\\]|\\.)*")\n\s*\]/g, '[$1, $2]') + '\n';
}

mkdirSync(outDir, { recursive: true });
writeFileSync(new URL('inbound-call.json', outDir), pretty(callOut));
writeFileSync(new URL('system-events.json', outDir), pretty(system()));
writeFileSync(new URL('conference.json', outDir), pretty(conferenceTemplates(dir)));
const count = Object.values(phases).reduce((n, p) => n + p.length, 0);
console.log(`wrote ${count} call steps, ${Object.keys(blocks).length} blocks`);
