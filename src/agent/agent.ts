import type { Logger } from 'pino';
import { decodeCommandRequest, decodeReannounce, SCHEMA_VERSION, subjects, type NodeBlocker, type Subjects } from '../events/index.js';
import { commandsMachine, type CommandsAction, type CommandsInput, type CommandsState } from './commands.js';
import {
  conferencesMachine,
  IGNORED_CONFERENCE_EVENT,
  isConferenceEvent,
  readConferenceEvent,
  type ConferencesAction,
  type ConferencesInput,
  type ConferencesState,
} from './conferences.js';
import { CallEventPublisher, type AckedPublisher, type CallEventCounts } from './callEvents.js';
import { channelsMachine, isChannelEvent, readChannelEvent, type ChannelsAction, type ChannelsInput, type ChannelsState } from './channels.js';
import type { ApiReply } from './esl.js';
import type { FreeSwitchLink, LinkState } from './esl.js';
import { IRRELEVANT, readFsEvent, type EventHeaders } from './fs-events.js';
import { parseStatus } from './fs-output.js';
import { readLiveStatusFrom } from './live-status.js';
import { MachineCell, type Fed } from './machine.js';
import { nodeControlMachine, type NodeControlAction, type NodeControlInput, type NodeControlState } from './nodeControl.js';
import { announcedNode, membershipMachine, type MembershipAction, type MembershipInput, type MembershipState } from './membership.js';
import { conferenceMessage, heartbeatMessage, joinedMessage, leftMessage, roomsMessage, SeqCounter, type AgentIdentity, type Outgoing } from './messages.js';
import { withTimeout, type AgentBus } from './nats.js';
import { Outbox } from './outbox.js';
import { readNodeFacts, readSessionLimit } from './node-facts.js';
import { SPS_COMMAND } from './node-load.js';
import { probeFreeSwitch } from './probe.js';
import { OPEN_GATE, reannounceDue, requestReannounce, type ReannounceGate } from './reannounce-gate.js';
import { sessionCount } from './sessions.js';
import { PACKAGE_VERSION } from '../version.js';

export interface AgentSettings {
  readonly natsPrefix: string;
  readonly sipProfile: string;
  readonly sipUriOverride: string | undefined;
  /** SBC_MACHINE_ID; undefined: the control plane derives the machine from the SIP URI. */
  readonly machineId?: string | undefined;
  readonly heartbeatMs: number;
  readonly sessionRecheckMs: number;
  readonly eslTimeoutMs: number;
  /** Consecutive failed probes (socket still open) before FreeSWITCH counts as lost (default 1). */
  readonly failedProbesBeforeLost?: number;
  /** At most one reannounce answer per this many ms (default 1000). */
  readonly reannounceMinIntervalMs?: number;
  /** Publish `conference` and `rooms` messages (SBC_CONFERENCE_MESSAGES; default true). */
  readonly conferenceMessages?: boolean;
  /** Bound on flushing the final `left` to NATS in stop() (default 2 s). */
  readonly stopFlushTimeoutMs?: number;
  /** SBC_CALL_EVENTS and its bounds; without it (or without deps.calls) no channel event is published. */
  readonly callEvents?: { readonly enabled: boolean; readonly bufferSize: number; readonly maxInFlight: number; readonly ackTimeoutMs: number };
}

export interface AgentDeps {
  /** Opens the Event Socket; called once, by start(). */
  readonly openLink: () => FreeSwitchLink;
  readonly bus: AgentBus;
  /** JetStream publish with ack, for the calls stream (jetStreamPublisher). */
  readonly calls?: AckedPublisher;
  readonly logger: Logger;
  readonly now?: () => number;
}

