/**
 * Regenerates test/standin/templates/*.json from the FreeSWITCH 1.11.2 captures:
 *   npx tsx test/standin/tools/extract-templates.ts [fixture dir]
 *
 * Call templates come from two SIPp calls to the tone extension (answer, play tone, park):
 * b543c7e7… (caller hangs up while parked) and b2b12f6f… (caller hangs up during the tone);
 * conference member phases from 7d3e7e8f… (SIPp caller in conference 3000) and dialled-leg phases
 * from 65f4d1d9… (outbound leg into conference 3001). conference.json (conference::maintenance)
 * comes from the two-node captures, see extract-conference.ts; bridge.json (a bridged call, both legs)
 * from the main run's call to 8000, see extract-bridge.ts.
 * Call-specific values are replaced by {{placeholders}} by header name; the run fails if any
 * value of the template calls (UUID, Call-ID, ports, times, …) survives as a literal.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import type { HeaderList, EslEvent } from '../esl-frames.js';
import type { CallTemplates, PhaseName, SystemTemplates, TemplateStep } from '../templates.js';
import { CAPTURES } from '../captures.js';
import { rule, legRule, CALL_A, CALL_B, CALL_C, CONF_LEFTOVER_TOKENS, LEFTOVER_TOKENS, LEG, LEG_LEFTOVER_TOKENS } from './template-rules.js';
import { conferenceTemplates } from './extract-conference.js';
import { bridgeTemplates } from './extract-bridge.js';
import { BlockTable, CORE, callEvents as channelEvents, calling, events as readEvents, h, indexOf, pretty, shape as shapeBy, steps as stepsIn, withOptionalVars, type Shaped } from './template-cut.js';

const dir = process.argv[2] ?? CAPTURES;
const outDir = new URL('../templates/', import.meta.url);

const events = (file: string): EslEvent[] => readEvents(dir, file);
const callEvents = (all: EslEvent[], uuid: string): EslEvent[] => channelEvents(all, uuid);
const shape = (ev: EslEvent, call: typeof CALL_A, valueRule: (k: string, v: string) => string = (k, v) => rule(k, v, call)): Shaped => shapeBy(ev, valueRule);
const table = new BlockTable();
const blocks = table.blocks;
const steps = (shaped: Shaped[], from: number, to: number, vars: HeaderList) => stepsIn(shaped, from, to, vars, table);

const all = events('plain-events-calls.esl');
const a = callEvents(all, CALL_A.uuid).map((ev) => withOptionalVars(shape(ev, CALL_A)));
const b = callEvents(all, CALL_B.uuid).map((ev) => withOptionalVars(shape(ev, CALL_B)));
const idx = (list: Shaped[], l: string) => indexOf(list, l);
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

mkdirSync(outDir, { recursive: true });
writeFileSync(new URL('inbound-call.json', outDir), pretty(callOut));
writeFileSync(new URL('system-events.json', outDir), pretty(system()));
writeFileSync(new URL('conference.json', outDir), pretty(conferenceTemplates(dir)));
writeFileSync(new URL('bridge.json', outDir), pretty(bridgeTemplates(dir)));
const count = Object.values(phases).reduce((n, p) => n + p.length, 0);
console.log(`wrote ${count} call steps, ${Object.keys(blocks).length} blocks`);
