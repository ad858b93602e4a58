/**
 * Pure rate limit on answering `{prefix}.control.reannounce`: at most one answer per window of
 * `minIntervalMs`. A request inside the window is answered once, when the window ends, so a
 * control plane that asked during someone else's window still hears from this agent; any
 * further request in that window is only counted. Every control plane that starts asks, and
 * each answer is a `joined` per node: without this a burst of requests is a burst of joins.
 */
export interface ReannounceGate {
  /** Answers before this time fall in the current window. */
  readonly windowEndsAt: number;
  /** A request in the window waits for its end. */
  readonly deferred: boolean;
  readonly answered: number;
  /** Requests dropped because one was already waiting for the window's end. */
  readonly ignored: number;
}

export const OPEN_GATE: ReannounceGate = { windowEndsAt: Number.NEGATIVE_INFINITY, deferred: false, answered: 0, ignored: 0 };

export type GateVerdict =
  | { readonly verdict: 'answer'; readonly gate: ReannounceGate }
  /** Answer at `dueAt` (call reannounceDue then). */
  | { readonly verdict: 'defer'; readonly gate: ReannounceGate; readonly dueAt: number }
  | { readonly verdict: 'ignore'; readonly gate: ReannounceGate };

function answer(gate: ReannounceGate, now: number, minIntervalMs: number): ReannounceGate {
  return { ...gate, windowEndsAt: now + minIntervalMs, deferred: false, answered: gate.answered + 1 };
}

/** A valid reannounce request arrived at `now`. */
export function requestReannounce(gate: ReannounceGate, now: number, minIntervalMs: number): GateVerdict {
  // A late timer may leave `deferred` set past the window's end: this answer covers that one too.
  if (now >= gate.windowEndsAt) return { verdict: 'answer', gate: answer(gate, now, minIntervalMs) };
  if (!gate.deferred) return { verdict: 'defer', gate: { ...gate, deferred: true }, dueAt: gate.windowEndsAt };
  return { verdict: 'ignore', gate: { ...gate, ignored: gate.ignored + 1 } };
}

/** The timer for a deferred answer fired at `now`: answer if one is still waiting and due. */
export function reannounceDue(gate: ReannounceGate, now: number, minIntervalMs: number): { readonly answer: boolean; readonly gate: ReannounceGate } {
  if (!gate.deferred || now < gate.windowEndsAt) return { answer: false, gate };
  return { answer: true, gate: answer(gate, now, minIntervalMs) };
}
