/**
 * templates/bridge.json: the main run's bridged call (fixture README, main run step 4), cut by
 * extract-templates.ts. SIPp called `8000`; the dialplan ran `bridge sofia/internal/9000@127.0.0.1:5080`;
 * the B leg answered, the caller hung up. A leg e64dddbd… and B leg 94183bc3… are one interleaved
 * stream: every step names its leg (`a` or `b`) and diffs that leg's own variable list.
 *
 * Phases: `route` (A, up to the bridge application), `start` (A's CHANNEL_EXECUTE bridge and the B
 * leg's originate, up to CS_CONSUME_MEDIA: the INVITE goes out), `answer` (B's 200 OK: B answers,
 * A answers, CHANNEL_BRIDGE on A, CALL_UPDATE on both), `hangup` (the caller's BYE on A).
 * Derived, not captured (see ../README.md): `hangupB` (the far end's BYE on B: the same events,
 * B's first three first) and `fail` (B refused with a final response >= 300; see failTail()).
 */
import type { HeaderList, EslEvent } from '../esl-frames.js';
import type { BridgeStep, BridgeTemplates, Leg } from '../templates.js';
import { BRIDGE, BRIDGE_LEFTOVER_TOKENS, bridgeARule, bridgeBRule } from './bridge-rules.js';
import { BlockTable, callEvents, events, h, label, shape, step, withOptionalVars, type Shaped } from './template-cut.js';

interface LegShaped {
  leg: Leg;
  s: Shaped;
}
type Vars = Record<Leg, HeaderList>;

const legOf = (ev: EslEvent): Leg => (h(ev, 'Unique-ID') === BRIDGE.b ? 'b' : 'a');

function legSteps(list: LegShaped[], vars: Vars, table: BlockTable): { steps: BridgeStep[]; vars: Vars } {
  const out: BridgeStep[] = [];
  const next = { ...vars };
  for (const { leg, s } of list) {
    const r = step(s, next[leg], table);
    out.push({ ...r.step, leg });
    next[leg] = r.vars;
  }
  return { steps: out, vars: next };
}

function at(list: LegShaped[], leg: Leg, l: string): number {
  const i = list.findIndex((x) => x.leg === leg && label(x.s.ev) === l);
  if (i < 0) throw new Error(`no ${leg} ${l}`);
  return i;
}

/** The B leg's first hang-up events (CHANNEL_HANGUP, CS_HANGUP, HANGUP call state) moved before A's CHANNEL_HANGUP. */
function bFirst(list: LegShaped[]): LegShaped[] {
  const aHangup = at(list, 'a', 'CHANNEL_HANGUP');
  const early = list.filter((x, i) => x.leg === 'b' && i > aHangup && ['CHANNEL_HANGUP', 'CHANNEL_STATE CS_HANGUP', 'CHANNEL_CALLSTATE HANGUP'].includes(label(x.s.ev)));
  return [...early, ...list.filter((x) => !early.includes(x))];
}

/** sofia.c, nua_callstate_terminated: a final response >= 300 sets these on the B leg right before it hangs up. */
const B_TERM: HeaderList = [
  ['variable_sip_term_status', '{{termStatus}}'],
  ['variable_proto_specific_hangup_cause', '{{protoCause}}'],
  ['variable_sip_term_cause', '{{termCause}}'],
];
/** …and the response's phrase on its partner, the A leg (switch_channel_set_variable_partner). */
const A_PHRASE: HeaderList = [['variable_sip_hangup_phrase', '{{hangupPhrase}}']];
/** What only an answered, bridged or BYE-ended channel has. */
const NOT_IN_FAIL = /^variable_(rtp_|current_application_response$|sip_to_tag$|sip_cseq$|last_bridge_|bridge_hangup_cause$|sip_hangup_phrase$)/;
const A_NOT_IN_FAIL = /^variable_(sip_term_status|proto_specific_hangup_cause|sip_term_cause)$/;

