import { Call, hangupReason, type CallContext, type CallRecord, type HangupKind } from './call.js';
import { BridgeOutbound, type BridgeLegContext, type BridgeTarget } from './bridge-leg.js';
import { causeSipStatus, reasonFor, sipStatusCause } from './causes.js';
import { localStamp, nowUs } from './events.js';
import type { InviteTx } from './sip-uas.js';
import { parseUri, type SipMessage } from './sip-message.js';
import { bridgeTemplates, type BridgePhaseName, type Leg } from './templates.js';

/** Where the dialplan's bridge extension sends a call (standin.ts bridgeRouteFor). */
export interface BridgeRoute {
  target: BridgeTarget;
  /** The dialplan match's capture (DP_MATCH `ARRAY::8000|:000` for `^8(\d{3})$`). */
  dpMatch: string;
}

/** The capture's dialplan (context `public`): `8xxx` bridges to `sofia/internal/9xxx@…`. */
export const BRIDGE_PATTERN = /^8(\d{3})$/;

/**
 * The bridge extension's route for an INVITE, or undefined when its R-URI user does not match
 * `pattern`. The target is the INVITE's `X-SBC-Bridge-To: sip:[user@]host[:port]`, else `target`,
 * else this stand-in itself (as in the capture, where the B leg's INVITE came back in). The B leg's
 * user is the target's, else the capture's rewrite: the pattern's first group after a `9`, else the
 * number unchanged.
 */
export function bridgeRouteFor(msg: SipMessage, o: { pattern?: RegExp | undefined; target?: string | undefined; self: string }): BridgeRoute | undefined {
  const dest = parseUri(msg.uri).user ?? '';
  const m = (o.pattern ?? BRIDGE_PATTERN).exec(dest);
  if (!m) return undefined;
  const header = msg.headers.find(([k]) => k.toLowerCase() === 'x-sbc-bridge-to')?.[1];
  const uri = parseUri(header ?? o.target ?? o.self);
  if (uri.host === '') return undefined;
  const group = m[1];
  const user = uri.user ?? (group !== undefined ? `9${group}` : dest);
  return { target: { host: uri.host, port: uri.port ?? 5060, user }, dpMatch: group ?? dest };
}

/** What the bridged call needs from the switch for its B leg. */
export interface BridgeHooks {
  /** fsctl pause outbound or max sessions: the originate fails before any B channel exists. */
  outboundRefused(): boolean;
  /** A new session for the B leg (its context); the switch counts it from legStarted until legEnded. */
  legContext(): BridgeLegContext;
  legStarted(leg: BridgeOutbound, call: BridgedCall): void;
  legEnded(leg: BridgeOutbound): void;
}

/**
 * An inbound call routed to the bridge extension (`bridge sofia/<profile>/<user>@<host>:<port>`,
 * fixture README main run step 4): the A leg is this channel; the B leg is a real INVITE to the
 * target. B's 200 OK answers A and bridges them; a BYE on either side hangs up the other (cause
 * NORMAL_CLEARING for both); a final response >= 300 from B refuses A with that status and
 * sofia's cause for it. The events are templates/bridge.json, both legs interleaved as captured.
 */
export class BridgedCall extends Call {
  leg: BridgeOutbound | undefined;
  private bridgedUs = 0;
  /** bridge_hangup_cause: the cause of the leg that ended the bridge. */
  private firstCause: string | undefined;
  /** The B leg's refusal phrase, which sofia sets on its partner (sip_hangup_phrase). */
  private failPhrase: string | undefined;
  private finished = false;

  constructor(
    ctx: CallContext,
    private readonly hooks: BridgeHooks,
    tx: InviteTx,
    record: CallRecord,
    sessionId: number,
    private readonly bridge: BridgeRoute,
  ) {
    super(ctx, tx, record, sessionId);
  }

  /** The bridge application's argument, as the dialplan wrote it. */
  get appData(): string {
    const t = this.bridge.target;
    return `sofia/${this.ctx.profile}/${t.user}@${t.host}:${t.port}`;
  }

  /** Routes, runs `bridge`: the B leg's channel is created and its INVITE sent. */
  override start(): void {
    this.fire('route');
    if (this.hooks.outboundRefused()) {
      // Capture (cascade-a-api, paused outbound): the originate fails with no channel at all.
      this.fire('start', 'a');
      return this.endUnbridged('send_bye', 'DESTINATION_OUT_OF_ORDER', undefined);
    }
    const leg = new BridgeOutbound(this.hooks.legContext(), this, this.bridge.target);
    this.leg = leg;
    this.hooks.legStarted(leg, this);
    this.record.bridgedTo = leg.record;
    this.fire('start');
    leg.invite({
      answered: () => this.legAnswered(),
      failed: (status, reason) => this.legFailed(status, reason),
      bye: () => this.endBridged('b', 'recv_bye', 'NORMAL_CLEARING'),
    });
  }

  /** The A leg ends: the caller's BYE or CANCEL, or our side (uuid_kill, hupall, shutdown, profile stop). */
  override hangup(kind: HangupKind, cause = 'NORMAL_CLEARING'): void {
    if (this.state === 'ended') return;
    if (this.state === 'bridged') {
      return kind === 'recv_bye' ? this.endBridged('a', 'recv_bye', 'NORMAL_CLEARING') : this.endBridged('a', 'send_bye', cause);
    }
    const aCause = kind === 'recv_cancel' ? 'ORIGINATOR_CANCEL' : cause;
    this.leg?.end('send_cancel', aCause, '');
    this.endUnbridged(kind === 'recv_cancel' ? 'recv_cancel' : 'send_bye', aCause, undefined);
  }

