import type { Logger } from 'pino';
import type { Metrics } from '../metrics/metrics.js';

/**
 * What a step may tell the runner about scheduling. Everything else a step knows (what it
 * brings to its desired state, and how) stays in the step.
 */
export interface StepContext {
  readonly passId: number;
  /** The runner's logger with this pass's id: a step's log lines carry `pass`. */
  readonly logger: Logger;
  /** Run the next pass no later than `ms` from now (a deadline the step knows of). */
  wakeIn(ms: number): void;
  /**
   * Nothing this step could do before `ms` from now (a closed reload window): passes asked
   * for by non-urgent triggers wait until then; urgent ones still run at once.
   */
  holdFor(ms: number): void;
  /** One target (a Kamailio, say) failed again: its capped backoff, after which a pass runs. */
  targetFailed(target: string): { failures: number; retryInMs: number };
  /** The target worked: its backoff starts over. */
  targetOk(target: string): void;
  /**
   * The pass fails once its remaining steps ran (a thrown error fails it at once and skips
   * them): for a step whose failure later steps can work around.
   */
  failPass(err: unknown): void;
}

export interface ReconcileStep<P> {
  /** Names the step in logs and in `sbc_reconcile_step_duration_seconds{step}`. */
  readonly name: string;
  run(pass: P, ctx: StepContext): Promise<void>;
}

/** Steps in order; the steps of an inner list run concurrently (one per Kamailio, say). */
export type StepPlan<P> = readonly (ReconcileStep<P> | readonly ReconcileStep<P>[])[];

export interface RunnerOptions<P> {
  readonly steps: StepPlan<P>;
  /** A fresh pass state: what the steps of one pass hand each other. */
  readonly newPass: () => P;
  /** A pass runs at least this often, triggered or not (level-triggered resync). */
  readonly resyncMs: number;
  readonly logger: Logger;
  readonly metrics: Pick<Metrics, 'reconcileRuns' | 'reconcileSeconds' | 'reconcileStepSeconds'>;
  readonly backoff?: { readonly baseMs: number; readonly capMs: number };
  /** Wall clock for `lastSuccessAt`; injectable for tests. */
  readonly now?: () => number;
}

export interface PassOutcome<P> {
  readonly passId: number;
  readonly pass: P;
  readonly durationMs: number;
  /** When the runner will run the next pass unless triggered sooner. */
  readonly nextRunInMs: number;
}

