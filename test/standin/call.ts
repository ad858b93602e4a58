import { legClock } from './legClock.js';
import { randomUUID, randomBytes } from 'node:crypto';
import type { HeaderList } from './esl-frames.js';
import { nowUs, rfc2822, type EventBus } from './events.js';
import { header, headers, parseCSeq, parseNameAddr, parseUri, parseVia, uriUserHostPort, type SipMessage } from './sip-message.js';
import { randomMediaPort, sdpAnswer, type InviteTx, type SipUas } from './sip-uas.js';
import { applyVarOps, callTemplates, fill, fillAll, renderStep, type PhaseName, type TemplateStep } from './templates.js';
import type { Conferences, Member, MemberChannel } from './conference.js';
import { CAUSE_CODE, causeSipStatus, q850, reasonFor } from './causes.js';
import type { BridgedLeg } from './bridge-leg.js';

/** What a test can see about every INVITE the stand-in received (retransmissions excluded). */
export interface CallRecord {
  callId: string;
  /** Channel UUID; undefined when the INVITE was refused or ignored without creating a channel. */
  uuid: string | undefined;
  destination: string;
  from: string;
  receivedAt: number;
  answeredAt: number | undefined;
  endedAt: number | undefined;
  /** Final SIP status sent for the INVITE (200, 487, 503, …); undefined while pending or ignored. */
  finalStatus: number | undefined;
  hangupCause: string | undefined;
  /** A call the dialplan bridged (bridgePattern, default 8xxx): its B leg. */
  bridgedTo?: BridgedLeg;
}

export interface CallContext {
  readonly bus: EventBus;
  readonly uas: SipUas;
  readonly profile: string;
  readonly sipHost: string;
  readonly sipPort: number;
  /** How long the dialplan's tone plays before the call parks (the capture's tone is 3000 ms). */
  readonly toneMs: number;
  /** When > 0, the stand-in sends BYE this long after answering (0: the call waits for the caller). */
  readonly autoHangupMs: number;
  readonly conferences: Conferences;
  ended(call: Call): void;
}

/** Where the dialplan sends a call: the tone extension (undefined) or a conference room. */
export interface RoomRoute {
  room: string;
  /** X-SBC-Cascade of a cascade link leg (joins with the link flags), else undefined. */
  linkId: string | undefined;
}

/** The `cascade` extension's variables (fixture README, "Configuration (two-node captures)"). */
const LINK_VARS: Array<[string, string]> = [
  ['variable_conference_member_flags', 'nomoh'],
  ['variable_conference_enter_sound', 'silence_stream://20'],
  ['variable_conference_exit_sound', 'silence_stream://20'],
];

export type HangupKind = 'recv_bye' | 'send_bye' | 'recv_cancel';

// The tone extension's dialplan: set, export, answer, playback, park.
const TONE = 'tone_stream://%(1000,500,440);loops=2';
const APP_DATA: Record<string, string> = { set: 'outside_call=true', answer: '', playback: TONE, park: '' };
/** mod_sofia.c sofia_on_hangup(): the Reason of our BYE (or refusal): Q.850 for real Q.850 causes,
 * `SIP;cause=<FreeSWITCH cause number>` for FreeSWITCH's own (SYSTEM_SHUTDOWN is 501). */
export function hangupReason(cause: string): string {
  const code = CAUSE_CODE[cause] ?? 16;
  return code < 128 ? `Q.850;cause=${code};text="${cause}"` : `SIP;cause=${code};text="${cause}"`;
}

/**
 * One inbound SIP channel running the tone extension (answer, 440 Hz tone, park until BYE),
 * emitting the captured event sequence with this call's values.
 */