  /** uuid_kill (hupall) of the B leg: BYE (or CANCEL while it rings); A follows with the same cause. */
  killLeg(cause: string): void {
    if (this.state === 'bridged') return this.endBridged('b', 'send_bye', cause);
    if (this.state !== 'ringing' || !this.leg) return;
    this.leg.end('send_cancel', cause, '');
    this.endUnbridged('send_bye', cause, undefined);
  }

  override abandon(): void {
    super.abandon();
    this.leg?.abandon();
    this.finish(false);
  }

  private legAnswered(): void {
    if (this.state !== 'ringing' || !this.leg) return;
    this.bridgedUs = nowUs();
    this.leg.bridgedUs = this.bridgedUs;
    this.state = 'bridged';
    // B answers, A answers (its 200 OK goes out on its CHANNEL_ANSWER), CHANNEL_BRIDGE on A.
    this.fire('answer');
    if (this.ctx.autoHangupMs > 0) this.later(this.ctx.autoHangupMs, () => this.hangup('send_bye'));
  }

  private legFailed(status: number, reason: string): void {
    if (this.state !== 'ringing' || !this.leg) return;
    this.failPhrase = reason;
    this.leg.end('recv_refuse', sipStatusCause(status), '');
    // mod_dptools bridge: a failed originate hangs the caller up with its cause; sofia_on_hangup
    // then answers the caller's INVITE with the B leg's status ("Overriding SIP cause … from the other leg").
    this.endUnbridged('send_bye', this.leg.cause, status);
  }

  /** Ends a bridged call: `first` hung up (or was hung up), the other leg follows with its cause. */
  private endBridged(first: Leg, how: 'recv_bye' | 'send_bye', cause: string): void {
    const leg = this.leg;
    if (this.state !== 'bridged' || !leg) return;
    this.stopTimers();
    this.firstCause = cause;
    this.state = 'ended';
    this.hangupUs = nowUs();
    this.hungUp = true;
    this.cause = cause;
    const reason = hangupReason(cause);
    if (first === 'a') {
      this.disposition = how;
      if (how === 'send_bye') this.ctx.uas.sendBye(this.record.callId, reason);
      leg.end('send_bye', cause, reason);
    } else {
      leg.end(how, cause, reason);
      this.disposition = 'send_bye';
      this.ctx.uas.sendBye(this.record.callId, reason);
    }
    this.record.hangupCause = cause;
    this.record.finalStatus ??= this.tx.final;
    this.fire(first === 'a' ? 'hangup' : 'hangupB');
    this.finish(true);
  }

  /** Ends a call that never bridged: refused (with `status`, else the cause's), or cancelled by the caller. */
  private endUnbridged(kind: 'send_bye' | 'recv_cancel', cause: string, status: number | undefined): void {
    this.stopTimers();
    this.state = 'ended';
    this.hangupUs = nowUs();
    this.hungUp = true;
    this.cause = cause;
    this.disposition = kind;
    if (kind === 'recv_cancel') this.tx.reject(487, 'Request Terminated');
    else {
      const code = status ?? causeSipStatus(cause);
      this.refused = true;
      this.tx.reject(code, reasonFor(code), [['Reason', hangupReason(cause)]]);
    }
    this.record.hangupCause = cause;
    this.record.finalStatus ??= this.tx.final;
    this.fire('fail', this.leg ? undefined : 'a');
    this.finish(true);
  }

  private finish(announce: boolean): void {
    if (this.finished) return;
    this.finished = true;
    if (this.leg) this.hooks.legEnded(this.leg);
    this.record.endedAt ??= Date.now();
    if (announce) this.ctx.ended(this);
  }

  private stopTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Fires a phase's steps in the captured order, each with its own leg's values. */
  private fire(phase: BridgePhaseName, only?: Leg): void {
    const t = bridgeTemplates();
    for (const step of t.phases[phase]) {
      if (only && step.leg !== only) continue;
      if (step.leg === 'b') this.leg?.emit(step);
      else this.ctx.bus.fire(step.event, step.calling, this.renderOne(step, t.blocks));
    }
  }

  protected override beforeStep(label: string): void {
    super.beforeStep(label);
    if (label === 'CHANNEL_EXECUTE bridge') this.lastArg = this.appData;
  }

  /** The A leg's placeholders: an inbound call's (call.ts), plus the bridge and the B leg's. */
  override value(key: string): string | undefined {
    const leg = this.leg;
    switch (key) {
      case 'aUuid': return this.uuid;
      case 'bUuid': case 'otherUuid': return leg?.uuid;
      case 'otherChannelName': return leg?.channelName;
      case 'otherDest': return leg?.target.user;
      case 'otherCreatedUs': return String(leg?.createdUs ?? 0);
      case 'otherAnsweredUs': return String(leg?.answeredUs ?? 0);
      case 'otherRemoteSdp': return leg?.value('remoteSdp');
      case 'bridgedUs': return String(this.bridgedUs);
      case 'bridgedS': return String(Math.floor(this.bridgedUs / 1e6));
      case 'bridgedStamp': return this.bridgedUs ? localStamp(Math.floor(this.bridgedUs / 1000)) : undefined;
      case 'bridgeHangupCause': return this.firstCause;
      case 'dpMatch': return this.bridge.dpMatch;
      // Application-Data of set, export and bridge alike: the current application's argument.
      case 'appData': return this.lastArg;
      case 'hangupPhrase': return this.failPhrase;
      default: return super.value(key);
    }
  }
}