export interface AgentStatus {
  readonly phase: MembershipState['phase'];
  readonly nodeId: string | undefined;
  readonly sessions: number | undefined;
  readonly blockers: readonly NodeBlocker[] | undefined;
  readonly eslConnected: boolean;
  readonly published: { readonly joined: number; readonly heartbeat: number; readonly left: number; readonly conference: number; readonly rooms: number };
  /** Messages that failed schema validation and were not sent (a bug if ever non-zero). */
  readonly refused: number;
  readonly invalidReannounce: number;
  /** Valid reannounce requests not answered: one was already waiting for the window's end. */
  readonly ignoredReannounce: number;
  /** Subscribed events without the headers the agent needs. */
  readonly unusableEvents: number;
  readonly commands: {
    /** The node whose command subject the agent listens on. */
    readonly listening: string | undefined;
    /** Replies the outbox sent. */
    readonly replies: number;
  } & CommandsState['counts'];
  readonly conferences: {
    /** Conferences on this FreeSWITCH as the agent knows them. */
    readonly known: number;
    /** Conference events about a name that is not a room name: not published. */
    readonly unpublishable: number;
    /** `conference json_list` readings that failed. */
    readonly failedReads: number;
  };
  /** Channel events for the calls stream; undefined when SBC_CALL_EVENTS is off. */
  readonly callEvents: (CallEventCounts & ChannelsState['counts']) | undefined;
}

export interface Agent {
  /** Connects to FreeSWITCH, makes a first attempt to announce it, then keeps going. */
  start(): Promise<void>;
  /** Publishes `left` (agent-stopping) if a node is announced, flushes it, closes ESL. */
  stop(reason?: string): Promise<void>;
  status(): AgentStatus;
}

export function createAgent(settings: AgentSettings, deps: AgentDeps): Agent {
  return new ShellAgent(settings, deps);
}

/** Every input some machine takes, and every action one may ask for. */
type AgentInput = MembershipInput | CommandsInput | ConferencesInput | ChannelsInput | NodeControlInput;
type AgentAction = MembershipAction | CommandsAction | ConferencesAction | ChannelsAction | NodeControlAction;

/**
 * The shell around the agent's machines: feeds each input (from ESL, the timers, NATS and
 * signals) to the machines that take it, and carries out their actions; every message goes
 * out through the one outbox. One loop paces the membership work: a tick per heartbeat
 * interval (probe and heartbeat, or discovery while no node is announced), plus discovery or
 * an extra probe as soon as the machine asks for one; loop steps never overlap, so probe
 * results arrive in order.
 */
class ShellAgent implements Agent {
  private readonly subjects: Subjects;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly seq: SeqCounter;
  private readonly identity: AgentIdentity;
  private readonly reannounceMinIntervalMs: number;
  private readonly outbox: Outbox;
  private readonly membership: MachineCell<MembershipState, MembershipInput, MembershipAction>;
  private readonly commands: MachineCell<CommandsState, CommandsInput, CommandsAction>;
  private readonly conferences: MachineCell<ConferencesState, ConferencesInput, ConferencesAction>;
  private readonly channels: MachineCell<ChannelsState, ChannelsInput, ChannelsAction>;
  private readonly nodeControl: MachineCell<NodeControlState, NodeControlInput, NodeControlAction>;
  private readonly callEvents: CallEventPublisher | undefined;
  /** In the order they decide: for one input, their actions are carried out in this order. */
  private readonly machines: ReadonlyArray<{ readonly name: string; feed(input: AgentInput): Fed<AgentAction> | undefined }>;
  private gate: ReannounceGate = OPEN_GATE;
  private gateTimer: NodeJS.Timeout | undefined;
  private link: FreeSwitchLink | undefined;
  private reannounceSub: { unsubscribe(): void } | undefined;
  private readonly commandSubs = new Map<string, { unsubscribe(): void }>();
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  /** Logged once per distinct problem: FreeSWITCH may stay away for hours. */
  private lastProblem = '';
  private lastLinkProblem = '';
  /** `fsctl sps` failures are logged once, until a read works again. */
  private sessionLimitFailing = false;
  private lastRecheckAt = 0;
  private tickStartedAt = 0;
  /** What the machine asked for before the next tick. */
  private readonly requested = { discover: false, probe: false };
  private wakeRequested = false;
  private wakeSleeper: (() => void) | undefined;
  private connectedWaiters: Array<() => void> = [];
  private readonly counters = { invalidReannounce: 0, unusableEvents: 0 };

