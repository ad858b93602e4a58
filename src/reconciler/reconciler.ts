import type { Logger } from 'pino';
import type { DispatcherPolicy, DispatcherSet } from '../core/dispatcher.js';
import type { Change } from '../core/planChanges.js';
import type { KamailioAddressBook } from '../kamailio/addresses.js';
import type { Leadership } from '../leader/leadership.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DispatcherStore } from '../ports/dispatcherStore.js';
import type { KamailioRpc } from '../ports/kamailioRpc.js';
import type { NodeRegistry } from '../ports/nodeRegistry.js';
import type { LinkCommands } from '../nats/agentCommands.js';
import type { RoomPolicyStore } from '../ports/roomPolicyStore.js';
import type { RoomRegistry } from '../ports/roomRegistry.js';
import type { MembershipPolicy } from '../registry/membership.js';
import { newDispatcherPass, type AppliedTransition, type DispatcherPass, type KamailioObservation, type KamailioOutcome } from './dispatcherPass.js';
import { ReconcileRunner, type PassOutcome, type StepPlan } from './runner.js';
import type { AgentCommands, NodeControlCommands } from '../nats/agentCommands.js';
import type { CallStore } from '../ports/callStore.js';
import { callPartitionsStep } from './steps/callPartitions.js';
import { drainChecksStep, inboundResumeStep, type DrainChecksDeps } from './steps/drainChecks.js';
import { scaleStep, type ScaleStepDeps } from './steps/scale.js';
import { autoscalerStep, type AutoscalerStepDeps } from './steps/autoscaler.js';
import { dispatcherTableStep } from './steps/dispatcherTable.js';
import { healthStep, type HealthStepDeps } from './steps/health.js';
import { kamailioAddressesStep } from './steps/kamailioAddresses.js';
import { kamailioDispatcherStep } from './steps/kamailioDispatcher.js';
import { kamailioPinsStep } from './steps/kamailioPins.js';
import { roomLinksStep } from './steps/roomLinks.js';
import { roomsStep } from './steps/rooms.js';
import { leadershipStep } from './steps/leadership.js';
import { nodePromotionsStep, nodeTransitionsStep } from './steps/nodeTransitions.js';

export type { KamailioOutcome } from './dispatcherPass.js';

const DEFAULT_MARK_HOLD_MS = 30_000;
/** The call store's partitions change once a day; an hour is plenty to make tomorrow's in time. */
const CALL_PARTITIONS_EVERY_MS = 3_600_000;
/** A draining node's calls are asked of its FreeSWITCH at least this often (issue 9: a leaked counter never stalls a drain). */
const DRAIN_CHECK_EVERY_MS = 10_000;

export interface ReconcilerDeps {
  readonly registry: NodeRegistry;
  readonly store: DispatcherStore;
  readonly kamailios: readonly KamailioRpc[];
  readonly policy: DispatcherPolicy;
  readonly managedSets: ReadonlySet<number>;
  readonly membership: MembershipPolicy;
  /** Minimum spacing of reloads per Kamailio (its reload_delta). */
  readonly reloadDeltaMs: number;
  /** How long Kamailio's own inactive marks are respected (default 30 s). */
  readonly markHoldMs?: number;
  readonly resyncMs: number;
  /** See steps/dispatcherTable.ts: how long rows of nodes the registry does not know are kept. */
  readonly unknownNodeGraceMs: number;
  /**
   * Kamailio's own SIP addresses, refreshed from each Kamailio's sockets every resync:
   * a node at one of them never gets a row (it would loop calls through Kamailio).
   */
  readonly addresses?: KamailioAddressBook;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** With several replicas, the election: passes run and write only under the leader's epoch. */
  readonly leadership?: Leadership;
  /** Wall clock for stored deadlines; injectable for tests. */
  readonly now?: () => number;
  /** Since when this replica has heard NATS without a break, null while cut off (steps/nodeTransitions.ts). */
  readonly heardSince?: () => number | null;
  /** Draining nodes' calls asked of FreeSWITCH itself (steps/drainChecks.ts): the agents' status command. */
  readonly drainChecks?: { readonly agents: Pick<AgentCommands, 'status'> & NodeControlCommands; readonly operations?: DrainChecksDeps['operations'] };
  /** The pool's target size and its provisioner (steps/scale.ts). */
  readonly scale?: Pick<ScaleStepDeps, 'targets' | 'provisioner' | 'retryMs' | 'drainDeadlineMs' | 'operations'>;
  /** The autoscaler (off when absent; steps/autoscaler.ts), before the scale step. */
  readonly autoscaler?: Pick<AutoscalerStepDeps, 'mode' | 'policy' | 'cooldowns' | 'everyMs' | 'operations'>;
  /** Health scores per node (steps/health.ts), before the table step; without it every node counts as healthy. */
  readonly health?: Pick<HealthStepDeps, 'policy' | 'everyMs' | 'store' | 'sensors' | 'maxConcurrentReads' | 'hooks' | 'signal'>;
  /** The call store whose day partitions the leader keeps (steps/callPartitions.ts). */
  readonly calls?: Pick<CallStore, 'maintainPartitions'>;
  /** The room table and its pins in every Kamailio (steps/rooms.ts, steps/kamailioPins.ts). */
  readonly rooms?: {
    readonly registry: RoomRegistry;
    readonly pinGraceMs: number;
    readonly policies?: RoomPolicyStore;
    readonly maxMembersPerNode?: number;
    /** Cascade links (steps/roomLinks.ts): the agents' link commands and the Kamailio they dial through. */
    readonly links?: { readonly commands: LinkCommands; readonly via: () => string | undefined; readonly setupGraceMs: number; readonly mediaTimeoutMs: number };
  };
}

