import type { HangupCause } from '../events/commands.js';
import type { MachineIntent } from './machine.js';
import type { NodeRecord } from './node.js';

/**
 * What a drain asks of a node's FreeSWITCH, decided from what the leader knows in one pass
 * (pure; steps/drainChecks.ts carries it out):
 *
 * - **Pause inbound** once no room is pinned to the node: callers of a pinned room must still
 *   reach it, and FreeSWITCH paused inbound answers every INVITE 503. Before that the node is
 *   out of new selection in Kamailio only. Only inbound: a draining node's cascade links dial
 *   out, and `fsctl pause` (all) stops those (captured: DESTINATION_OUT_OF_ORDER).
 * - **At the deadline**, `hangup`: pause inbound (pins or not: the rooms end now), then end
 *   every call with the drain's cause; `keep`: nothing is cut, the drain is overdue (an alert).
 * - **Undrained**: a node the leader paused for a drain that no longer is gets resumed.
 */
export type DrainDeadlineAction = 'hangup' | 'keep';

export const DEFAULT_DRAIN_HANGUP_CAUSE: HangupCause = 'MANAGER_REQUEST';

/** What FreeSWITCH said when asked (status through the agent). */
export interface FreeSwitchDrainFacts {
  readonly sessions: number;
  readonly inboundPaused: boolean;
}

export type DrainStep =
  | { readonly kind: 'pause-inbound'; readonly why: 'no-pinned-room' | 'deadline' }
  | { readonly kind: 'hangup-all'; readonly cause: HangupCause }
  /** FreeSWITCH has no call: drained on its own count (a leaked counter never stalls a drain). */
  | { readonly kind: 'drained' };

export interface DrainPlan {
  readonly steps: readonly DrainStep[];
  /** Past the deadline with calls left and `keep`: raise the alert. */
  readonly overdue: boolean;
}

/**
 * Pure: the steps for one draining node. `pinnedRooms`: how many rooms are pinned to it
 * (undefined: the rooms step failed this pass, so it is not known, and nothing is paused on
 * a guess).
 */
export function planDrain(
  drain: NonNullable<MachineIntent['drain']>,
  fs: FreeSwitchDrainFacts,
  pinnedRooms: number | undefined,
  now: number,
): DrainPlan {
  const noPin = !fs.inboundPaused && pinnedRooms === 0;
  if (fs.sessions === 0) return { steps: [...(noPin ? [{ kind: 'pause-inbound', why: 'no-pinned-room' } as const] : []), { kind: 'drained' }], overdue: false };
  const past = now >= drain.deadline;
  const action = drain.onDeadline ?? 'keep';
  if (past && action === 'hangup') {
    const pause: DrainStep[] = fs.inboundPaused ? [] : [{ kind: 'pause-inbound', why: 'deadline' }];
    return { steps: [...pause, { kind: 'hangup-all', cause: drain.hangupCause ?? DEFAULT_DRAIN_HANGUP_CAUSE }], overdue: false };
  }
  const pause: DrainStep[] = noPin ? [{ kind: 'pause-inbound', why: 'no-pinned-room' }] : [];
  return { steps: pause, overdue: past };
}

/** Pure: how many rooms are pinned to this node (a pin names the node's dispatcher destination). */
export function pinnedTo(node: Pick<NodeRecord, 'sipUri'>, pins: Iterable<{ readonly uri: string }> | undefined): number | undefined {
  if (pins === undefined) return undefined;
  let n = 0;
  for (const p of pins) if (p.uri === node.sipUri) n += 1;
  return n;
}

/**
 * Pure: machines the leader paused for a drain that no longer drains, with the live node on
 * each (a machine whose node is gone has nothing to resume: a FreeSWITCH restarted there
 * starts unpaused; its flag is cleared without a command).
 */
export function resumesDue(machines: readonly MachineIntent[], nodes: readonly NodeRecord[]): Array<{ readonly machine: MachineIntent; readonly node: NodeRecord | undefined }> {
  return machines
    .filter((m) => m.inboundPaused === true && m.drain === undefined)
    .map((machine) => ({ machine, node: nodes.find((n) => n.machineId === machine.machineId && n.state !== 'gone') }));
}

/**
 * Pure: an estimate of when a drain ends, from the calls left and how fast they have been
 * ending since it began (`since`, with `startSessions` then). Undefined while nothing has ended
 * yet (no rate to go on). Never later than the deadline when the deadline hangs up.
 */
export function estimateDrainEnd(
  drain: NonNullable<MachineIntent['drain']>,
  sessionsNow: number,
  now: number,
): number | undefined {
  const cap = (t: number) => ((drain.onDeadline ?? 'keep') === 'hangup' ? Math.min(t, drain.deadline) : t);
  if (sessionsNow === 0) return now;
  const since = drain.since;
  const start = drain.startSessions;
  if (since === undefined || start === undefined || now <= since || start <= sessionsNow) {
    return (drain.onDeadline ?? 'keep') === 'hangup' ? drain.deadline : undefined;
  }
  const perMs = (start - sessionsNow) / (now - since);
  return cap(Math.round(now + sessionsNow / perMs));
}