  constructor(
    private readonly settings: AgentSettings,
    private readonly deps: AgentDeps,
  ) {
    this.subjects = subjects(settings.natsPrefix);
    this.now = deps.now ?? Date.now;
    this.log = deps.logger.child({ component: 'agent' });
    this.seq = new SeqCounter(this.now());
    this.identity = {
      agentVersion: PACKAGE_VERSION,
      heartbeatIntervalMs: settings.heartbeatMs,
      ...(settings.machineId === undefined ? {} : { machineId: settings.machineId }),
    };
    this.reannounceMinIntervalMs = settings.reannounceMinIntervalMs ?? 1000;
    this.outbox = new Outbox(deps.bus, this.subjects, this.log);
    this.membership = new MachineCell(membershipMachine({ failedProbesBeforeLost: settings.failedProbesBeforeLost ?? 1 }));
    this.commands = new MachineCell(commandsMachine);
    this.conferences = new MachineCell(conferencesMachine({ sipProfile: settings.sipProfile }));
    this.channels = new MachineCell(channelsMachine);
    this.nodeControl = new MachineCell(nodeControlMachine);
    const calls = settings.callEvents;
    this.callEvents =
      calls?.enabled === true && deps.calls
        ? new CallEventPublisher(deps.calls, this.subjects, calls, this.log.child({ component: 'call-events' }))
        : undefined;
    this.machines = [this.membership, this.commands, this.conferences, this.channels, this.nodeControl];
  }

  /** What the membership machine believes now. */
  private get state(): MembershipState {
    return this.membership.state;
  }

  async start(): Promise<void> {
    if (this.link) throw new Error('agent already started');
    const link = this.deps.openLink();
    this.link = link;
    link.onEvent((headers) => this.onFsEvent(headers));
    link.onConnection((state) => this.onLinkState(state));
    if (link.connected()) this.dispatch({ kind: 'esl-connected', connection: link.connections() });
    this.reannounceSub = this.deps.bus.subscribe(this.subjects.reannounce, (data) => this.onReannounce(data));
    // The first attempt waits (bounded) for the socket; without it the loop takes over.
    if (!link.connected()) {
      await withTimeout(new Promise<void>((resolve) => this.connectedWaiters.push(resolve)), this.settings.eslTimeoutMs);
    }
    this.tickStartedAt = this.now();
    await this.tick(link);
    if (!this.stopping) this.loop = this.run(link);
  }

  stop(reason = 'stop requested'): Promise<void> {
    this.stopping ??= this.shutdown(reason);
    return this.stopping;
  }

  status(): AgentStatus {
    const s = this.state;
    const sent = this.outbox.counts();
    return {
      phase: s.phase,
      nodeId: s.phase === 'up' ? s.node.nodeId : undefined,
      sessions: s.phase === 'up' ? sessionCount(s.sessions) : undefined,
      blockers: s.phase === 'up' ? s.node.blockers : undefined,
      eslConnected: this.link?.connected() ?? false,
      published: sent.published,
      refused: sent.refused,
      invalidReannounce: this.counters.invalidReannounce,
      ignoredReannounce: this.gate.ignored,
      unusableEvents: this.counters.unusableEvents,
      commands: { listening: this.commands.state.listening, ...this.commands.state.counts, replies: sent.replies },
      conferences: { known: Object.keys(this.conferences.state.conferences).length, ...this.conferences.state.counts },
      callEvents: this.callEvents ? { ...this.callEvents.counts(), ...this.channels.state.counts } : undefined,
    };
  }