export class Call implements MemberChannel {
  readonly uuid = randomUUID();
  readonly direction = 'inbound' as const;
  state: 'ringing' | 'tone' | 'parked' | 'conference' | 'bridged' | 'ended' = 'ringing';
  /** True once the channel hung up (a conference member's del-member then carries Hangup-Cause). */
  hungUp = false;
  member: Member | undefined;
  private memberId = '';
  private confUuid = '';
  private confOpened = false;
  private readonly xVars: HeaderList;
  currentApp = '';
  protected vars: HeaderList = [];
  protected readonly timers = new Set<NodeJS.Timeout>();
  private readonly createdUs = nowUs();
  protected answeredUs = 0;
  protected hangupUs = 0;
  private toneStartUs = 0;
  private toneDone = false;
  private appUuid = '';
  protected lastApp = '';
  protected lastArg = '';
  private rfcDate = '';
  protected cause = 'NORMAL_CLEARING';
  protected disposition: HangupKind = 'recv_bye';
  protected refused = false;
  private fullVia: string;
  private readonly sip: Record<string, string | undefined>;
  private readonly localMediaPort = randomMediaPort();
  private readonly ssrc = String(randomBytes(4).readUInt32BE(0));
  private readonly localSdp: string;

  constructor(
    protected readonly ctx: CallContext,
    protected readonly tx: InviteTx,
    readonly record: CallRecord,
    readonly sessionId: number,
    readonly route?: RoomRoute,
  ) {
    this.sip = inviteValues(tx.request, tx.source);
    // sofia turns every X- header of the INVITE into a sip_h_X-* variable (after max_forwards, as on node B).
    this.xVars = tx.request.headers.filter(([k]) => /^X-/i.test(k)).map(([k, v]): [string, string] => [`variable_sip_h_${k}`, v]);
    this.fullVia = this.sip.fullVia ?? '';
    this.localSdp = sdpAnswer(ctx.sipHost, this.localMediaPort);
    record.uuid = this.uuid;
  }

  get createdMs(): number {
    return Math.floor(this.createdUs / 1000);
  }

  get values(): Readonly<Record<string, string | undefined>> {
    return this.sip;
  }

  get linkId(): string | undefined {
    return this.route?.linkId;
  }
  get channelName(): string {
    return `sofia/${this.ctx.profile}/${this.sip.fromUri ?? ''}`;
  }
  get callerIdName(): string {
    return this.sip.callerName ?? '';
  }
  get callerIdNumber(): string {
    return this.sip.fromUser ?? '';
  }
  get peer(): { address: string; port: number } {
    return { ...this.tx.source };
  }

  /** The channel variables as verbose-events show them on conference member events. */
  variables(): HeaderList {
    return fillAll(this.vars, (key) => this.value(key));
  }

  /** A channel variable as `uuid_getvar` shows it (undefined: not set). */
  getVar(name: string): string | undefined {
    const v = this.vars.find(([k]) => k === `variable_${name}`);
    return v && fill(v[1], (k) => this.value(k));
  }

  /** Route through the dialplan now; answer after `answerDelayMs` (0: at once, like the capture). */
  start(answerDelayMs: number): void {
    this.run('route');
    if (answerDelayMs > 0) this.later(answerDelayMs, () => this.answer());
    else this.answer();
  }

  /** The ACK to our 200 OK: sofia records its Via and CSeq on the channel. */
  acked(ack: SipMessage): void {
    this.fullVia = receivedVia(headers(ack, 'Via')[0] ?? this.fullVia, this.tx.source);
  }

