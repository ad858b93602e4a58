import { readFileSync } from 'node:fs';
import type { HeaderList } from './esl-frames.js';

/**
 * Event templates cut from the FreeSWITCH 1.11.2 capture by `tools/extract-templates.ts`.
 *
 * A channel event is rendered as: core headers (built at fire time) + the step's parts in order.
 * A part is a shared header block, or `$vars`: the channel's `variable_*` list at that moment.
 * FreeSWITCH keeps channel variables in insertion order and moves a variable to the end when it is
 * set again, so each step that shows variables carries the operations (delete / update in place /
 * set-and-move-to-end) that turn the previous shown list into this one. Values may hold
 * `{{placeholders}}` filled from the call; a header whose whole value is a placeholder with no
 * value (e.g. `{{subject}}` for an INVITE without Subject) is left out, as FreeSWITCH would.
 */

export type Calling = [file: string, func: string, line: string];

export interface VarOps {
  del?: string[];
  upd?: HeaderList;
  set?: HeaderList;
}

export interface TemplateStep {
  event: string;
  calling: Calling;
  parts: string[];
  vars?: VarOps;
  /** Short label for humans and tests: `CHANNEL_STATE CS_INIT`, `CHANNEL_EXECUTE answer`, … */
  label: string;
}

export type PhaseName =
  | 'route' | 'answer' | 'toneDone' | 'hangupParked' | 'hangupInTone' | 'hangupRinging'
  | 'confJoin' | 'confHangup' | 'confLeave'
  | 'legOriginate' | 'legAnswer' | 'legJoin' | 'legHangup' | 'legLeave';

export interface CallTemplates {
  source: string;
  blocks: Record<string, HeaderList>;
  phases: Record<PhaseName, TemplateStep[]>;
}

export interface SystemTemplates {
  source: string;
  api: Calling;
  backgroundJob: Calling;
  heartbeat: { calling: Calling; names: string[] };
  reSchedule: { calling: Calling; names: string[] };
  shutdown: { calling: Calling; headers: HeaderList };
  moduleUnload: Array<{ calling: Calling; headers: HeaderList }>;
}

/** Which leg of a bridged call a step belongs to: the inbound A leg or the outbound B leg. */
export type Leg = 'a' | 'b';

export interface BridgeStep extends TemplateStep {
  leg: Leg;
}

export type BridgePhaseName = 'route' | 'start' | 'answer' | 'hangup' | 'hangupB' | 'fail';

/** templates/bridge.json (tools/extract-bridge.ts): both legs of a bridged call as one stream. */
export interface BridgeTemplates {
  source: string;
  blocks: Record<string, HeaderList>;
  phases: Record<BridgePhaseName, BridgeStep[]>;
}

/** One conference::maintenance event: its calling triple and its runs (see tools/extract-conference.ts). */
export interface ConfEventTemplate {
  calling: Calling;
  /** `$conf`, `$floor`, `$channel`, `$vars`, `$member`, or a key of `blocks`. */
  parts: string[];
}

export interface ConferenceTemplates {
  source: string;
  conf: HeaderList;
  member: HeaderList;
  channel: { inbound: HeaderList; inboundHungup: HeaderList; outbound: HeaderList; outboundHungup: HeaderList };
  blocks: Record<string, HeaderList>;
  /** Node A's shapes (conference profile without verbose-events). */
  plain: Record<string, ConfEventTemplate>;
  /** Node B's shapes (verbose-events true: channel variables on member events, channel on conference-create). */
  verbose: Record<string, ConfEventTemplate>;
}

function loadJson<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./templates/${name}`, import.meta.url), 'utf8')) as T;
}

let callCache: CallTemplates | undefined;
let systemCache: SystemTemplates | undefined;
let conferenceCache: ConferenceTemplates | undefined;
let bridgeCache: BridgeTemplates | undefined;

export function bridgeTemplates(): BridgeTemplates {
  return (bridgeCache ??= loadJson<BridgeTemplates>('bridge.json'));
}

export function conferenceTemplates(): ConferenceTemplates {
  return (conferenceCache ??= loadJson<ConferenceTemplates>('conference.json'));
}

export function callTemplates(): CallTemplates {
  return (callCache ??= loadJson<CallTemplates>('inbound-call.json'));
}

export function systemTemplates(): SystemTemplates {
  return (systemCache ??= loadJson<SystemTemplates>('system-events.json'));
}

export type Resolve = (key: string) => string | undefined;

const WHOLE = /^\{\{(\w+)\}\}$/;
const ANY = /\{\{(\w+)\}\}/g;

/** Fills placeholders; undefined means "leave this header out". */
export function fill(value: string, resolve: Resolve): string | undefined {
  const whole = WHOLE.exec(value);
  if (whole) return resolve(whole[1] ?? '');
  return value.replace(ANY, (_m, key: string) => resolve(key) ?? '');
}

/** A variable list filled in (headers whose placeholder has no value left out): what verbose-events show on member events. */
export function fillAll(vars: HeaderList, resolve: Resolve): HeaderList {
  const out: HeaderList = [];
  for (const [k, v] of vars) {
    const filled = fill(v, resolve);
    if (filled !== undefined) out.push([k, filled]);
  }
  return out;
}

/** Applies one step's variable operations to a running variable list (template values, unfilled). */
export function applyVarOps(vars: HeaderList, ops: VarOps): HeaderList {
  let out = vars;
  if (ops.del) {
    const del = new Set(ops.del);
    out = out.filter(([k]) => !del.has(k));
  }
  if (ops.upd) {
    const upd = new Map(ops.upd);
    out = out.map(([k, v]) => [k, upd.get(k) ?? v]);
  }
  if (ops.set) {
    const set = new Set(ops.set.map(([k]) => k));
    out = [...out.filter(([k]) => !set.has(k)), ...ops.set];
  }
  return out;
}

/** Renders a step's non-core headers; `vars` must already have this step's operations applied. */
export function renderStep(step: TemplateStep, vars: HeaderList, resolve: Resolve, blocks = callTemplates().blocks): HeaderList {
  const out: HeaderList = [];
  for (const part of step.parts) {
    const headers = part === '$vars' ? vars : blocks[part];
    if (!headers) throw new Error(`template block ${part} missing`);
    for (const [k, v] of headers) {
      const filled = fill(v, resolve);
      if (filled !== undefined) out.push([k, filled]);
    }
  }
  return out;
}