  private async shutdown(reason: string): Promise<void> {
    this.log.info({ reason }, 'agent stopping');
    this.dispatch({ kind: 'stop' });
    this.reannounceSub?.unsubscribe();
    clearTimeout(this.gateTimer);
    const flushMs = this.settings.stopFlushTimeoutMs ?? 2000;
    const [flushed, callsFlushed] = await Promise.all([this.deps.bus.flush(flushMs), this.callEvents?.flush(flushMs) ?? Promise.resolve(true)]);
    if (!flushed) this.log.warn('NATS flush did not finish; the final messages may be lost');
    if (!callsFlushed) this.log.warn({ held: this.callEvents?.counts().buffered }, 'call events not all acknowledged by the stream before stopping');
    this.callEvents?.close();
    // Closing the link fails any command in flight, so the loop ends promptly.
    this.link?.close();
    this.wake();
    if (this.loop) await withTimeout(this.loop, 5000);
    this.log.info('agent stopped');
  }

  private async run(link: FreeSwitchLink): Promise<void> {
    while (!this.stopping) {
      await this.pause(Math.max(0, this.settings.heartbeatMs - (this.now() - this.tickStartedAt)));
      if (this.stopping) break;
      try {
        if (this.now() - this.tickStartedAt >= this.settings.heartbeatMs) {
          this.tickStartedAt = this.now();
          await this.tick(link);
        } else if (this.requested.discover) {
          if (this.state.phase !== 'stopped' && this.state.esl.connected) await this.discover(link);
          else this.requested.discover = false; // the next connection asks again
        } else if (this.requested.probe) {
          // An extra probe between ticks; the heartbeat cadence stays as it was.
          if (this.state.phase === 'up') await this.probe(link, 'event');
          else this.requested.probe = false;
        }
      } catch (err) {
        this.log.error({ err }, 'agent step failed');
      }
    }
  }

  /** Every step is bounded by the ESL timeout: the commands of a step run side by side. */
  private async tick(link: FreeSwitchLink): Promise<void> {
    if (this.state.phase === 'up') {
      await this.probe(link, 'tick');
      // The level-triggered rooms snapshot, once per heartbeat while the node has a conference.
      if (this.state.phase === 'up' && !this.stopping) this.dispatch({ kind: 'conference-tick' });
      if (this.state.phase === 'up' && !this.stopping && this.now() - this.lastRecheckAt >= this.settings.sessionRecheckMs) {
        await this.recheckSessions(link);
      }
    } else if (this.state.phase === 'unannounced' && this.state.esl.connected) {
      await this.discover(link);
    }
  }