  /** Ends the call: caller's BYE/CANCEL, or our side (uuid_kill, auto hang-up, shutdown). */
  hangup(kind: HangupKind, cause = 'NORMAL_CLEARING'): void {
    if (this.state === 'ended') return;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const from = this.state;
    this.state = 'ended';
    this.hangupUs = nowUs();
    this.disposition = kind;
    this.cause = kind === 'recv_cancel' ? 'ORIGINATOR_CANCEL' : cause;
    if (kind === 'recv_cancel') this.tx.reject(487, 'Request Terminated');
    else if (kind === 'send_bye' && from === 'ringing') {
      // Never answered: sofia refuses the INVITE instead (send_refuse), with the Reason header as
      // the first extra header, where the capture's 503 has Retry-After.
      const status = causeSipStatus(cause);
      this.refused = true;
      this.tx.reject(status, reasonFor(status), [['Reason', hangupReason(this.cause)]]);
    } else if (kind === 'send_bye') this.ctx.uas.sendBye(this.record.callId, hangupReason(this.cause));
    this.record.hangupCause = this.cause;
    this.record.finalStatus ??= this.tx.final;
    this.hungUp = true;
    if (from === 'conference') {
      // CHANNEL_HANGUP, del-member (with Hangup-Cause), the channel's other events, conference-destroy.
      this.run('confHangup');
      this.leaveConference();
      this.run('confLeave');
      if (this.route) this.ctx.conferences.settle(this.route.room);
    } else {
      this.run(from === 'ringing' ? 'hangupRinging' : from === 'tone' ? 'hangupInTone' : 'hangupParked');
    }
    this.record.endedAt = Date.now();
    this.ctx.ended(this);
  }

  /**
   * `conference … hup|kick`: hup-member, del-member (no Hangup-Cause), then the channel hangs up
   * with BYE; CHANNEL_HANGUP comes after the conference application's EXECUTE_COMPLETE (capture).
   */
  hupFromConference(action: 'hup-member' | 'kick-member'): void {
    if (this.state !== 'conference' || !this.member) return;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.ctx.conferences.announceHup(this.member, action);
    this.leaveConference();
    this.state = 'ended';
    this.hangupUs = nowUs();
    this.disposition = 'send_bye';
    this.cause = 'NORMAL_CLEARING';
    this.hungUp = true;
    this.ctx.uas.sendBye(this.record.callId, hangupReason(this.cause));
    this.record.hangupCause = this.cause;
    this.record.finalStatus ??= this.tx.final;
    const hangup = this.render('confHangup');
    const rest = this.render('confLeave');
    const head = rest.findIndex((r) => r.step.label.startsWith('CHANNEL_EXECUTE_COMPLETE')) + 1;
    for (const r of [...rest.slice(0, head), ...hangup, ...rest.slice(head)]) this.ctx.bus.fire(r.step.event, r.step.calling, r.hdrs);
    if (this.route) this.ctx.conferences.settle(this.route.room);
    this.record.endedAt = Date.now();
    this.ctx.ended(this);
  }

  private leaveConference(): void {
    if (this.member) this.ctx.conferences.leave(this.member);
    this.member = undefined;
  }

  /** Stops timers without events (kill). */
  abandon(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.state = 'ended';
  }

  private answer(): void {
    if (this.state !== 'ringing') return;
    if (this.route) {
      if (this.route.linkId !== undefined) this.vars = applyVarOps(this.vars, { set: LINK_VARS });
      this.run('confJoin');
      this.state = 'conference';
      this.member = this.ctx.conferences.join(this.route.room, this);
      const conf = this.ctx.conferences.roomOf(this.member);
      this.memberId = String(this.member.id);
      this.confUuid = conf?.uuid ?? '';
      if (this.ctx.autoHangupMs > 0) this.later(this.ctx.autoHangupMs, () => this.hangup('send_bye'));
      return;
    }
    this.run('answer');
    this.state = 'tone';
    this.later(this.ctx.toneMs, () => {
      this.toneDone = true;
      this.run('toneDone');
      this.state = 'parked';
    });
    if (this.ctx.autoHangupMs > 0) this.later(this.ctx.autoHangupMs, () => this.hangup('send_bye'));
  }

