import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { inboundPaused, runApi, type ApiHost, type Pause } from './api.js';
import { Call, offersPcmu, type CallContext, type CallRecord, type RoomRoute } from './call.js';
import { BridgedCall, bridgeRouteFor, type BridgeHooks } from './bridge.js';
import type { BridgeOutbound } from './bridge-leg.js';
import { Conferences, type ConferenceView } from './conference.js';
import { OutboundLeg, parseDialString, type DialedLink, type LegContext } from './outbound.js';
import type { HeaderList } from './esl-frames.js';
import { SHUTTING_DOWN } from './esl-encode.js';
import { EslServer } from './esl-server.js';
import { EventBus, nowUs, type Identity } from './events.js';
import { drawShutdownDelayMs, ESL_READY_DELAY_MS, reservePort, seededRandom } from './lifecycle.js';
import { header, parseNameAddr, parseUri, type SipMessage } from './sip-message.js';
import { SipUas, type InviteTx, type UasHandler } from './sip-uas.js';
import { SessionStats } from './stats.js';
import { heartbeatEvents } from './heartbeat.js';
import type { InviteResponse, Standin, StandinOptions } from './standin-types.js';
import { systemTemplates } from './templates.js';

export type { CallRecord } from './call.js';
export type { ConferenceView } from './conference.js';
export type { DialedLink } from './outbound.js';
export type { BridgedLeg } from './bridge-leg.js';

/** Running stand-ins of this process, so a killed one's peers can notice it is gone (media_timeout). */
const live = new Set<StandinImpl>();

/** mod_conference room names the dialplan accepts (letters, digits, `.`, `-`, `_`, `/`). */
const ROOM_NAME = /^[A-Za-z0-9._/-]+$/;

export type { StandinOptions, InviteResponse, Standin } from './standin-types.js';

/** Starts a stand-in; resolves once it is ready (ESL accepts, SIP answers), like a started FreeSWITCH. */
export async function startStandin(opts: StandinOptions = {}): Promise<Standin> {
  const s = await launchStandin(opts);
  try {
    await s.ready;
  } catch (err) {
    await s.stop();
    throw err;
  }
  return s;
}

/**
 * Starts a stand-in and resolves as soon as its ports are known, before it is ready: for tests of
 * what a client sees while FreeSWITCH is still starting. Await `ready` (or call stop()).
 */
export async function launchStandin(opts: StandinOptions = {}): Promise<Standin> {
  const s = new StandinImpl(opts);
  await s.start(opts.eslReadyDelayMs ?? ESL_READY_DELAY_MS);
  return s;
}

class StoppedError extends Error {
  override readonly name = 'StoppedError';
  constructor() {
    super('stand-in stopped before it was ready');
  }
}

type Phase = 'starting' | 'running' | 'stopping' | 'stopped';

/** switch_core.c: runtime.sps_total when switch.conf sets no `sessions-per-second`. */
const DEFAULT_SPS = 30;

function idleCpu(percent: number): number {
  if (!(percent >= 0 && percent <= 100)) throw new RangeError(`idle CPU ${percent} is not within 0..100`);
  return percent;
}

class StandinImpl implements Standin, ApiHost, UasHandler {
  readonly password: string;
  readonly maxSessions: number;
  readonly profile: string;
  readonly profileMinUptimeSec: number;
  readonly sipHost: string;
  readonly calls: CallRecord[] = [];
  identity: Identity;
  stats = new SessionStats();
  /** runtime.sps_total: `fsctl sps <n>` changes it until the next restart reads switch.conf again. */
  sessionsPerSecondLimit: number;
  private idleCpuPercent: number;
  pause: Pause = { inbound: false, outbound: false };
  profileCounters = { callsIn: 0, failedCallsIn: 0 };
  profileRunning = false;
  profileStartedMs = 0;
  eslPort: number;
  sipPort: number;
  running = false;
  ready: Promise<void> = Promise.resolve();
  private phase: Phase = 'stopped';
  private readonly bus: EventBus;
  private readonly random: () => number;
  private esl: EslServer | undefined;
  private uas: SipUas | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private startAbort: AbortController | undefined;
  private shutdownTimer: NodeJS.Timeout | undefined;
  private shutdownDone: ((closed: Promise<void>) => void) | undefined;
  private shutdownPending: Promise<void> | undefined;
  private profileChange: Promise<void> = Promise.resolve();
  private startedUs = 0;
  private mode: InviteResponse = 'answer';
  private answerDelayMs: number;
  private readonly active = new Map<string, Call>();
  private readonly legs = new Map<string, OutboundLeg>();
  private readonly dialed: DialedLink[] = [];
  /** B legs of bridged calls, by UUID, with the call they belong to. */
  private readonly bridgeLegs = new Map<string, BridgedCall>();
  readonly conferences: Conferences;
  private closing: Promise<void> = Promise.resolve();

