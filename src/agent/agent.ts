import type { Logger } from 'pino';
import { decodeReannounce, subjects, type Subjects } from '../events/index.js';
import type { FreeSwitchLink } from './esl.js';
import { readFsEvent } from './fs-events.js';
import { parseCoreUuid, parseStatus } from './fs-output.js';
import { decide, INITIAL_MEMBERSHIP, type MembershipAction, type MembershipInput, type MembershipState } from './membership.js';
import { encodeOutgoing, heartbeatMessage, joinedMessage, leftMessage, SeqCounter, type Outgoing } from './messages.js';
import { withTimeout, type MembershipBus } from './nats.js';
import { readNodeFacts } from './node-facts.js';
import { sessionCount } from './sessions.js';
import { PACKAGE_VERSION } from '../version.js';

export interface AgentSettings {
  readonly natsPrefix: string;
  readonly sipProfile: string;
  readonly sipUriOverride: string | undefined;
  readonly heartbeatMs: number;
  readonly sessionRecheckMs: number;
  readonly eslTimeoutMs: number;
  /** How long one probe waits for an unreachable FreeSWITCH to come back (default 30 s). */
  readonly recoveryProbeTimeoutMs?: number;
  /** Consecutive failed probes before FreeSWITCH counts as lost (default 1). */
  readonly failedProbesBeforeLost?: number;
  /** Bound on flushing the final `left` to NATS in stop() (default 2 s). */
  readonly stopFlushTimeoutMs?: number;
}

export interface AgentDeps {
  /** Opens the Event Socket; called once, by start(). */
  readonly openLink: () => FreeSwitchLink;
  readonly bus: MembershipBus;
  readonly logger: Logger;
  readonly now?: () => number;
}

export interface AgentStatus {
  readonly phase: MembershipState['phase'];
  readonly nodeId: string | undefined;
  readonly sessions: number | undefined;
  readonly published: { readonly joined: number; readonly heartbeat: number; readonly left: number };
  /** Messages that failed schema validation and were not sent (a bug if ever non-zero). */
  readonly refused: number;
  readonly invalidReannounce: number;
  /** Subscribed events without the headers the agent needs. */
  readonly unusableEvents: number;
}

export interface Agent {
  /** Connects to FreeSWITCH, makes a first attempt to announce it, then keeps going. */
  start(): Promise<void>;
  /** Publishes `left` (agent-stopping) if a node is announced, flushes it, closes ESL. */
  stop(reason?: string): Promise<void>;
  status(): AgentStatus;
}

export function createAgent(settings: AgentSettings, deps: AgentDeps): Agent {
  return new MembershipAgent(settings, deps);
}

class MembershipAgent implements Agent {
  private readonly subjects: Subjects;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly seq: SeqCounter;
  private readonly identity: { agentVersion: string; heartbeatIntervalMs: number };
  private state: MembershipState = INITIAL_MEMBERSHIP;
  private link: FreeSwitchLink | undefined;
  private reannounceSub: { unsubscribe(): void } | undefined;
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  /** The last discovery attempt failed: the next probe may wait for FreeSWITCH to return. */
  private unreachable = false;
  private lastProblem = '';
  /** Connection count when the facts were read; a change means missed events. */
  private factsConnection = -1;
  private lastRecheckAt = 0;
  private tickStartedAt = 0;
  private wakeRequested = false;
  private wakeSleeper: (() => void) | undefined;
  private readonly counters = { joined: 0, heartbeat: 0, left: 0, refused: 0, invalidReannounce: 0, unusableEvents: 0 };

  constructor(
    private readonly settings: AgentSettings,
    private readonly deps: AgentDeps,
  ) {
    this.subjects = subjects(settings.natsPrefix);
    this.now = deps.now ?? Date.now;
    this.log = deps.logger.child({ component: 'agent' });
    this.seq = new SeqCounter(this.now());
    this.identity = { agentVersion: PACKAGE_VERSION, heartbeatIntervalMs: settings.heartbeatMs };
  }

