/**
 * How a captured channel becomes template steps (shared by extract-templates.ts and
 * extract-bridge.ts): each event after its 13 core headers is split into header blocks and one
 * `$vars` run; a step keeps the block ids and the variable operations that turn the previous
 * shown variable list into this one (FreeSWITCH moves a variable to the end when it is set again).
 */
import { readFileSync } from 'node:fs';
import { parseFrames, parseEventFrame, getHeader, type HeaderList, type EslEvent } from '../esl-frames.js';
import type { Calling, TemplateStep, VarOps } from '../templates.js';

export const CORE = 13; // Event-Name … Event-Sequence, see the fixture README

export function events(dir: string, file: string): EslEvent[] {
  const out: EslEvent[] = [];
  for (const f of parseFrames(readFileSync(`${dir}/${file}`))) {
    const ev = parseEventFrame(f);
    if (ev) out.push(ev);
  }
  return out;
}

export const h = (ev: EslEvent, name: string) => getHeader(ev.headers, name) ?? '';
export const calling = (ev: EslEvent): Calling => [h(ev, 'Event-Calling-File'), h(ev, 'Event-Calling-Function'), h(ev, 'Event-Calling-Line-Number')];

export function label(ev: EslEvent): string {
  const name = h(ev, 'Event-Name');
  if (name === 'CHANNEL_STATE') return `${name} ${h(ev, 'Channel-State')}`;
  if (name === 'CHANNEL_CALLSTATE') return `${name} ${h(ev, 'Channel-Call-State')}`;
  if (name.startsWith('CHANNEL_EXECUTE')) return `${name} ${h(ev, 'Application')}`;
  if (name === 'API') return `${name} ${h(ev, 'API-Command')}`;
  return name;
}

/**
 * The events of the channels in `uuids`, in arrival order, with the dialplan's strftime API event
 * where it happened (right after the first channel's `set`); ends with the last CS_DESTROY.
 */
export function callEvents(all: EslEvent[], ...uuids: string[]): EslEvent[] {
  const out: EslEvent[] = [];
  const open = new Set<string>();
  const destroyed = new Set<string>();
  for (const ev of all) {
    const uuid = h(ev, 'Unique-ID');
    const own = uuids.includes(uuid);
    if (own) open.add(uuid);
    if (open.size === 0) continue;
    if (own) out.push(ev);
    else if (h(ev, 'API-Command') === 'strftime' && out.length > 0 && label(out[out.length - 1]!) === 'CHANNEL_EXECUTE_COMPLETE set') out.push(ev);
    if (own && h(ev, 'Channel-State') === 'CS_DESTROY') destroyed.add(uuid);
    if (destroyed.size === uuids.length) break;
  }
  return out;
}

export interface Shaped {
  ev: EslEvent;
  nonVar: HeaderList[];
  parts: Array<'block' | '$vars'>;
  vars: HeaderList | undefined;
}

export function shape(ev: EslEvent, valueRule: (k: string, v: string) => string): Shaped {
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
export function diffVars(prev: HeaderList, next: HeaderList): VarOps {
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

/** Header blocks shared by every step of one template file, numbered in order of first use. */
export class BlockTable {
  readonly blocks: Record<string, HeaderList> = {};
  private readonly ids = new Map<string, string>();

  id(headers: HeaderList): string {
    const key = JSON.stringify(headers);
    let id = this.ids.get(key);
    if (!id) {
      id = `b${this.ids.size}`;
      this.ids.set(key, id);
      this.blocks[id] = headers;
    }
    return id;
  }
}

/** One step: its blocks registered, its variables diffed against `vars` (the last list shown). */
export function step(s: Shaped, vars: HeaderList, table: BlockTable): { step: TemplateStep; vars: HeaderList } {
  let b = 0;
  const parts = s.parts.map((p) => (p === '$vars' ? '$vars' : table.id(s.nonVar[b++]!)));
  const out: TemplateStep = { event: h(s.ev, 'Event-Name'), calling: calling(s.ev), parts, label: label(s.ev) };
  if (s.vars) {
    out.vars = diffVars(vars, s.vars);
    vars = s.vars;
  }
  return { step: out, vars };
}

/** Steps for shaped[from, to), diffing variables against `vars` (the last shown list). */
export function steps(shaped: Shaped[], from: number, to: number, vars: HeaderList, table: BlockTable): { steps: TemplateStep[]; vars: HeaderList } {
  const out: TemplateStep[] = [];
  for (const s of shaped.slice(from, to)) {
    const r = step(s, vars, table);
    out.push(r.step);
    vars = r.vars;
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
export function withOptionalVars(s: Shaped): Shaped {
  if (!s.vars) return s;
  const vars = [...s.vars];
  for (const [after, name, value] of OPTIONAL_VARS) {
    const i = vars.findIndex(([k]) => k === after);
    if (i >= 0) vars.splice(i + 1, 0, [name, value]);
  }
  return { ...s, vars };
}

export function indexOf(list: Shaped[], l: string, from = 0): number {
  const i = list.findIndex((s, n) => n >= from && label(s.ev) === l);
  if (i < 0) throw new Error(`no ${l}`);
  return i;
}

/** One header pair per line keeps the generated files diffable. */
export function pretty(value: unknown): string {
  return JSON.stringify(value, null, 1).replace(/\[\n\s*("(?:[^"\\]|\\.)*"),\n\s*("(?:[^"\\]|\\.)*")\n\s*\]/g, '[$1, $2]') + '\n';
}