  constructor(private readonly opts: StandinOptions) {
    this.password = opts.password ?? 'ClueCon';
    this.maxSessions = opts.maxSessions ?? 1000;
    this.sessionsPerSecondLimit = opts.sessionsPerSecond ?? DEFAULT_SPS;
    this.idleCpuPercent = idleCpu(opts.idleCpuPercent ?? 99);
    this.profile = opts.profile ?? 'internal';
    this.profileMinUptimeSec = opts.profileMinUptimeSec ?? 10;
    this.eslPort = opts.eslPort ?? 0;
    this.sipPort = opts.sipPort ?? 0;
    this.sipHost = opts.sipHost ?? '127.0.0.1';
    this.answerDelayMs = opts.answerDelayMs ?? 0;
    this.random = opts.seed === undefined ? Math.random : seededRandom(opts.seed);
    this.identity = { coreUuid: opts.coreUuid ?? randomUUID(), hostname: opts.hostname ?? '', ipv4: this.sipHost, ipv6: '::1' };
    this.bus = new EventBus(this.identity);
    this.conferences = new Conferences(this.bus, opts.verboseEvents ?? false);
  }

  /** Every conference now, with its members (newest first). */
  conferenceList(): ConferenceView[] {
    return this.conferences.view();
  }

  /** Every leg this node dialled with `conference … dial|bgdial`, oldest first, across restarts. */
  dialedLinks(): readonly DialedLink[] {
    return this.dialed;
  }

  get coreUuid(): string {
    return this.identity.coreUuid;
  }
  get hostname(): string {
    return this.identity.hostname;
  }
  get sipUri(): string {
    return `sip:${this.sipHost}:${this.sipPort}`;
  }

  // ---- start-up ----

  /** The process starts now (Up-Time counts from here); ESL and SIP open `readyDelayMs` later. */
  async start(readyDelayMs: number): Promise<void> {
    const abort = new AbortController();
    this.startAbort = abort;
    this.phase = 'starting';
    this.startedUs = nowUs();
    if (readyDelayMs > 0) {
      // The handle (and its ports) is handed out before anything listens, so ports are reserved
      // now and bound after the delay.
      [this.eslPort, this.sipPort] = await Promise.all([reservePort('tcp', this.eslPort), reservePort('udp', this.sipPort, this.sipHost)]);
    }
    if (abort.signal.aborted) throw new StoppedError();
    if (this.identity.hostname === '') this.identity.hostname = this.opts.hostname ?? `standin-${this.eslPort}`;
    // The heartbeat is a scheduler task from process start; nobody can hear it before ESL opens.
    this.heartbeat = setInterval(() => this.sendHeartbeat(), this.opts.heartbeatMs ?? 20_000).unref();
    this.ready = this.becomeReady(readyDelayMs, abort.signal);
    this.ready.catch(() => undefined); // observed by whoever awaits `ready`; never unhandled
  }

  private async becomeReady(delayMs: number, signal: AbortSignal): Promise<void> {
    if (delayMs > 0) {
      try {
        await sleep(delayMs, undefined, { signal });
      } catch {
        throw new StoppedError();
      }
    }
    if (signal.aborted) throw new StoppedError();
    const esl = new EslServer({
      bus: this.bus,
      password: this.password,
      api: (cmd, arg) => runApi(this, cmd, arg),
      sendmsg: (uuid, headers) => this.sendmsg(uuid, headers),
    });
    const uas = new SipUas(this);
    try {
      this.eslPort = await esl.listen(this.eslPort);
      this.sipPort = await uas.listen(this.sipPort, this.sipHost);
    } catch (err) {
      await Promise.all([esl.destroy(), uas.close()]);
      if (!signal.aborted) await this.halt();
      throw err;
    }
    if (signal.aborted) {
      await Promise.all([esl.destroy(), uas.close()]);
      throw new StoppedError();
    }
    this.esl = esl;
    this.uas = uas;
    this.profileRunning = true;
    this.profileStartedMs = Date.now();
    this.running = true;
    this.phase = 'running';
    live.add(this);
  }

