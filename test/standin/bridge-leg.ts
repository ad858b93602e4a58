import { legClock } from './legClock.js';
import { randomBytes, randomUUID } from 'node:crypto';
import type { HeaderList } from './esl-frames.js';
import { nowUs, type EventBus } from './events.js';
import { q850, sipStatusCause } from './causes.js';
import { header, headers, parseNameAddr, parseUri, sofiaTag, type SipMessage } from './sip-message.js';
import { randomMediaPort, sdpAnswer, type SipUas } from './sip-uas.js';
import { applyVarOps, bridgeTemplates, fill, renderStep, type BridgeStep } from './templates.js';

/** Where the bridge application sends the B leg: `sofia/<profile>/<user>@<host>:<port>`. */
export interface BridgeTarget {
  host: string;
  port: number;
  user: string;
}

/** What a test reads about the B leg of a bridged call (CallRecord.bridgedTo). */
export interface BridgedLeg {
  /** The B leg's UUID, which is also the Call-ID of its INVITE (outbound-use-uuid-as-callid). */
  uuid: string;
  callId: string;
  target: BridgeTarget;
  state: 'dialing' | 'up' | 'ended' | 'failed';
  /** The far end's final response to the INVITE (200, 486, 408 for no answer in time, …). */
  finalStatus: number | undefined;
  hangupCause: string | undefined;
  startedAt: number;
  answeredAt: number | undefined;
  endedAt: number | undefined;
}

export interface BridgeLegContext {
  readonly uas: SipUas;
  readonly bus: EventBus;
  readonly profile: string;
  readonly sipHost: string;
  readonly sipPort: number;
  readonly sessionId: number;
  /** How long the INVITE waits for a final response before the leg fails 408. */
  readonly dialTimeoutMs: number;
}

/** The A leg as the B leg sees it: its UUID and its channel values (caller id, SDP, cause…). */
export interface BridgePeer {
  readonly uuid: string;
  value(key: string): string | undefined;
}

export type BridgeLegEnd = 'send_bye' | 'recv_bye' | 'recv_refuse' | 'send_cancel';

/**
 * The B leg of a bridged call: an outbound sofia channel whose INVITE goes from the stand-in's SIP
 * port to the target with Call-ID = its UUID, and whose caller profile is the A leg's (caller id,
 * exported variables). Its events are the captured B leg's (templates/bridge.json, leg `b`).
 */
export class BridgeOutbound {
  readonly uuid = randomUUID();
  readonly record: BridgedLeg;
  readonly createdUs = nowUs();
  answeredUs = 0;
  bridgedUs = 0;
  hangupUs = 0;
  cause = 'NORMAL_CLEARING';
  disposition: BridgeLegEnd = 'send_bye';
  /** The final response that ended the INVITE (sip_term_status); undefined when it was not one. */
  termStatus: number | undefined;
  private vars: HeaderList = [];
  private readonly fromTag = sofiaTag();
  private readonly branch = `z9hG4bK${sofiaTag(13)}`;
  private readonly cseq = 1 + Math.floor(Math.random() * 100_000_000);
  private readonly localMediaPort = randomMediaPort();
  private readonly localSdp: string;
  private readonly ssrc = String(randomBytes(4).readUInt32BE(0));
  private far: Record<string, string | undefined> = {};

  constructor(
    private readonly ctx: BridgeLegContext,
    private readonly peer: BridgePeer,
    readonly target: BridgeTarget,
  ) {
    this.localSdp = sdpAnswer(ctx.sipHost, this.localMediaPort);
    this.record = {
      uuid: this.uuid, callId: this.uuid, target: { ...target }, state: 'dialing', finalStatus: undefined,
      hangupCause: undefined, startedAt: Date.now(), answeredAt: undefined, endedAt: undefined,
    };
  }

  get channelName(): string {
    return `sofia/${this.ctx.profile}/${this.target.user}@${this.target.host}:${this.target.port}`;
  }

  /** The INVITE, as sofia sends it for the bridge (From: the A leg's caller id at our host). */
  invite(cb: { answered(ok: SipMessage): void; failed(status: number, reason: string): void; bye(): void }): void {
    const t = this.target;
    const name = this.peer.value('callerName') ?? '';
    const number = this.peer.value('fromUser') ?? '';
    this.ctx.uas.sendInvite(
      {
        uri: `sip:${t.user}@${t.host}:${t.port}`,
        to: { address: t.host, port: t.port },
        from: `"${name}" <sip:${number}@${this.ctx.sipHost}>`,
        toHeader: `<sip:${t.user}@${t.host}:${t.port}>`,
        callId: this.uuid,
        contactUser: 'mod_sofia',
        extra: [],
        sdp: this.localSdp,
        timeoutMs: this.ctx.dialTimeoutMs,
        maxForwards: Number(this.value('maxForwards') ?? 70),
        fromTag: this.fromTag,
        branch: this.branch,
        cseq: this.cseq,
      },
      {
        answered: (ok) => {
          if (this.record.state !== 'dialing') return;
          this.answeredUs = nowUs();
          this.record.state = 'up';
          this.record.finalStatus = ok.status;
          this.record.answeredAt = Date.now();
          const contact = parseUri(parseNameAddr(header(ok, 'Contact') ?? '').uri);
          const sdp = ok.body.trim() === '' ? undefined : ok.body;
          this.far = {
            toTag: /;\s*tag=([^;]+)/i.exec(header(ok, 'To') ?? '')?.[1] ?? '',
            farUserAgent: header(ok, 'User-Agent'),
            farAllow: headers(ok, 'Allow').join(', ') || undefined,
            contactUser: contact.user,
            contactHost: contact.host,
            contactPort: contact.port === undefined ? undefined : String(contact.port),
            remoteSdp: sdp,
            remoteMediaPort: sdp ? /^m=audio (\d+)/m.exec(sdp)?.[1] : undefined,
          };
          cb.answered(ok);
        },
        failed: (status, reason) => {
          if (this.record.state !== 'dialing') return;
          this.record.finalStatus = status;
          this.termStatus = status;
          cb.failed(status, reason);
        },
        bye: () => cb.bye(),
      },
    );
  }