  protected later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms).unref();
    this.timers.add(t);
  }

  private run(phase: PhaseName): void {
    for (const step of callTemplates().phases[phase]) {
      const hdrs = this.renderOne(step);
      this.ctx.bus.fire(step.event, step.calling, hdrs);
    }
  }

  private render(phase: PhaseName): Array<{ step: TemplateStep; hdrs: HeaderList }> {
    return callTemplates().phases[phase].map((step) => ({ step, hdrs: this.renderOne(step) }));
  }

  /** One step with this channel's values; `blocks` of another template file (bridge.json) if given. */
  protected renderOne(step: TemplateStep, blocks?: Record<string, HeaderList>): HeaderList {
    this.beforeStep(step.label);
    if (step.vars) this.vars = this.withXVars(applyVarOps(this.vars, step.vars));
    return renderStep(step, this.vars, (k) => this.value(k), blocks);
  }

  /** The INVITE's X- headers as sip_h_X-* variables, right after max_forwards. */
  private withXVars(vars: HeaderList): HeaderList {
    if (this.xVars.length === 0 || vars.some(([k]) => k === this.xVars[0]?.[0])) return vars;
    const at = vars.findIndex(([k]) => k === 'variable_max_forwards');
    if (at < 0) return vars;
    return [...vars.slice(0, at + 1), ...this.xVars, ...vars.slice(at + 1)];
  }

  /** State changes that happen in FreeSWITCH right before each captured event. */
  protected beforeStep(label: string): void {
    const [event, app] = label.split(' ');
    if (event === 'CHANNEL_EXECUTE' && app) {
      this.appUuid = randomUUID();
      this.currentApp = app;
      this.lastApp = app;
      this.lastArg = app === 'export' ? `RFC2822_DATE=${this.rfcDate}` : app === 'conference' ? `${this.route?.room ?? ''}@default` : APP_DATA[app] ?? '';
    } else if (event === 'CODEC' && this.lastApp === 'conference' && this.route && !this.confOpened) {
      // mod_conference creates the room when the conference application starts, before its codec.
      this.confOpened = true;
      this.confUuid = this.ctx.conferences.open(this.route.room, this).uuid;
    } else if (label === 'API strftime') {
      this.rfcDate = rfc2822(Date.now());
    } else if (event === 'CODEC' && this.answeredUs === 0) {
      this.answeredUs = nowUs();
    } else if (event === 'CHANNEL_ANSWER') {
      this.tx.answer(this.localSdp, this.sip.dest ?? '');
      this.record.answeredAt = Date.now();
      this.record.finalStatus = 200;
    } else if (event === 'PLAYBACK_START') {
      this.toneStartUs = nowUs();
    }
  }

  /** Placeholder values; see tools/template-rules.ts for where each one appears. */
  value(key: string): string | undefined {
    const dur = this.hangupUs - this.createdUs;
    const playedMs = this.toneStartUs ? Math.min(this.ctx.toneMs, ((this.hangupUs || nowUs()) - this.toneStartUs) / 1000) : 0;
    const playedFull = this.toneDone ? this.ctx.toneMs : Math.min(this.ctx.toneMs, Math.ceil(playedMs / 1500) * 1500);
    switch (key) {
      case 'uuid': return this.uuid;
      case 'sessionId': return String(this.sessionId);
      case 'profile': return this.ctx.profile;
      case 'sipHost': return this.ctx.sipHost;
      case 'sipPort': return String(this.ctx.sipPort);
      case 'channelName': return `sofia/${this.ctx.profile}/${this.sip.fromUri ?? ''}`;
      case 'fullVia': return this.fullVia;
      case 'toTag': return this.tx.toTag;
      case 'localSdp': return this.localSdp;
      case 'localMediaPort': return String(this.localMediaPort);
      case 'ssrc': return this.ssrc;
      case 'rfc2822': return this.rfcDate;
      case 'appUuid': return this.appUuid;
      case 'appResponse': return this.toneDone ? 'FILE PLAYED' : 'PLAYBACK ERROR';
      case 'lastApp': return this.lastApp;
      case 'lastArg': return this.lastArg;
      case 'playbackOffset': return String(Math.floor((this.toneDone ? this.ctx.toneMs : playedMs) * 8));
      case 'playbackSamples': return String(playedFull * 8);
      case 'playbackMs': return String(playedFull);
      case 'playbackSeconds': return String(Math.floor(playedFull / 1000));
      case 'outPackets': return String(Math.floor(playedMs / 20));
      case 'outBytes': return String(Math.floor(playedMs / 20) * 172);
      case 'inSkipPackets': return String(Math.floor(dur / 20000));
      case 'hangupCause': return this.cause;
      case 'q850': return String(q850(this.cause));
      case 'termStatus': return String(this.disposition === 'recv_cancel' ? 487 : 200);
      case 'hangupDisposition': return this.refused ? 'send_refuse' : this.disposition;
      case 'confName': return this.route?.room;
      case 'confUuid': return this.confUuid;
      case 'memberId': return this.memberId;
      default: {
        const clock = legClock(key, { createdUs: this.createdUs, answeredUs: this.answeredUs, hangupUs: this.hangupUs });
        return clock === 'none' ? this.sip[key] : clock.value;
      }
    }
  }
}