export interface ReconcileReport {
  readonly passId: number;
  readonly nodes: number;
  readonly transitions: readonly AppliedTransition[];
  readonly rowChanges: readonly Change[];
  readonly kamailios: readonly KamailioOutcome[];
  readonly nextRunInMs: number;
  readonly durationMs: number;
}

/** What `GET /v1/dispatcher` shows: the latest pass's rows and each Kamailio's latest observation. */
export interface DispatcherStatus {
  /** Id and wall-clock end of the pass the rows come from; undefined before the first pass. */
  readonly pass: { readonly id: number; readonly at: number; readonly ok: boolean } | undefined;
  readonly desired: readonly DispatcherSet[];
  readonly keptForUnknownNodes: number;
  readonly kamailios: readonly (KamailioObservation | { readonly kamailio: string; readonly at?: undefined })[];
}

/**
 * The dispatcher's reconcile: a runner with one step per resource (node transitions, the
 * table, each Kamailio's dispatcher, Kamailio's own addresses, promotions). A later
 * resource (room pins, cascade links) is one more step in `plan`.
 */
export class Reconciler {
  private readonly runner: ReconcileRunner<DispatcherPass>;
  /** Each Kamailio's latest observation, kept across passes (a pass that skipped one keeps the older). */
  private readonly observed = new Map<string, KamailioObservation>();