  async start(): Promise<void> {
    if (this.link) throw new Error('agent already started');
    const link = this.deps.openLink();
    this.link = link;
    link.onEvent((headers) => {
      const input = readFsEvent(headers);
      if (input) this.dispatch(input);
      else this.counters.unusableEvents += 1;
    });
    this.reannounceSub = this.deps.bus.subscribe(this.subjects.reannounce, (data) => this.onReannounce(data));
    this.tickStartedAt = this.now();
    await this.discover(link);
    if (!this.stopping) this.loop = this.run(link);
  }

  stop(reason = 'stop requested'): Promise<void> {
    this.stopping ??= this.shutdown(reason);
    return this.stopping;
  }

  status(): AgentStatus {
    const s = this.state;
    return {
      phase: s.phase,
      nodeId: s.phase === 'up' ? s.node.nodeId : undefined,
      sessions: s.phase === 'up' ? sessionCount(s.sessions) : undefined,
      published: { joined: this.counters.joined, heartbeat: this.counters.heartbeat, left: this.counters.left },
      refused: this.counters.refused,
      invalidReannounce: this.counters.invalidReannounce,
      unusableEvents: this.counters.unusableEvents,
    };
  }

  private async shutdown(reason: string): Promise<void> {
    this.log.info({ reason }, 'agent stopping');
    this.dispatch({ kind: 'stop' });
    this.reannounceSub?.unsubscribe();
    if (!(await this.deps.bus.flush(this.settings.stopFlushTimeoutMs ?? 2000))) {
      this.log.warn('NATS flush did not finish; the final messages may be lost');
    }
    // Closing the link resolves any command in flight, so the loop ends promptly.
    this.link?.close();
    this.wake();
    if (this.loop) await withTimeout(this.loop, 5000);
    this.log.info('agent stopped');
  }

  /** One tick per heartbeat interval; each step is bounded by the ESL timeouts. */
  private async run(link: FreeSwitchLink): Promise<void> {
    while (!this.stopping) {
      await this.pause(Math.max(0, this.settings.heartbeatMs - (this.now() - this.tickStartedAt)));
      if (this.stopping) break;
      this.tickStartedAt = this.now();
      try {
        if (this.state.phase === 'up') await this.heartbeatTick(link);
        else await this.discover(link);
      } catch (err) {
        this.log.error({ err }, 'agent tick failed');
      }
    }
  }

  private async heartbeatTick(link: FreeSwitchLink): Promise<void> {
    const reconnected = link.connections() !== this.factsConnection;
    const reply = await link.api('global_getvar core_uuid', this.settings.eslTimeoutMs);
    const coreUuid = reply.ok ? parseCoreUuid(reply.output) : undefined;
    if (coreUuid) this.dispatch({ kind: 'probe-ok', coreUuid });
    else {
      this.log.warn({ error: reply.ok ? `unexpected output ${JSON.stringify(reply.output.slice(0, 80))}` : reply.error }, 'FreeSWITCH probe failed');
      this.dispatch({ kind: 'probe-failed' });
    }
    if (this.state.phase !== 'up' || this.stopping) return;
    if (reconnected) {
      // The socket was replaced since the facts were read: events may be lost, so re-read.
      this.log.info('Event Socket reconnected; re-reading FreeSWITCH facts');
      await this.discover(link);
    } else if (this.now() - this.lastRecheckAt >= this.settings.sessionRecheckMs) {
      await this.recheckSessions(link);
    }
  }

  private async recheckSessions(link: FreeSwitchLink): Promise<void> {
    const reply = await link.api('status', this.settings.eslTimeoutMs);
    this.lastRecheckAt = this.now();
    const status = reply.ok ? parseStatus(reply.output) : undefined;
    if (status) this.dispatch({ kind: 'status-read', ...status });
    else this.log.warn({ error: reply.ok ? 'no session counts in output' : reply.error }, 'session re-check failed');
  }