  activeSessions(): number {
    return this.active.size + this.legs.size + this.bridgeLegs.size;
  }
  activeCalls(): Call[] {
    return [...this.active.values()];
  }
  uptimeUs(): number {
    return nowUs() - this.startedUs;
  }
  setIdleCpu(percent: number): void {
    this.idleCpuPercent = idleCpu(percent);
  }
  setInviteResponse(mode: InviteResponse): void {
    this.mode = mode;
  }
  setAnswerDelay(ms: number): void {
    this.answerDelayMs = ms;
  }
  fireEvent(name: string, headers: HeaderList, o: { subclass?: string; body?: string } = {}): void {
    this.bus.fire(name, ['standin.ts', 'fireEvent', '0'], headers, o);
  }

  // ---- SIP (UasHandler) ----

  accepts(msg: SipMessage): boolean {
    // A stopping profile no longer runs its SIP loop: what arrives before the port closes is dropped.
    if (!this.profileRunning) return false;
    if (this.mode !== 'ignore') return true;
    const callId = header(msg, 'Call-ID') ?? '';
    if (msg.method === 'INVITE' && !this.calls.some((c) => c.callId === callId)) this.calls.push(this.newRecord(msg));
    return false;
  }

  invite(tx: InviteTx): void {
    const record = this.newRecord(tx.request);
    this.calls.push(record);
    this.profileCounters.callsIn++;
    const refuse = (status: number, reason: string, extra?: HeaderList) => {
      tx.reject(status, reason, extra);
      record.finalStatus = status;
      this.profileCounters.failedCallsIn++;
    };
    // sofia refuses before creating a channel, without 100 Trying (sip-invite-while-paused-inbound.txt).
    if (inboundPaused(this.pause) || this.stats.count >= this.maxSessions) return refuse(503, 'Maximum Calls In Progress', [['Retry-After', '300']]);
    if (typeof this.mode === 'object') return refuse(this.mode.status, this.mode.reason);
    if (!offersPcmu(tx.request.body)) return refuse(488, 'Not Acceptable Here');
    tx.trying();
    const sessionId = this.stats.sessionCreated();
    const room = this.routeFor(tx.request);
    const bridge = room ? undefined : bridgeRouteFor(tx.request, { pattern: this.opts.bridgePattern, target: this.opts.bridgeTarget, self: this.sipUri });
    const call = bridge
      ? new BridgedCall(this.callContext(), this.bridgeHooks(), tx, record, sessionId, bridge)
      : new Call(this.callContext(), tx, record, sessionId, room);
    this.active.set(tx.callId, call);
    call.start(this.answerDelayMs);
  }

  ack(callId: string, ack: SipMessage): void {
    this.active.get(callId)?.acked(ack);
  }
  ackTimeout(callId: string): void {
    this.active.get(callId)?.hangup('send_bye');
  }
  bye(callId: string): boolean {
    const call = this.active.get(callId);
    call?.hangup('recv_bye');
    return call !== undefined;
  }
  cancel(tx: InviteTx): void {
    const call = this.active.get(tx.callId);
    if (call) call.hangup('recv_cancel');
    else tx.reject(487, 'Request Terminated');
  }
  options(): { status: number; reason: string; extra?: HeaderList } {
    const busy = inboundPaused(this.pause) || this.stats.count >= this.maxSessions;
    if (this.opts.optionsRespond503OnBusy && busy) return { status: 503, reason: 'Maximum Calls In Progress', extra: [['Retry-After', '300']] };
    return { status: 200, reason: 'OK' };
  }