  /** The leg ends: refused (the final response), cancelled while ringing, or BYE either way. */
  end(how: BridgeLegEnd, cause: string, reason: string): void {
    if (this.record.state === 'ended' || this.record.state === 'failed') return;
    const wasUp = this.record.state === 'up';
    this.hangupUs = nowUs();
    this.disposition = how;
    this.cause = how === 'recv_refuse' && this.termStatus !== undefined ? sipStatusCause(this.termStatus) : cause;
    if (how === 'send_cancel') this.ctx.uas.cancelUac(this.uuid);
    if (how === 'send_bye') this.ctx.uas.sendUacBye(this.uuid, reason);
    this.record.state = wasUp ? 'ended' : 'failed';
    this.record.hangupCause = this.cause;
    this.record.endedAt = Date.now();
  }

  /** kill/stop: gone without events or SIP. */
  abandon(): void {
    this.ctx.uas.dropUac(this.uuid);
    if (this.record.state === 'up' || this.record.state === 'dialing') {
      this.record.state = this.record.state === 'up' ? 'ended' : 'failed';
      this.record.endedAt = Date.now();
    }
  }

  /** Fires one of this leg's template steps. */
  emit(step: BridgeStep): void {
    if (step.vars) this.vars = applyVarOps(this.vars, step.vars);
    this.ctx.bus.fire(step.event, step.calling, renderStep(step, this.vars, (k) => this.value(k), bridgeTemplates().blocks));
  }

  /** uuid_getvar on the B leg. */
  getVar(name: string): string | undefined {
    if (name === 'uuid') return this.uuid;
    if (name === 'sip_call_id') return this.record.state === 'dialing' ? undefined : this.uuid;
    const v = this.vars.find(([k]) => k === `variable_${name}`);
    return v && fill(v[1], (k) => this.value(k));
  }

  /** Placeholders of the B leg's steps (tools/bridge-rules.ts); A's values come from the peer. */
  value(key: string): string | undefined {
    switch (key) {
      case 'uuid': return this.uuid;
      case 'channelName': return this.channelName;
      case 'dest': return this.target.user;
      case 'targetHost': return this.target.host;
      case 'targetPort': return String(this.target.port);
      case 'profile': return this.ctx.profile;
      case 'sipHost': return this.ctx.sipHost;
      case 'sipPort': return String(this.ctx.sipPort);
      case 'sessionId': return String(this.ctx.sessionId);
      // The caller profile is the A leg's: caller id, network address.
      case 'callerName': case 'fromDisplay': return this.peer.value('callerName');
      case 'fromUser': return this.peer.value('fromUser');
      case 'callerAddr': return this.peer.value('remoteIp');
      case 'rfc2822': return this.peer.value('rfc2822');
      case 'maxForwards': return String(Math.max(0, Number(this.peer.value('maxForwards') ?? 70) - 1));
      case 'otherUuid': return this.peer.uuid;
      case 'otherChannelName': return this.peer.value('channelName');
      case 'otherDest': return this.peer.value('dest');
      case 'otherRemoteSdp': return this.peer.value('remoteSdp');
      case 'otherHangupCause': return this.peer.value('hangupCause');
      case 'otherTermStatus': return this.peer.value('termStatus');
      case 'bridgeHangupCause': return this.peer.value('bridgeHangupCause');
      case 'fromTag': return this.fromTag;
      case 'viaBranch': return this.branch;
      case 'inviteCseq': return String(this.cseq);
      case 'localSdp': return this.localSdp;
      case 'localMediaPort': return String(this.localMediaPort);
      case 'ssrc': return this.ssrc;
      case 'hangupCause': return this.cause;
      case 'q850': return String(q850(this.cause));
      case 'hangupDisposition': return this.disposition;
      case 'termStatus': return this.termStatus === undefined ? undefined : String(this.termStatus);
      case 'protoCause': return this.termStatus === undefined ? undefined : `sip:${this.termStatus}`;
      case 'termCause': return this.termStatus === undefined ? undefined : String(q850(this.cause));
      case 'outPackets': case 'outBytes': case 'inSkipPackets': return '0'; // no RTP is sent
      default: {
        const clock = legClock(key, { createdUs: this.createdUs, answeredUs: this.answeredUs, hangupUs: this.hangupUs, bridgedUs: this.bridgedUs });
        return clock === 'none' ? this.far[key] : clock.value;
      }
    }
  }
}
