import { randomUUID } from 'node:crypto';
import { inboundPaused, runApi, VERSION, type ApiHost, type Pause } from './api.js';
import { Call, offersPcmu, type CallContext, type CallRecord } from './call.js';
import type { HeaderList } from './esl-frames.js';
import { SHUTTING_DOWN } from './esl-encode.js';
import { EslServer } from './esl-server.js';
import { EventBus, nowUs, type Identity } from './events.js';
import { header, parseNameAddr, parseUri, type SipMessage } from './sip-message.js';
import { SipUas, type InviteTx, type UasHandler } from './sip-uas.js';
import { SessionStats, upTime } from './stats.js';
import { systemTemplates } from './templates.js';

export type { CallRecord } from './call.js';

export interface StandinOptions {
  /** ESL password (FreeSWITCH's default: ClueCon). */
  password?: string;
  /** max-sessions: INVITEs beyond it get 503 (default 1000). */
  maxSessions?: number;
  /** HEARTBEAT interval (FreeSWITCH: 20 000 ms). */
  heartbeatMs?: number;
  /** FreeSWITCH-Hostname / `hostname` (default `standin-<eslPort>`, stable across restarts). */
  hostname?: string;
  /** sofia profile name (default `internal`). */
  profile?: string;
  /** Ports to bind on 127.0.0.1; 0 or absent: the OS picks one (restart keeps it). */
  eslPort?: number;
  sipPort?: number;
  coreUuid?: string;
  /** Length of the dialplan's tone before the call parks (capture: 3000 ms). */
  toneMs?: number;
  /** Delay between routing and answering; a CANCEL can arrive in this window (default 0). */
  answerDelayMs?: number;
  /** When > 0 the stand-in hangs up (BYE) this long after answering. */
  autoHangupMs?: number;
  /** sofia's `options-respond-503-on-busy`: OPTIONS get 503 while paused or full (default false). */
  optionsRespond503OnBusy?: boolean;
}

/** How the next INVITEs are handled (after the pause / max-sessions check, which always wins). */
export type InviteResponse = 'answer' | 'ignore' | { status: number; reason: string };

export interface Standin {
  readonly eslPort: number;
  readonly sipPort: number;
  /** `sip:127.0.0.1:<sipPort>` */
  readonly sipUri: string;
  readonly coreUuid: string;
  readonly password: string;
  readonly hostname: string;
  /** Every INVITE received, across restarts, oldest first. */
  readonly calls: readonly CallRecord[];
  readonly running: boolean;
  activeSessions(): number;
  setInviteResponse(mode: InviteResponse): void;
  setAnswerDelay(ms: number): void;
  /** Fires an arbitrary event (e.g. CUSTOM with a subclass) to subscribed ESL connections. */
  fireEvent(name: string, headers: HeaderList, opts?: { subclass?: string; body?: string }): void;
  /** Graceful, like `fsctl shutdown`: SHUTDOWN, calls hung up, MODULE_UNLOAD…, disconnect notices. */
  shutdown(): Promise<void>;
  /** Like SIGKILL: every socket dropped, no event, no BYE, no notice. */
  kill(): Promise<void>;
  /** Starts again on the same ports with a new Core-UUID and fresh counters. */
  restart(opts?: { coreUuid?: string }): Promise<void>;
  /** Test cleanup: releases everything, silently; safe to call twice. */
  stop(): Promise<void>;
}

export async function startStandin(opts: StandinOptions = {}): Promise<Standin> {
  const s = new StandinImpl(opts);
  await s.start();
  return s;
}

class StandinImpl implements Standin, ApiHost, UasHandler {
  readonly password: string;
  readonly maxSessions: number;
  readonly profile: string;
  readonly sipHost = '127.0.0.1';
  readonly calls: CallRecord[] = [];
  identity: Identity;
  stats = new SessionStats();
  pause: Pause = { all: false, inbound: false, outbound: false };
  profileCounters = { callsIn: 0, failedCallsIn: 0 };
  eslPort: number;
  sipPort: number;
  running = false;
  private readonly bus: EventBus;
  private esl: EslServer | undefined;
  private uas: SipUas | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private startedUs = 0;
  private mode: InviteResponse = 'answer';
  private answerDelayMs: number;
  private readonly active = new Map<string, Call>();
  private closing: Promise<void> = Promise.resolve();