  /**
   * The dialplan: X-SBC-Room, or a destination matching `roomPattern` (default 3xxx), joins that
   * conference (with the link flags when X-SBC-Cascade is present); anything else: the tone extension.
   */
  private routeFor(msg: SipMessage): RoomRoute | undefined {
    const x = (name: string) => msg.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
    const dest = parseUri(msg.uri).user ?? '';
    const room = x('X-SBC-Room') ?? ((this.opts.roomPattern ?? /^3\d{3}$/).test(dest) ? dest : undefined);
    if (room === undefined || !ROOM_NAME.test(room)) return undefined;
    return { room, linkId: x('X-SBC-Cascade') };
  }

  /** `conference <room> dial|bgdial <dial string>`: a real INVITE from our SIP port. */
  dial(
    room: string, dialString: string, cidNumber: string | undefined, cidName: string | undefined, jobId: string | undefined,
    onResult: (cause: string, uuid: string | undefined) => void,
  ): void {
    const target = parseDialString(dialString);
    // Refused dials create no channel (capture: DESTINATION_OUT_OF_ORDER while paused outbound).
    if (!target) return onResult('CHAN_NOT_IMPLEMENTED', undefined);
    if (this.pause.outbound || this.stats.count >= this.maxSessions) return onResult('DESTINATION_OUT_OF_ORDER', undefined);
    if (!this.uas || target.profile !== this.profile) return onResult('CHAN_NOT_IMPLEMENTED', undefined);
    const leg = new OutboundLeg(this.legContext(this.stats.sessionCreated(), jobId), room, target, dialString, cidNumber, cidName);
    this.legs.set(leg.uuid, leg);
    this.dialed.push(leg.record);
    void leg.dial((cause) => onResult(cause, cause === 'SUCCESS' ? leg.uuid : undefined));
  }

  private legContext(sessionId: number, jobId: string | undefined): LegContext {
    const uas = this.uas;
    if (!uas) throw new Error('stand-in not running');
    return {
      uas,
      bus: this.bus,
      conferences: this.conferences,
      profile: this.profile,
      sipHost: this.sipHost,
      sipPort: this.sipPort,
      sessionId,
      jobId,
      dialTimeoutMs: this.opts.dialTimeoutMs ?? 32_000,
      ended: (leg) => {
        if (this.legs.delete(leg.uuid)) this.stats.ended();
      },
    };
  }

  /** The B legs of bridged calls: sessions of their own, refused like dials while paused outbound. */
  private bridgeHooks(): BridgeHooks {
    return {
      outboundRefused: () => this.pause.outbound || this.stats.count >= this.maxSessions,
      legContext: () => {
        const uas = this.uas;
        if (!uas) throw new Error('stand-in not running');
        return {
          uas, bus: this.bus, profile: this.profile, sipHost: this.sipHost, sipPort: this.sipPort,
          sessionId: this.stats.sessionCreated(), dialTimeoutMs: this.opts.dialTimeoutMs ?? 32_000,
        };
      },
      legStarted: (leg, call) => void this.bridgeLegs.set(leg.uuid, call),
      legEnded: (leg: BridgeOutbound) => {
        if (this.bridgeLegs.delete(leg.uuid)) this.stats.ended();
      },
    };
  }

  /** Another stand-in on this machine was killed or stopped: legs to it with media_timeout start counting. */
  peerGone(host: string, port: number): void {
    for (const leg of this.legs.values()) if (leg.peer.port === port && leg.peer.address === host) leg.peerGone();
  }

  channelVar(uuid: string, name: string): string | undefined | null {
    const call = this.activeCalls().find((c) => c.uuid === uuid);
    if (call) return call.getVar(name);
    const leg = this.legs.get(uuid);
    if (leg) return leg.getVar(name);
    const bridged = this.bridgeLegs.get(uuid)?.leg;
    return bridged ? bridged.getVar(name) : null;
  }

  private newRecord(msg: SipMessage): CallRecord {
    return {
      callId: header(msg, 'Call-ID') ?? '',
      uuid: undefined,
      destination: parseUri(msg.uri).user ?? '',
      from: parseUri(parseNameAddr(header(msg, 'From') ?? '').uri).user ?? '',
      receivedAt: Date.now(),
      answeredAt: undefined,
      endedAt: undefined,
      finalStatus: undefined,
      hangupCause: undefined,
    };
  }

