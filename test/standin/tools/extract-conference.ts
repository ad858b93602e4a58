/**
 * conference::maintenance templates (templates/conference.json), cut from the two-node captures by
 * extract-templates.ts: node A (cascade-a-plain.esl, conference profile without verbose-events)
 * gives the plain shapes, node B (cascade-b-plain.esl, verbose-events true) the verbose ones.
 *
 * An event's headers after the 13 core ones are split into runs: `$conf` (Conference-Name …
 * Conference-Unique-ID), `$floor` (Floor), `$channel` (the member channel's Channel-*, Caller-*
 * headers), `$vars` (its variables, verbose only), `$member` (Video … Current-Energy), or a literal
 * block (Action, Result, Old-ID, …) whose call-specific values become {{placeholders}}.
 */
import { readFileSync } from 'node:fs';
import { parseFrames, parseEventFrame, getHeader, type HeaderList, type EslEvent } from '../esl-frames.js';
import type { Calling, ConferenceTemplates, ConfEventTemplate } from '../templates.js';
import { rule } from './template-rules.js';

const CORE = 13 + 1; // Event-Subclass, then the 13 core headers
const CONF = new Set(['Conference-Name', 'Conference-Domain', 'Conference-Size', 'Conference-Ghosts', 'Conference-Profile-Name', 'Conference-Unique-ID']);
const MEMBER = new Set(['Video', 'Hear', 'See', 'Speak', 'Talking', 'Mute-Detect', 'Hold', 'Member-ID', 'Member-Type', 'Member-Ghost', 'Energy-Level', 'Current-Energy']);
const isChannel = (k: string) => /^(Channel-|Caller-|Unique-ID$|Call-Direction$|Presence-Call-Direction$|Answer-State$|Hangup-Cause$)/.test(k);

/** Values in literal blocks and in the conference / member runs. */
const LITERAL: Record<string, string> = {
  'Conference-Name': '{{confName}}',
  'Conference-Size': '{{confSize}}',
  'Conference-Unique-ID': '{{confUuid}}',
  'Member-ID': '{{memberId}}',
  'New-ID': '{{memberId}}',
  Floor: '{{floor}}',
  Result: '{{result}}',
  'Job-UUID': '{{jobUuid}}',
  'Peer-UUID': '{{peerUuid}}',
  seconds: '{{fileSeconds}}',
  milliseconds: '{{fileMs}}',
  samples: '{{fileSamples}}',
  File: '{{file}}',
};

/** The outbound leg's channel headers (A's link leg): caller id after the CID flip, see the fixture README. */
const OUTBOUND: Record<string, string> = {
  'Channel-Name': '{{channelName}}',
  'Caller-Channel-Name': '{{channelName}}',
  'Unique-ID': '{{uuid}}',
  'Caller-Unique-ID': '{{uuid}}',
  'Channel-Call-UUID': '{{uuid}}',
  'Caller-Caller-ID-Name': '{{callerName}}',
  'Caller-Caller-ID-Number': '{{callerNumber}}',
  'Caller-ANI': '{{callerNumber}}',
  'Caller-Orig-Caller-ID-Name': '{{origCallerName}}',
  'Caller-Orig-Caller-ID-Number': '{{origCallerNumber}}',
  'Caller-Callee-ID-Name': '{{calleeName}}',
  'Caller-Callee-ID-Number': '{{calleeNumber}}',
  'Caller-Destination-Number': '{{dest}}',
  'Caller-Network-Addr': '{{remoteIp}}',
  'Hangup-Cause': '{{hangupCause}}',
  'Caller-Profile-Created-Time': '{{createdUs}}',
  'Caller-Channel-Created-Time': '{{createdUs}}',
  'Caller-Channel-Answered-Time': '{{answeredUs}}',
};

function events(dir: string, file: string): EslEvent[] {
  const out: EslEvent[] = [];
  for (const f of parseFrames(readFileSync(`${dir}/${file}`))) {
    const ev = parseEventFrame(f);
    if (ev && getHeader(ev.headers, 'Event-Subclass') === 'conference::maintenance') out.push(ev);
  }
  return out;
}

const h = (ev: EslEvent, n: string) => getHeader(ev.headers, n) ?? '';
const calling = (ev: EslEvent): Calling => [h(ev, 'Event-Calling-File'), h(ev, 'Event-Calling-Function'), h(ev, 'Event-Calling-Line-Number')];
const rest = (ev: EslEvent): HeaderList => {
  if (ev.headers[0]?.[0] !== 'Event-Subclass' || ev.headers[CORE - 1]?.[0] !== 'Event-Sequence') throw new Error('unexpected core headers');
  return ev.headers.slice(CORE);
};

function find(list: EslEvent[], what: string, pred: (e: EslEvent) => boolean): EslEvent {
  const ev = list.find(pred);
  if (!ev) throw new Error(`no ${what}`);
  return ev;
}