/** RFC 3581 as sofia applies it on receipt: a bare `rport` gets the source port. */
function receivedVia(via: string, source: { address: string; port: number }): string {
  return via.replace(/;\s*rport(?=;|$)/i, `;rport=${source.port}`);
}

/** Everything the channel's variables take from the INVITE (placeholder name → value). */
export function inviteValues(inv: SipMessage, source: { address: string; port: number }): Record<string, string | undefined> {
  const from = parseNameAddr(header(inv, 'From') ?? '');
  const to = parseNameAddr(header(inv, 'To') ?? '');
  const contact = header(inv, 'Contact');
  const contactUri = contact !== undefined ? parseUri(parseNameAddr(contact).uri) : undefined;
  const fromUri = parseUri(from.uri);
  const toUri = parseUri(to.uri);
  const req = parseUri(inv.uri);
  const topVia = headers(inv, 'Via')[0] ?? '';
  const via = parseVia(topVia);
  const fullVia = receivedVia(topVia, source);
  const port = (p: number | undefined) => (p === undefined ? undefined : String(p));
  const fromUser = fromUri.user ?? '';
  const sdp = inv.body.trim() === '' ? undefined : inv.body;
  const mPort = sdp ? /^m=audio (\d+)/m.exec(sdp)?.[1] : undefined;
  return {
    callId: header(inv, 'Call-ID'),
    dest: req.user ?? '',
    fromUser,
    fromDisplay: from.display,
    callerName: from.display ?? fromUser,
    fromHost: fromUri.host,
    fromPort: port(fromUri.port),
    fromUri: uriUserHostPort(fromUri),
    fromTag: from.params.get('tag'),
    fullFrom: header(inv, 'From'),
    fullTo: (header(inv, 'To') ?? '').replace(/;\s*tag=[^;]*/i, ''),
    presenceId: `${fromUser}@${fromUri.host}`,
    toUser: toUri.user,
    toHost: toUri.host,
    toPort: port(toUri.port),
    toUri: uriUserHostPort(toUri),
    toDisplay: to.display,
    reqUser: req.user,
    reqHost: req.host,
    reqPort: port(req.port),
    reqUri: uriUserHostPort(req),
    contactUser: contactUri?.user,
    contactHost: contactUri?.host,
    contactPort: port(contactUri?.port),
    contactUri: contactUri ? uriUserHostPort(contactUri) : undefined,
    subject: header(inv, 'Subject'),
    userAgent: header(inv, 'User-Agent'),
    maxForwards: header(inv, 'Max-Forwards'),
    viaHost: via.host,
    viaPort: port(via.port),
    viaRport: via.params.has('rport') ? String(source.port) : undefined,
    fullVia,
    remoteIp: source.address,
    remotePort: String(source.port),
    inviteCseq: String(parseCSeq(inv)[0]),
    remoteSdp: sdp,
    remoteMediaPort: mPort,
  };
}

/** Whether an SDP offer can be answered with PCMU (the only codec the templates describe). */
export function offersPcmu(body: string): boolean {
  if (body.trim() === '') return true;
  const m = /^m=audio \d+ [^ ]+ ([\d ]+)/m.exec(body);
  return !!m && (m[1] ?? '').split(' ').includes('0');
}