  private callContext(): CallContext {
    const uas = this.uas;
    if (!uas) throw new Error('stand-in not running');
    return {
      bus: this.bus,
      uas,
      profile: this.profile,
      sipHost: this.sipHost,
      sipPort: this.sipPort,
      toneMs: this.opts.toneMs ?? 3000,
      autoHangupMs: this.opts.autoHangupMs ?? 0,
      conferences: this.conferences,
      ended: (c) => {
        this.active.delete(c.record.callId);
        this.stats.ended();
      },
    };
  }

  private sendmsg(uuid: string, headers: HeaderList): string {
    const call = this.activeCalls().find((c) => c.uuid === uuid);
    if (!call) return `-ERR invalid session id [${uuid}]`;
    const get = (n: string) => headers.find(([k]) => k.toLowerCase() === n)?.[1];
    // Only `hangup` changes anything here; other call-commands are accepted and ignored.
    if (get('call-command') === 'hangup') call.hangup('send_bye', get('hangup-cause') ?? 'NORMAL_CLEARING');
    return '+OK';
  }

  // ---- the sofia profile ----

  setProfileRunning(running: boolean): Promise<void> {
    return this.queueProfileChange(running ? () => this.startProfile() : () => this.stopProfile());
  }

  /** `sofia profile <name> stop|start|restart`, after the reply; `stop`/`restart` clear PFLAG_RUNNING at once. */
  profileCommand(op: 'stop' | 'start' | 'restart'): void {
    if (op === 'start') {
      void this.queueProfileChange(() => this.startProfile());
      return;
    }
    this.profileRunning = false;
    void this.queueProfileChange(async () => {
      await this.stopProfile();
      if (op === 'restart') await this.startProfile();
    });
  }

  /** One profile change at a time, in the order asked; a failed one (port taken) does not block the next. */
  private queueProfileChange(change: () => Promise<void>): Promise<void> {
    const next = this.profileChange.then(change);
    this.profileChange = next.catch(() => undefined);
    return next;
  }

  /** sofia_profile_thread_run() leaving its loop: calls on the profile hung up, then the UA destroyed. */
  private async stopProfile(): Promise<void> {
    this.profileRunning = false;
    const uas = this.uas;
    if (!uas) return;
    for (const call of this.activeCalls()) call.hangup('send_bye', 'MANAGER_REQUEST');
    for (const leg of [...this.legs.values()]) leg.hangup('MANAGER_REQUEST', 'send_bye');
    this.uas = undefined;
    await uas.close();
  }

  /** A new profile (fresh counters and start time) binding the same port; on a running one, a rescan. */
  private async startProfile(): Promise<void> {
    this.profileCounters = { callsIn: 0, failedCallsIn: 0 };
    if (this.uas || this.phase !== 'running') {
      // config_sofia(SOFIA_CONFIG_RESCAN) on a running profile zeroes its counters and nothing else.
      if (this.uas) this.profileRunning = true;
      return;
    }
    const uas = new SipUas(this);
    await uas.listen(this.sipPort, this.sipHost);
    if (this.phase !== 'running' || this.uas) {
      await uas.close();
      return;
    }
    this.uas = uas;
    this.profileStartedMs = Date.now();
    this.profileRunning = true;
  }

  // ---- shutting down ----

  private sendHeartbeat(): void {
    heartbeatEvents(this.bus, {
      uptimeUs: this.uptimeUs(),
      stats: this.stats,
      maxSessions: this.maxSessions,
      intervalMs: this.opts.heartbeatMs ?? 20_000,
      sessionsPerSecondLimit: this.sessionsPerSecondLimit,
      idleCpuPercent: this.idleCpuPercent,
    });
  }

  /** `fsctl shutdown` from an api command: the reply goes out now, the shutdown follows. */
  requestShutdown(): void {
    void this.shutdown();
  }

  shutdown(): Promise<void> {
    if (this.phase === 'starting') return this.halt(true);
    if (this.phase === 'stopped') return this.closing;
    if (this.shutdownPending) return this.shutdownPending;
    // runtime.running = 0; the core loop notices on its next 1 s wake-up. Until then the switch
    // runs on: ESL answers, calls are taken and answered.
    this.phase = 'stopping';
    const delay = this.opts.shutdownDelayMs ?? drawShutdownDelayMs(this.random);
    this.shutdownPending = new Promise<void>((resolve) => {
      this.shutdownDone = (closed) => resolve(closed);
      this.shutdownTimer = setTimeout(() => {
        this.shutdownTimer = undefined;
        this.shutdownDone = undefined;
        resolve(this.destroySwitch());
      }, delay);
    });
    return this.shutdownPending;
  }