export function conferenceTemplates(dir: string): ConferenceTemplates {
  const a = events(dir, 'cascade-a-plain.esl');
  const b = events(dir, 'cascade-b-plain.esl');
  const blocks: Record<string, HeaderList> = {};
  const ids = new Map<string, string>();
  const blockId = (hl: HeaderList) => {
    const key = JSON.stringify(hl);
    let id = ids.get(key);
    if (!id) {
      id = `c${ids.size}`;
      ids.set(key, id);
      blocks[id] = hl;
    }
    return id;
  };

  /** The event's run structure; literal runs become blocks. */
  function shape(ev: EslEvent): ConfEventTemplate {
    const parts: string[] = [];
    let literal: HeaderList = [];
    const flush = () => {
      if (literal.length) parts.push(blockId(literal));
      literal = [];
    };
    for (const [k, v] of rest(ev)) {
      const kind = CONF.has(k) ? '$conf' : k === 'Floor' ? '$floor' : k.startsWith('variable_') ? '$vars' : isChannel(k) ? '$channel' : MEMBER.has(k) ? '$member' : undefined;
      if (kind === undefined) {
        literal.push([k, v === 'none' ? v : LITERAL[k] ?? v]);
        continue;
      }
      flush();
      if (parts[parts.length - 1] !== kind || kind === '$floor') parts.push(kind);
    }
    flush();
    return { calling: calling(ev), parts };
  }

  const run = (ev: EslEvent, names: Set<string> | ((k: string) => boolean)): HeaderList =>
    rest(ev).filter(([k]) => (typeof names === 'function' ? names(k) : names.has(k)));
  const withValues = (hl: HeaderList, map: (k: string, v: string) => string): HeaderList => hl.map(([k, v]) => [k, map(k, v)]);

  const act = (list: EslEvent[], action: string, pred: (e: EslEvent) => boolean = () => true) =>
    find(list, action, (e) => h(e, 'Action') === action && pred(e));
  const inboundSipp = (e: EslEvent) => h(e, 'Caller-Username') === 'sipp';
  const linkLeg = (e: EslEvent) => h(e, 'Call-Direction') === 'outbound' && h(e, 'Caller-Orig-Caller-ID-Name') === 'cascade';

  const inboundLive = act(a, 'add-member', inboundSipp);
  const inboundHungup = act(a, 'del-member', (e) => inboundSipp(e) && h(e, 'Hangup-Cause') !== '');
  const outboundLive = act(a, 'add-member', linkLeg);
  const outboundHungup = act(a, 'del-member', (e) => linkLeg(e) && h(e, 'Hangup-Cause') !== '');
  const inboundValue = (k: string, v: string) => rule(k, v, { dest: '3000' });
  const outboundValue = (k: string, v: string) => OUTBOUND[k] ?? v;

  /** One shape per action; floor-change has two (a new holder, or none). */
  function actions(list: EslEvent[]): Record<string, ConfEventTemplate> {
    const withMember = (e: EslEvent) => h(e, 'Unique-ID') !== '';
    return {
      'conference-create': shape(act(list, 'conference-create')),
      'add-member': shape(act(list, 'add-member')),
      'del-member': shape(act(list, 'del-member', (e) => h(e, 'Hangup-Cause') === '')),
      'hup-member': shape(act(list, 'hup-member')),
      'floor-change': shape(act(list, 'floor-change', withMember)),
      'floor-change-none': shape(act(list, 'floor-change', (e) => !withMember(e))),
      'play-file-done': shape(act(list, 'play-file-done')),
      'conference-destroy': shape(act(list, 'conference-destroy')),
      ...(list === a ? { 'bgdial-result': shape(act(list, 'bgdial-result')) } : {}),
    };
  }

  const plain = actions(a);
  const verbose = { ...actions(b), 'bgdial-result': plain['bgdial-result']! };
  const out: ConferenceTemplates = {
    source: 'cascade-a-plain.esl (node A: plain), cascade-b-plain.esl (node B: verbose-events)',
    conf: withValues(run(inboundLive, CONF), (k, v) => LITERAL[k] ?? v),
    member: withValues(run(inboundLive, MEMBER), (k, v) => LITERAL[k] ?? v),
    channel: {
      inbound: withValues(run(inboundLive, isChannel), inboundValue),
      inboundHungup: withValues(run(inboundHungup, isChannel), inboundValue),
      outbound: withValues(run(outboundLive, isChannel), outboundValue),
      outboundHungup: withValues(run(outboundHungup, isChannel), outboundValue),
    },
    blocks,
    plain,
    verbose,
  };
  const text = JSON.stringify(out);
  for (const token of ['a183e574', '2d02aade', '15e1d03d', '8ffbcdcd', '15801', '240ebe9d', '179615']) {
    if (text.includes(token)) throw new Error(`capture value ${token} left in conference templates`);
  }
  return out;
}