/** A pass whose steps failed; `passId` names it in the logs. */
export class ReconcilePassError extends Error {
  override readonly name = 'ReconcilePassError';
  constructor(
    readonly passId: number,
    readonly step: string,
    cause: unknown,
  ) {
    super(`reconcile pass ${passId} failed in step ${step}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

const isGroup = <P>(entry: ReconcileStep<P> | readonly ReconcileStep<P>[]): entry is readonly ReconcileStep<P>[] => Array.isArray(entry);

const DEFAULT_BACKOFF = { baseMs: 200, capMs: 10_000 };

/**
 * The one worker behind every reconcile, knowing nothing of what its steps reconcile
 * (controller-runtime's split between the controller and Reconcile()). It owns: triggers
 * and their coalescing (a burst is one pass; one pass runs at a time), urgency against a
 * hold (a closed reload window delays additions, never removals), capped backoff per
 * failed pass and per target, the resync timer, scheduling at the earliest deadline any
 * step reported, pass ids in the logs, and pass metrics.
 */
export class ReconcileRunner<P> {
  private readonly now: () => number;
  private readonly backoff: { readonly baseMs: number; readonly capMs: number };
  private readonly targetFailures = new Map<string, number>();
  private passes = 0;
  private failures = 0;
  private dirty = true;
  private urgent = true;
  /** Monotonic ms before which non-urgent triggers do not start a pass. */
  private holdUntil = 0;
  private running = false;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private passListeners: ((o: PassOutcome<P>) => void)[] = [];
  lastOutcome: PassOutcome<P> | undefined;
  /** The latest pass, successful or not: what it computed and observed, and when it ended. */
  lastAttempt: { readonly passId: number; readonly pass: P; readonly at: number; readonly error?: unknown } | undefined;
  /** Wall-clock ms of the last successful pass. */
  lastSuccessAt: number | undefined;

  constructor(private readonly opts: RunnerOptions<P>) {
    this.now = opts.now ?? Date.now;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
  }

  /** Passes that failed since the last successful one (0 when the latest pass succeeded). */
  get failedPassesSinceSuccess(): number {
    return this.failures;
  }

  /**
   * Asks for a pass. `urgent` (the default) when something must leave routing, which a
   * hold cannot delay; a change that only adds waits for the hold to end.
   */
  trigger(urgent = true): void {
    this.dirty = true;
    if (urgent) this.urgent = true;
    const now = performance.now();
    if (urgent || now >= this.holdUntil) this.wake?.();
    else this.wakeWhenHoldEnds(this.holdUntil - now);
  }

  private holdTimer: NodeJS.Timeout | undefined;

  /** A non-urgent trigger during a hold runs when the hold ends (once, however many came). */
  private wakeWhenHoldEnds(ms: number): void {
    if (this.holdTimer) return;
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      this.wake?.();
    }, ms);
    this.holdTimer.unref?.();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    this.wake?.();
    await this.loopDone;
  }

  /** Resolves after the next successful pass that starts after this call. */
  nextPass(): Promise<PassOutcome<P>> {
    return new Promise((resolve) => {
      this.trigger();
      this.passListeners.push(resolve);
    });
  }

  private retryIn(failures: number): number {
    return Math.min(this.backoff.capMs, this.backoff.baseMs * 2 ** Math.max(0, failures - 1));
  }

  private async loop(): Promise<void> {
    let delayMs = 0;
    while (this.running) {
      const now = performance.now();
      const ready = this.dirty && (this.urgent || now >= this.holdUntil);
      if (!ready) {
        const waitMs = this.dirty ? Math.min(delayMs, this.holdUntil - now) : delayMs;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, waitMs));
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
      if (!this.running) break;
      this.dirty = false;
      this.urgent = false;
      const listeners = this.passListeners;
      this.passListeners = [];
      try {
        const outcome = await this.runOnce();
        delayMs = outcome.nextRunInMs;
        listeners.forEach((l) => l(outcome));
      } catch (err) {
        delayMs = this.retryIn(this.failures);
        this.opts.logger.error({ err, pass: (err as ReconcilePassError).passId, retryInMs: delayMs }, 'reconcile pass failed');
        // Waiters get the next successful pass.
        this.passListeners.unshift(...listeners);
      }
    }
  }

  /** One pass through every step. Public for tests; production code goes through trigger(). */
  async runOnce(): Promise<PassOutcome<P>> {
    const { metrics, resyncMs } = this.opts;
    const passId = ++this.passes;
    const started = performance.now();
    const logger = this.opts.logger.child({ pass: passId });
    const pass = this.opts.newPass();
    const waits = [resyncMs];
    let holdMs: number | undefined;
    let failed: { step: string; err: unknown } | undefined;
    const contextFor = (step: string): StepContext => ({
      passId,
      logger,
      wakeIn: (ms) => void waits.push(Math.max(0, ms)),
      holdFor: (ms) => void (holdMs = holdMs === undefined ? ms : Math.min(holdMs, ms)),
      targetFailed: (target) => {
        const failures = (this.targetFailures.get(target) ?? 0) + 1;
        this.targetFailures.set(target, failures);
        const retryInMs = this.retryIn(failures);
        waits.push(retryInMs);
        return { failures, retryInMs };
      },
      targetOk: (target) => void this.targetFailures.set(target, 0),
      failPass: (err) => void (failed ??= { step, err }),
    });
    const runStep = async (step: ReconcileStep<P>) => {
      const end = metrics.reconcileStepSeconds.startTimer({ step: step.name });
      try {
        await step.run(pass, contextFor(step.name));
      } catch (err) {
        throw new ReconcilePassError(passId, step.name, err);
      } finally {
        end();
      }
    };
    try {
      for (const entry of this.opts.steps) {
        if (isGroup(entry)) await Promise.all(entry.map(runStep));
        else await runStep(entry);
      }
    } catch (err) {
      failed = { step: (err as ReconcilePassError).step, err };
    }
    const durationMs = performance.now() - started;
    metrics.reconcileSeconds.observe(durationMs / 1000);
    this.lastAttempt = { passId, pass, at: this.now(), ...(failed ? { error: failed.err } : {}) };
    if (failed) {
      this.failures++;
      metrics.reconcileRuns.inc({ outcome: 'error' });
      throw failed.err instanceof ReconcilePassError ? failed.err : new ReconcilePassError(passId, failed.step, failed.err);
    }
    this.failures = 0;
    this.holdUntil = holdMs === undefined ? 0 : performance.now() + holdMs;
    metrics.reconcileRuns.inc({ outcome: 'ok' });
    const outcome: PassOutcome<P> = { passId, pass, durationMs, nextRunInMs: Math.max(0, Math.min(...waits)) };
    this.lastOutcome = outcome;
    this.lastSuccessAt = this.now();
    return outcome;
  }
}