  private async discover(link: FreeSwitchLink): Promise<void> {
    const read = await readNodeFacts(link, {
      sipProfile: this.settings.sipProfile,
      sipUriOverride: this.settings.sipUriOverride,
      timeoutMs: this.settings.eslTimeoutMs,
      firstTimeoutMs: this.unreachable ? (this.settings.recoveryProbeTimeoutMs ?? 30_000) : this.settings.eslTimeoutMs,
    });
    if (this.stopping) return;
    if (!read.ok) {
      this.unreachable = read.step === 'core_uuid';
      // Logged once per distinct problem: FreeSWITCH may stay away for hours.
      const problem = `${read.step}: ${read.detail}`;
      // A connection count that keeps climbing while commands time out points at a refused
      // auth (wrong password, ACL): esl-lite reconnects silently and does not report it.
      if (problem !== this.lastProblem) {
        this.log.warn({ step: read.step, detail: read.detail, eslConnections: link.connections() }, 'cannot read FreeSWITCH facts yet');
      }
      this.lastProblem = problem;
      return;
    }
    this.unreachable = false;
    this.lastProblem = '';
    this.factsConnection = read.connection;
    this.lastRecheckAt = this.now();
    this.dispatch({ kind: 'facts-read', facts: read.facts, sessions: read.sessions });
  }

  private onReannounce(data: Uint8Array): void {
    const req = decodeReannounce(data);
    if (!req.ok) {
      this.counters.invalidReannounce += 1;
      this.log.warn({ reason: req.reason, detail: req.detail }, 'invalid reannounce request ignored');
      return;
    }
    this.log.info({ requester: req.value.requester }, 'reannounce requested');
    this.dispatch({ kind: 'reannounce' });
  }

  private dispatch(input: MembershipInput): void {
    const decision = decide(this.state, input, { failedProbesBeforeLost: this.settings.failedProbesBeforeLost ?? 1 });
    this.state = decision.state;
    if (decision.note) this.log.debug({ input: input.kind, note: decision.note }, 'input changed nothing');
    for (const action of decision.actions) this.perform(action);
  }

  private perform(action: MembershipAction): void {
    if (action.kind === 'discover') {
      this.wake();
      return;
    }
    const stamp = { seq: this.seq.next(), sentAt: this.now() };
    const out: Outgoing =
      action.kind === 'publish-joined'
        ? joinedMessage(action.node, action.sessions, action.reason, stamp, this.identity)
        : action.kind === 'publish-heartbeat'
          ? heartbeatMessage(action.node, action.sessions, stamp, this.identity)
          : leftMessage(action.nodeId, action.reason, stamp);
    this.publish(out);
  }

  private publish(out: Outgoing): void {
    const log = this.log.child({ nodeId: out.msg.nodeId });
    const encoded = encodeOutgoing(this.subjects, out);
    if (!encoded.ok) {
      this.counters.refused += 1;
      log.error({ kind: out.kind, detail: encoded.detail, message: out.msg }, 'refusing to publish an invalid message');
      return;
    }
    try {
      this.deps.bus.publish(encoded.subject, encoded.data);
    } catch (err) {
      log.error({ err, kind: out.kind }, 'publish failed');
      return;
    }
    this.counters[out.kind] += 1;
    const detail = { seq: out.msg.seq, ...('reason' in out.msg ? { reason: out.msg.reason } : {}) };
    if (out.kind === 'heartbeat') log.debug({ ...detail, sessions: out.msg.sessions }, 'heartbeat published');
    else log.info(detail, `${out.kind} published`);
  }

  private wake(): void {
    this.wakeRequested = true;
    this.wakeSleeper?.();
  }

  /** Sleeps up to `ms`; a wake() before or during the sleep cuts it short. */
  private async pause(ms: number): Promise<void> {
    if (!this.wakeRequested && ms > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.wakeSleeper = done;
      });
      this.wakeSleeper = undefined;
    }
    this.wakeRequested = false;
  }
}