  private async probe(link: FreeSwitchLink, trigger: 'tick' | 'event'): Promise<void> {
    this.requested.probe = false;
    const read = await probeFreeSwitch(link, {
      sipProfile: this.settings.sipProfile,
      sipUriOverride: this.settings.sipUriOverride,
      timeoutMs: this.settings.eslTimeoutMs,
    });
    if (this.stopping) return;
    if (!read.ok) {
      this.log.warn({ trigger, step: read.step, detail: read.detail }, 'FreeSWITCH probe failed');
      this.dispatch({ kind: 'probe-failed' });
      return;
    }
    if (read.addressProblem) this.noteProblem(`address: ${read.addressProblem}`, { detail: read.addressProblem }, 'SIP profile address unusable; keeping the last one');
    const before = this.state.phase === 'up' ? this.state.node : undefined;
    this.dispatch({ kind: 'probe-ok', coreUuid: read.coreUuid, blockers: read.blockers, sipUri: read.sipUri, trigger });
    const after = this.state.phase === 'up' ? this.state.node : undefined;
    if (before && after && before.nodeId === after.nodeId && (before.blockers !== after.blockers || before.sipUri !== after.sipUri)) {
      this.log.info({ trigger, blockers: after.blockers, sipUri: after.sipUri }, 'node readiness changed');
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
    this.requested.discover = false;
    const read = await readNodeFacts(link, {
      sipProfile: this.settings.sipProfile,
      sipUriOverride: this.settings.sipUriOverride,
      timeoutMs: this.settings.eslTimeoutMs,
    });
    if (this.stopping) return;
    if (!read.ok) {
      this.noteProblem(`${read.step}: ${read.detail}`, { step: read.step, detail: read.detail }, 'cannot read FreeSWITCH facts yet');
      return;
    }
    this.lastProblem = '';
    this.lastRecheckAt = this.now();
    this.noteSessionLimit(read.sessionLimitProblem);
    this.dispatch({ kind: 'facts-read', facts: read.facts, sessions: read.sessions, connection: read.connection });
  }

  private noteSessionLimit(problem: string | undefined): void {
    if (problem !== undefined && !this.sessionLimitFailing) {
      this.log.warn({ command: SPS_COMMAND, detail: problem }, 'cannot read the sessions-per-second limit; node messages go without it');
    }
    this.sessionLimitFailing = problem !== undefined;
  }

  /** `fsctl sps` beside the loop (a reannounce re-reads it), bounded by the ESL timeout. */
  private readSessionLimit(nodeId: string): void {
    const link = this.link;
    const reply: Promise<ApiReply> = link
      ? link.api(SPS_COMMAND, this.settings.eslTimeoutMs)
      : Promise.resolve({ ok: false, answered: false, error: 'no event socket yet' });
    reply
      .catch((err: unknown): ApiReply => ({ ok: false, answered: false, error: String(err) }))
      .then((r) => {
        if (this.stopping) return;
        const read = readSessionLimit(r);
        this.noteSessionLimit('problem' in read ? read.problem : undefined);
        this.dispatch({ kind: 'session-limit-read', nodeId, limit: 'limit' in read ? read.limit : undefined });
      })
      .catch((err: unknown) => this.log.error({ err }, 'sessions-per-second read failed'));
  }

  private noteProblem(problem: string, fields: Record<string, unknown>, message: string): void {
    if (problem !== this.lastProblem) this.log.warn(fields, message);
    this.lastProblem = problem;
  }

  private onLinkState(s: LinkState): void {
    if (s.connected) {
      this.log.info({ connection: s.connection }, 'Event Socket connected');
      this.lastLinkProblem = '';
      for (const resolve of this.connectedWaiters.splice(0)) resolve();
      this.dispatch({ kind: 'esl-connected', connection: s.connection });
      return;
    }
    if (s.cause !== 'client-closed') {
      const problem = `${s.cause}: ${s.detail}`;
      // A refused password or a closed port repeats every reconnect; say it once.
      if (s.wasConnected) this.log.warn({ cause: s.cause, detail: s.detail, connection: s.connection }, 'Event Socket lost');
      else if (problem !== this.lastLinkProblem) this.log.warn({ cause: s.cause, detail: s.detail }, 'cannot connect to the Event Socket yet');
      this.lastLinkProblem = problem;
    }
    this.dispatch({ kind: 'esl-disconnected', connection: s.connection });
  }

  private onFsEvent(headers: EventHeaders): void {
    if (this.callEvents && isChannelEvent(headers)) {
      const event = readChannelEvent(headers);
      if (event === undefined) this.counters.unusableEvents += 1;
      else this.dispatch({ kind: 'channel-event', event });
      // CHANNEL_CREATE is the membership machine's too (session counts).
    }
    if (isConferenceEvent(headers)) {
      const event = readConferenceEvent(headers);
      if (event === undefined) this.counters.unusableEvents += 1;
      else if (event.action !== IGNORED_CONFERENCE_EVENT.action) this.dispatch({ kind: 'conference-event', event });
      return;
    }
    const input = readFsEvent(headers);
    if (input === undefined) this.counters.unusableEvents += 1;
    else if (input.kind !== IRRELEVANT.kind) {
      if (input.kind === 'fs-readiness-command') this.log.info({ command: input.command }, 'readiness may have changed; probing now');
      // The reader has no clock: the arrival of a HEARTBEAT is stamped here.
      this.dispatch(input.kind === 'fs-heartbeat' ? { ...input, receivedAt: this.now() } : input);
    }
  }

  private onReannounce(data: Uint8Array): void {
    const req = decodeReannounce(data);
    if (!req.ok) {
      this.counters.invalidReannounce += 1;
      this.log.warn({ reason: req.reason, detail: req.detail }, 'invalid reannounce request ignored');
      return;
    }
    const verdict = requestReannounce(this.gate, this.now(), this.reannounceMinIntervalMs);
    this.gate = verdict.gate;
    const requester = req.value.requester;
    if (verdict.verdict === 'answer') {
      this.log.info({ requester }, 'reannounce requested');
      this.dispatch({ kind: 'reannounce' });
    } else if (verdict.verdict === 'defer') {
      this.log.info({ requester, dueAt: verdict.dueAt }, 'reannounce requested inside the window; answering at its end');
      this.armGate(verdict.dueAt);
    } else {
      this.log.debug({ requester, ignored: this.gate.ignored }, 'reannounce request ignored (one is already due)');
    }
  }

  private armGate(dueAt: number): void {
    clearTimeout(this.gateTimer);
    // At least 1 ms: a timer may fire a little before the clock reaches dueAt, see onGateDue.
    this.gateTimer = setTimeout(() => this.onGateDue(), Math.max(1, dueAt - this.now()));
  }

  private onGateDue(): void {
    this.gateTimer = undefined;
    if (this.stopping) return;
    const due = reannounceDue(this.gate, this.now(), this.reannounceMinIntervalMs);
    this.gate = due.gate;
    if (due.answer) this.dispatch({ kind: 'reannounce' });
    else if (this.gate.deferred) this.armGate(this.gate.windowEndsAt);
  }

  /**
   * A change of the announced node is news for every machine, and is decided on before the
   * actions of the input that caused it are carried out: so the agent listens on a node's
   * command subject before that node's `joined` goes out.
   */
  private dispatch(input: AgentInput): void {
    const before = announcedNode(this.state);
    const actions = this.decide(input);
    const after = announcedNode(this.state);
    const first = after !== before ? this.decide({ kind: 'node-announced', nodeId: after }) : [];
    for (const action of [...first, ...actions]) this.perform(action);
  }

  /** Feeds `input` to every machine that takes it; their actions, in machine order. */
  private decide(input: AgentInput): AgentAction[] {
    const actions: AgentAction[] = [];
    for (const machine of this.machines) {
      const fed = machine.feed(input);
      if (!fed) continue;
      if (fed.note) this.log.debug({ machine: machine.name, input: input.kind, note: fed.note }, 'input changed nothing');
      actions.push(...fed.actions);
    }
    return actions;
  }

  private perform(action: AgentAction): void {
    switch (action.kind) {
      case 'discover':
      case 'probe':
        this.requested[action.kind] = true;
        this.wake();
        return;
      case 'listen':
        this.listen(action.nodeId);
        return;
      case 'stop-listening':
        this.commandSubs.get(action.nodeId)?.unsubscribe();
        this.commandSubs.delete(action.nodeId);
        return;
      case 'read-status':
        this.readStatus(action.token);
        return;
      case 'read-session-limit':
        this.readSessionLimit(action.nodeId);
        return;
      case 'reply':
      case 'reply-v2':
        this.outbox.reply(action.replyTo, action.reply);
        return;
      case 'conference-command':
        // Checked by the command channel; the conference machine carries it out.
        this.dispatch({ kind: 'conference-command', request: action.request, replyTo: action.replyTo });
        return;
      case 'node-control-command':
        this.dispatch({ kind: 'node-control-command', request: action.request, replyTo: action.replyTo });
        return;
      case 'conference-api':
        this.runApi(action.command, (reply, at) => ({ kind: 'conference-api-done', token: action.token, reply, at }));
        return;
      case 'node-control-api':
        this.log.info({ command: action.command }, 'node control');
        this.runApi(action.command, (reply) => ({ kind: 'node-control-api-done', token: action.token, reply }));
        return;
      case 'publish-conference':
      case 'publish-rooms':
        if (this.settings.conferenceMessages === false) return;
        this.publishConferenceMessage(action);
        return;
      case 'publish-joined':
      case 'publish-heartbeat':
      case 'publish-left':
        this.publishNodeMessage(action);
        return;
      case 'publish-channel':
        this.callEvents?.publish({ v: SCHEMA_VERSION, ...action.body, seq: this.seq.next(), sentAt: this.now() });
        if (action.malformed.length > 0) this.log.debug({ callId: action.body.callId, uuid: action.body.uuid, headers: action.malformed }, 'channel event headers left out: value does not fit');
    }
  }

  private publishConferenceMessage(action: Extract<ConferencesAction, { kind: 'publish-conference' | 'publish-rooms' }>): void {
    switch (action.kind) {
      case 'publish-conference':
        this.outbox.node(conferenceMessage(action.body, { seq: this.seq.next(), sentAt: this.now() }));
        return;
      case 'publish-rooms':
        this.outbox.node(roomsMessage(action.nodeId, action.rooms, action.omitted, { seq: this.seq.next(), sentAt: this.now() }));
    }
  }

  private publishNodeMessage(action: Extract<MembershipAction, { kind: `publish-${string}` }>): void {
    const stamp = { seq: this.seq.next(), sentAt: this.now() };
    const out: Outgoing =
      action.kind === 'publish-joined'
        ? joinedMessage(action.node, action.sessions, action.reason, stamp, this.identity)
        : action.kind === 'publish-heartbeat'
          ? heartbeatMessage(action.node, action.sessions, stamp, this.identity)
          : leftMessage(action.nodeId, action.reason, stamp);
    this.outbox.node(out);
  }

  private listen(nodeId: string): void {
    try {
      const sub = this.deps.bus.subscribe(this.subjects.command(nodeId), (data, replyTo) =>
        this.dispatch({ kind: 'command-received', request: decodeCommandRequest(data), replyTo }),
      );
      this.commandSubs.set(nodeId, sub);
      this.log.info({ nodeId, subject: this.subjects.command(nodeId) }, 'listening for commands');
    } catch (err) {
      this.log.error({ err, nodeId }, 'cannot listen for commands');
    }
  }

  /** Reads FreeSWITCH beside the loop (bgapi, bounded by the ESL timeout): a command never delays a heartbeat. */
  private readStatus(token: number): void {
    const link = this.link;
    const reading = link
      ? readLiveStatusFrom(link, { sipProfile: this.settings.sipProfile, timeoutMs: this.settings.eslTimeoutMs, now: this.now })
      : Promise.resolve({ ok: false as const, code: 'not-ready' as const, detail: 'no event socket yet' });
    reading
      .then((read) => this.dispatch({ kind: 'command-status-read', token, read }))
      .catch((err: unknown) => this.log.error({ err }, 'status command failed'));
  }

  /** An api command beside the loop (json_list, bgdial, hup, fsctl, hupall), bounded by the ESL timeout; its answer goes back in as `done` says. */
  private runApi(command: string, done: (reply: ApiReply, at: number) => AgentInput): void {
    const link = this.link;
    const reply: Promise<ApiReply> = link
      ? link.api(command, this.settings.eslTimeoutMs)
      : Promise.resolve({ ok: false, answered: false, error: 'no event socket yet' });
    reply
      .catch((err: unknown): ApiReply => ({ ok: false, answered: false, error: String(err) }))
      .then((r) => {
        if (!r.ok) this.log.debug({ command: command.split(' ').slice(0, 3).join(' '), error: r.error }, 'api command failed');
        this.dispatch(done(r, this.now()));
      })
      .catch((err: unknown) => this.log.error({ err }, 'api command failed'));
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