  constructor(private readonly opts: StandinOptions) {
    this.password = opts.password ?? 'ClueCon';
    this.maxSessions = opts.maxSessions ?? 1000;
    this.profile = opts.profile ?? 'internal';
    this.eslPort = opts.eslPort ?? 0;
    this.sipPort = opts.sipPort ?? 0;
    this.answerDelayMs = opts.answerDelayMs ?? 0;
    this.identity = { coreUuid: opts.coreUuid ?? randomUUID(), hostname: opts.hostname ?? '', ipv4: '127.0.0.1', ipv6: '::1' };
    this.bus = new EventBus(this.identity);
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

  async start(): Promise<void> {
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
      await esl.destroy();
      await uas.close();
      throw err;
    }
    this.esl = esl;
    this.uas = uas;
    if (this.identity.hostname === '') this.identity.hostname = this.opts.hostname ?? `standin-${this.eslPort}`;
    this.startedUs = nowUs();
    this.running = true;
    this.heartbeat = setInterval(() => this.sendHeartbeat(), this.opts.heartbeatMs ?? 20_000).unref();
  }

  activeSessions(): number {
    return this.active.size;
  }
  activeCalls(): Call[] {
    return [...this.active.values()];
  }
  uptimeUs(): number {
    return nowUs() - this.startedUs;
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
    const call = new Call(this.callContext(), tx, record, sessionId);
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

  // ---- lifecycle ----

  private sendHeartbeat(): void {
    const t = systemTemplates();
    const us = this.uptimeUs();
    const s = this.stats;
    const values: Record<string, string> = {
      'Event-Info': 'System Ready',
      'Up-Time': upTime(us),
      'FreeSWITCH-Version': VERSION,
      'Uptime-msec': String(Math.floor(us / 1000)),
      'Session-Count': String(s.count),
      'Max-Sessions': String(this.maxSessions),
      'Session-Per-Sec': '30',
      'Session-Per-Sec-Last': String(s.perSecLast()),
      'Session-Per-Sec-Max': String(s.perSecMax),
      'Session-Per-Sec-FiveMin': String(s.perSecFiveMin()),
      'Session-Since-Startup': String(s.sinceStartup),
      'Session-Peak-Max': String(s.peak),
      'Session-Peak-FiveMin': String(s.peakFiveMin()),
      'Idle-CPU': '99.000000',
    };
    this.bus.fire('HEARTBEAT', t.heartbeat.calling, t.heartbeat.names.map((n) => [n, values[n] ?? '']));
    // The heartbeat is a scheduler task; running it reschedules it (Task-Runtime: next run, epoch s).
    const next = String(Math.floor(Date.now() / 1000 + (this.opts.heartbeatMs ?? 20_000) / 1000));
    const task: Record<string, string> = { 'Task-ID': '1', 'Task-Desc': 'heartbeat', 'Task-Group': 'core', 'Task-Runtime': next };
    this.bus.fire('RE_SCHEDULE', t.reSchedule.calling, t.reSchedule.names.map((n) => [n, task[n] ?? '']));
  }

  shutdown(): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.running = false;
    clearInterval(this.heartbeat);
    const t = systemTemplates();
    this.bus.fire('SHUTDOWN', t.shutdown.calling, t.shutdown.headers);
    for (const call of this.activeCalls()) call.hangup('send_bye', 'SYSTEM_SHUTDOWN');
    for (const m of t.moduleUnload) this.bus.fire('MODULE_UNLOAD', m.calling, m.headers);
    return this.release(false);
  }

  kill(): Promise<void> {
    this.running = false;
    clearInterval(this.heartbeat);
    return this.release(true);
  }

  killChannel(uuid: string, cause: string): boolean {
    const call = this.activeCalls().find((c) => c.uuid === uuid);
    call?.hangup('send_bye', cause);
    return call !== undefined;
  }

  async restart(o: { coreUuid?: string } = {}): Promise<void> {
    if (this.running) await this.shutdown();
    await this.closing; // a shutdown begun elsewhere (fsctl shutdown) must have released the ports
    this.identity = { ...this.identity, coreUuid: o.coreUuid ?? randomUUID() };
    this.bus.reset(this.identity);
    this.stats = new SessionStats();
    this.pause = { all: false, inbound: false, outbound: false };
    this.profileCounters = { callsIn: 0, failedCallsIn: 0 };
    await this.start();
  }

  stop(): Promise<void> {
    this.running = false;
    clearInterval(this.heartbeat);
    return this.release(true);
  }

  /** Closes ESL (graceful: shutdown notice; abrupt: reset) and SIP; calls vanish without events. */
  private release(abrupt: boolean): Promise<void> {
    this.closing = this.closeAll(abrupt);
    return this.closing;
  }

  private async closeAll(abrupt: boolean): Promise<void> {
    for (const call of this.activeCalls()) call.abandon();
    this.active.clear();
    this.stats.count = 0;
    const esl = this.esl;
    const uas = this.uas;
    this.esl = undefined;
    this.uas = undefined;
    await Promise.all([abrupt ? esl?.destroy() : esl?.close(SHUTTING_DOWN), uas?.close()]);
  }

  /** `fsctl shutdown` from an api command: reply first, then shut down. */
  requestShutdown(): void {
    setImmediate(() => void this.shutdown());
  }
}