  /** switch_core_destroy(): SHUTDOWN, every call hung up SYSTEM_SHUTDOWN, modules unloaded, ESL closed with a notice. */
  private destroySwitch(): Promise<void> {
    this.running = false;
    clearInterval(this.heartbeat);
    const t = systemTemplates();
    this.bus.fire('SHUTDOWN', t.shutdown.calling, t.shutdown.headers);
    for (const call of this.activeCalls()) call.hangup('send_bye', 'SYSTEM_SHUTDOWN');
    for (const leg of [...this.legs.values()]) leg.hangup('SYSTEM_SHUTDOWN', 'send_bye');
    for (const m of t.moduleUnload) this.bus.fire('MODULE_UNLOAD', m.calling, m.headers);
    return this.release(false);
  }

  kill(): Promise<void> {
    return this.halt(true);
  }

  stop(): Promise<void> {
    return this.halt(true);
  }

  /** Ends whatever phase is under way at once; a pending shutdown() settles with it. */
  private halt(abrupt = true): Promise<void> {
    this.running = false;
    this.profileRunning = false;
    clearInterval(this.heartbeat);
    this.startAbort?.abort();
    clearTimeout(this.shutdownTimer);
    this.shutdownTimer = undefined;
    const closed = this.release(abrupt);
    this.shutdownDone?.(closed);
    this.shutdownDone = undefined;
    return closed;
  }

  hangupAll(cause: string): void {
    for (const call of this.activeCalls()) call.hangup('send_bye', cause);
    for (const leg of [...this.legs.values()]) leg.hangup(cause, 'send_bye');
  }

  killChannel(uuid: string, cause: string): boolean {
    const call = this.activeCalls().find((c) => c.uuid === uuid);
    call?.hangup('send_bye', cause);
    const leg = this.legs.get(uuid);
    leg?.hangup(cause, 'send_bye');
    const bridged = this.bridgeLegs.get(uuid);
    bridged?.killLeg(cause);
    return call !== undefined || leg !== undefined || bridged !== undefined;
  }

  async restart(o: { coreUuid?: string; eslReadyDelayMs?: number } = {}): Promise<void> {
    if (this.phase === 'running' || this.phase === 'stopping') await this.shutdown();
    else if (this.phase === 'starting') await this.halt(true);
    await this.closing; // a shutdown begun elsewhere (fsctl shutdown) must have released the ports
    this.identity = { ...this.identity, coreUuid: o.coreUuid ?? randomUUID() };
    this.bus.reset(this.identity);
    this.stats = new SessionStats();
    this.sessionsPerSecondLimit = this.opts.sessionsPerSecond ?? DEFAULT_SPS;
    this.pause = { inbound: false, outbound: false };
    this.profileCounters = { callsIn: 0, failedCallsIn: 0 };
    this.conferences.reset();
    await this.start(o.eslReadyDelayMs ?? this.opts.eslReadyDelayMs ?? ESL_READY_DELAY_MS);
    await this.ready;
  }

  /** Closes ESL (graceful: shutdown notice; abrupt: reset) and SIP; calls vanish without events. */
  private release(abrupt: boolean): Promise<void> {
    this.phase = 'stopped';
    if (live.delete(this)) for (const other of live) other.peerGone(this.sipHost, this.sipPort);
    this.shutdownPending = undefined;
    this.closing = this.closeAll(abrupt);
    return this.closing;
  }

  private async closeAll(abrupt: boolean): Promise<void> {
    for (const call of this.activeCalls()) call.abandon();
    this.active.clear();
    for (const leg of this.legs.values()) leg.abandon();
    this.legs.clear();
    this.bridgeLegs.clear();
    this.conferences.rooms.clear();
    this.stats.count = 0;
    const esl = this.esl;
    const uas = this.uas;
    this.esl = undefined;
    this.uas = undefined;
    this.profileRunning = false;
    await Promise.all([abrupt ? esl?.destroy() : esl?.close(SHUTTING_DOWN), uas?.close()]);
  }
}