/**
 * No capture has a bridge whose B leg is refused. Derived from the captured hang-up, like
 * extract-templates.ts ringingTail(): B hangs up first (as in hangupB), no CHANNEL_UNBRIDGE, no
 * codec headers, call states RINGING (A) and DOWN (B) instead of ACTIVE, no Other-Leg headers and
 * callee id on A (it never bridged), B's callee name still `Outbound Call`; each leg's variables
 * are its variables when the INVITE left plus those its hang-up sets, with sofia's
 * termination variables on B and the phrase on A.
 */
function failTail(hangup: LegShaped[], started: Vars, answered: Vars): LegShaped[] {
  const names: Record<Leg, Set<string>> = { a: new Set(answered.a.map(([k]) => k)), b: new Set(answered.b.map(([k]) => k)) };
  return bFirst(hangup)
    .filter((x) => label(x.s.ev) !== 'CHANNEL_UNBRIDGE')
    .map(({ leg, s }) => {
      const nonVar = s.nonVar.map((blk) =>
        blk
          .filter(([k]) => !/^channel-(read|write)-codec-/i.test(k))
          .filter(([k]) => leg === 'b' || !/^(Other-|Caller-Callee-ID-)/.test(k))
          .map(([k, v]): [string, string] => {
            if (v === 'ACTIVE') return [k, leg === 'a' ? 'RINGING' : 'DOWN'];
            if (leg === 'b' && k === 'Caller-Callee-ID-Name') return [k, 'Outbound Call'];
            return [k, v];
          }),
      );
      const added = s.vars?.filter(([k]) => !names[leg].has(k) && !NOT_IN_FAIL.test(k) && !(leg === 'a' && A_NOT_IN_FAIL.test(k)));
      const vars = added && [...started[leg], ...(leg === 'a' ? A_PHRASE : B_TERM), ...added];
      return { leg, s: { ...s, nonVar, vars } };
    });
}

export function bridgeTemplates(dir: string): BridgeTemplates {
  const all = events(dir, 'plain-events-calls.esl');
  const list: LegShaped[] = callEvents(all, BRIDGE.a, BRIDGE.b).map((ev) => {
    const leg = legOf(ev);
    const s = shape(ev, leg === 'a' ? bridgeARule : bridgeBRule);
    return { leg, s: leg === 'a' ? withOptionalVars(s) : s };
  });
  const startAt = at(list, 'a', 'CHANNEL_EXECUTE bridge');
  const answerAt = at(list, 'b', 'CODEC');
  const hangupAt = at(list, 'a', 'CHANNEL_HANGUP');
  const table = new BlockTable();
  const route = legSteps(list.slice(0, startAt), { a: [], b: [] }, table);
  const start = legSteps(list.slice(startAt, answerAt), route.vars, table);
  const answer = legSteps(list.slice(answerAt, hangupAt), start.vars, table);
  const hangup = legSteps(list.slice(hangupAt), answer.vars, table);
  const hangupB = legSteps(bFirst(list.slice(hangupAt)), answer.vars, table);
  const fail = legSteps(failTail(list.slice(hangupAt), start.vars, answer.vars), start.vars, table);
  const out: BridgeTemplates = {
    source: `plain-events-calls.esl: ${BRIDGE.a} (A, SIPp to ${BRIDGE.aDest}, caller's BYE) bridged to ${BRIDGE.b} (B, sofia/internal/${BRIDGE.bDest}@…)`,
    blocks: table.blocks,
    phases: { route: route.steps, start: start.steps, answer: answer.steps, hangup: hangup.steps, hangupB: hangupB.steps, fail: fail.steps },
  };
  const text = JSON.stringify({ blocks: out.blocks, phases: out.phases });
  for (const token of BRIDGE_LEFTOVER_TOKENS) {
    const i = text.indexOf(token);
    if (i >= 0) throw new Error(`call-specific value left in bridge templates: ${token} in …${text.slice(i - 120, i + 40)}`);
  }
  return out;
}