  constructor(private readonly deps: ReconcilerDeps) {
    const now = deps.now ?? Date.now;
    const leader = deps.leadership ? { leadership: deps.leadership } : {};
    const rooms = deps.rooms;
    const transitions = { registry: deps.registry, membership: deps.membership, metrics: deps.metrics, now, ...leader, ...(deps.heardSince ? { heardSince: deps.heardSince } : {}) };
    const plan: StepPlan<DispatcherPass> = [
      ...(deps.leadership ? [leadershipStep(deps.leadership)] : []),
      nodeTransitionsStep(transitions),
      ...(deps.drainChecks ? [inboundResumeStep({ ...transitions, agents: deps.drainChecks.agents, everyMs: DRAIN_CHECK_EVERY_MS, ...(deps.drainChecks.operations ? { operations: deps.drainChecks.operations } : {}) })] : []),
      ...(deps.health ? [healthStep({ ...deps.health, observations: () => [...this.observed.values()], metrics: deps.metrics, now })] : []),
      dispatcherTableStep({ store: deps.store, policy: deps.policy, unknownNodeGraceMs: deps.unknownNodeGraceMs, metrics: deps.metrics, now, ...leader, ...(deps.addresses ? { addresses: deps.addresses } : {}) }),
      deps.kamailios.map((kamailio) =>
        kamailioDispatcherStep({ kamailio, managedSets: deps.managedSets, reloadDeltaMs: deps.reloadDeltaMs, markHoldMs: deps.markHoldMs ?? DEFAULT_MARK_HOLD_MS, metrics: deps.metrics, now, ...leader }),
      ),
      ...(rooms
        ? [
            roomsStep({ rooms: rooms.registry, pinGraceMs: rooms.pinGraceMs, metrics: deps.metrics, now, ...leader, ...(rooms.policies ? { policies: rooms.policies } : {}), ...(rooms.maxMembersPerNode !== undefined ? { maxMembersPerNode: rooms.maxMembersPerNode } : {}) }),
            deps.kamailios.map((kamailio) => kamailioPinsStep({ kamailio, rooms: rooms.registry, metrics: deps.metrics, ...leader })),
            ...(rooms.links
              ? [roomLinksStep({ rooms: rooms.registry, links: rooms.links.commands, via: rooms.links.via, setupGraceMs: rooms.links.setupGraceMs, mediaTimeoutMs: rooms.links.mediaTimeoutMs, metrics: deps.metrics, now, ...leader })]
              : []),
          ]
        : []),
      ...(deps.addresses ? [kamailioAddressesStep({ kamailios: deps.kamailios, addresses: deps.addresses, refreshMs: deps.resyncMs })] : []),
      nodePromotionsStep(transitions),
      ...(deps.drainChecks ? [drainChecksStep({ ...transitions, agents: deps.drainChecks.agents, everyMs: DRAIN_CHECK_EVERY_MS, ...(deps.drainChecks.operations ? { operations: deps.drainChecks.operations } : {}) })] : []),
      ...(deps.scale && deps.autoscaler ? [autoscalerStep({ ...deps.autoscaler, targets: deps.scale.targets, metrics: deps.metrics, now, ...leader })] : []),
      ...(deps.scale ? [scaleStep({ ...deps.scale, registry: deps.registry, metrics: deps.metrics, now, ...leader })] : []),
      ...(deps.calls ? [callPartitionsStep({ calls: deps.calls, everyMs: CALL_PARTITIONS_EVERY_MS, now })] : []),
      {
        name: 'observations',
        run: (pass) => {
          for (const o of pass.observations) this.observed.set(o.kamailio, o);
          return Promise.resolve();
        },
      },
    ];
    this.runner = new ReconcileRunner({ steps: plan, newPass: newDispatcherPass, resyncMs: deps.resyncMs, logger: deps.logger, metrics: deps.metrics, now });
  }

  /**
   * Asks for a pass. `urgent` (the default) when something must leave routing, which a
   * closed reload window cannot delay (dispatcher.set_state acts at once); a change that
   * only adds (a join, a new capacity) waits for the window.
   */
  trigger(urgent = true): void {
    this.runner.trigger(urgent);
  }

  start(): void {
    this.runner.start();
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }

  /** Resolves after the next successful pass that starts after this call. */
  async nextPass(): Promise<ReconcileReport> {
    return this.toReport(await this.runner.nextPass());
  }

  /** One full pass. Public for tests; production code goes through trigger(). */
  async runOnce(): Promise<ReconcileReport> {
    return this.toReport(await this.runner.runOnce());
  }

  get lastReport(): ReconcileReport | undefined {
    const o = this.runner.lastOutcome;
    return o && this.toReport(o);
  }

  get lastSuccessAt(): number | undefined {
    return this.runner.lastSuccessAt;
  }

  /** Passes that failed since the last successful one (0 when the latest pass succeeded). */
  get failedPassesSinceSuccess(): number {
    return this.runner.failedPassesSinceSuccess;
  }

  /** What the latest pass computed and saw; never calls anything. */
  dispatcherStatus(): DispatcherStatus {
    const last = this.runner.lastAttempt;
    const rows = last?.pass.desired ?? [];
    return {
      pass: last && { id: last.passId, at: last.at, ok: last.error === undefined },
      desired: this.deps.policy.sets.map((s) => ({
        setId: s.setId,
        purpose: s.purpose,
        algorithm: s.algorithm,
        destinations: rows.filter((r) => r.setid === s.setId),
      })),
      keptForUnknownNodes: last?.pass.keptForUnknownNodes ?? 0,
      kamailios: this.deps.kamailios.map((k) => this.observed.get(k.name) ?? { kamailio: k.name }),
    };
  }

  /** Outcomes in the configured order of the Kamailios (their steps run side by side). */
  private toReport(o: PassOutcome<DispatcherPass>): ReconcileReport {
    const order = this.deps.kamailios.map((k) => k.name);
    const kamailios = [...o.pass.kamailios].sort((a, b) => order.indexOf(a.kamailio) - order.indexOf(b.kamailio));
    return {
      passId: o.passId,
      nodes: o.pass.nodes.length,
      transitions: o.pass.transitions,
      rowChanges: o.pass.rowChanges,
      kamailios,
      nextRunInMs: o.nextRunInMs,
      durationMs: o.durationMs,
    };
  }
}
