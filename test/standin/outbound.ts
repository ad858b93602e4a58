import { legClock } from './legClock.js';
import { randomUUID } from 'node:crypto';
import type { Conferences, Member, MemberChannel } from './conference.js';
import type { HeaderList } from './esl-frames.js';
import { nowUs, type EventBus } from './events.js';
import { header, headers, sofiaTag } from './sip-message.js';
import { randomMediaPort, sdpAnswer, type SipUas } from './sip-uas.js';
import { hangupReason } from './call.js';
import { q850, sipStatusCause } from './causes.js';
import { applyVarOps, callTemplates, fillAll, renderStep, type PhaseName, type TemplateStep } from './templates.js';
import { randomBytes } from 'node:crypto';

/** `{var=val,…}sofia/<profile>/<user>@<host>[:<port>]`, one space-free token as the conference api takes it. */
export interface DialTarget {
  vars: Map<string, string>;
  profile: string;
  user: string;
  host: string;
  port: number;
}

export function parseDialString(s: string): DialTarget | undefined {
  const m = /^(?:\{([^}]*)\})?sofia\/([^/]+)\/([^@/]+)@([^:;/]+)(?::(\d+))?$/.exec(s);
  if (!m) return undefined;
  const vars = new Map<string, string>();
  for (const pair of (m[1] ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0) vars.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return { vars, profile: m[2] ?? '', user: m[3] ?? '', host: m[4] ?? '', port: m[5] ? Number(m[5]) : 5060 };
}

export { sipStatusCause } from './causes.js';

export interface LegContext {
  readonly uas: SipUas;
  readonly bus: EventBus;
  readonly conferences: Conferences;
  readonly profile: string;
  readonly sipHost: string;
  readonly sipPort: number;
  readonly sessionId: number;
  /** The bgdial job id (variable conference_bgdial_jobid), undefined for dial. */
  readonly jobId: string | undefined;
  readonly dialTimeoutMs: number;
  ended(leg: OutboundLeg): void;
}

/** What a test can read about each leg this node dialled (`conference … dial|bgdial`). */
export interface DialedLink {
  uuid: string;
  conference: string;
  dialString: string;
  target: { host: string; port: number; user: string };
  /** sip_h_X-SBC-Cascade of the dial string; undefined for a dial that is not a cascade link. */
  linkId: string | undefined;
  /** Every sip_h_X-* variable, as sent in the INVITE. */
  headers: Record<string, string>;
  state: 'dialing' | 'up' | 'ended' | 'failed';
  /** SUCCESS, or the failure cause; then the hangup cause once ended. */
  cause: string | undefined;
  startedAt: number;
  answeredAt: number | undefined;
  endedAt: number | undefined;
}

/**
 * An outbound sofia leg made by `conference <name> dial|bgdial`: a real INVITE from the stand-in's
 * SIP port (Call-ID = the leg's UUID, as with outbound-use-uuid-as-callid), which joins the
 * conference once the far end answers.
 */
export class OutboundLeg implements MemberChannel {
  readonly uuid = randomUUID();
  readonly direction = 'outbound' as const;
  readonly record: DialedLink;
  hungUp = false;
  member: Member | undefined;
  private readonly createdUs = nowUs();
  private answeredUs = 0;
  private cause = 'NORMAL_CLEARING';
  private mediaTimer: NodeJS.Timeout | undefined;
  private readonly origName: string;
  private readonly origNumber: string;
  private hangupUs = 0;
  private cancelDial: ((cause: string) => void) | undefined;
  private lastMemberId = '';
  private vars: HeaderList = [];
  private dialVarsPlaced = false;
  private confUuid = '';
  private confOpened = false;
  private appUuid = '';
  private disposition: 'send_bye' | 'recv_bye' = 'send_bye';
  private readonly fromTag = sofiaTag();
  private readonly branch = `z9hG4bK${sofiaTag(13)}`;
  private readonly cseq = 1 + Math.floor(Math.random() * 100_000_000);
  private readonly localMediaPort = randomMediaPort();
  private readonly localSdp: string;
  private readonly ssrc = String(randomBytes(4).readUInt32BE(0));
  private far: { toTag: string; userAgent: string | undefined; allow: string | undefined; sdp: string | undefined; mediaPort: string | undefined } = {
    toTag: '', userAgent: undefined, allow: undefined, sdp: undefined, mediaPort: undefined,
  };

  constructor(
    private readonly ctx: LegContext,
    readonly room: string,
    readonly target: DialTarget,
    dialString: string,
    cidNumber: string | undefined,
    cidName: string | undefined,
  ) {
    // Dial-string variables win over the api's caller-id arguments; mod_conference's defaults otherwise.
    this.origName = target.vars.get('origination_caller_id_name') ?? cidName ?? 'Conference';
    this.origNumber = target.vars.get('origination_caller_id_number') ?? cidNumber ?? '0000000000';
    const xHeaders: Record<string, string> = {};
    for (const [k, v] of target.vars) if (/^sip_h_X-/i.test(k)) xHeaders[k.slice(6)] = v;
    this.localSdp = sdpAnswer(ctx.sipHost, this.localMediaPort);
    this.record = {
      uuid: this.uuid, conference: room, dialString, target: { host: target.host, port: target.port, user: target.user },
      linkId: target.vars.get('sip_h_X-SBC-Cascade'), headers: xHeaders, state: 'dialing', cause: undefined,
      startedAt: Date.now(), answeredAt: undefined, endedAt: undefined,
    };
  }

  get linkId(): string | undefined {
    return this.record.linkId;
  }
  get channelName(): string {
    return `sofia/${this.target.profile}/${this.target.user}@${this.target.host}:${this.target.port}`;
  }
  // After answer sofia flips the caller id to the far end's (the CALL_UPDATE in the capture).
  get callerIdName(): string {
    return this.target.user;
  }
  get callerIdNumber(): string {
    return this.target.user;
  }
  get peer(): { address: string; port: number } {
    return { address: this.target.host, port: this.target.port };
  }
  /** media_timeout of the dial string, in ms (0: none, the FreeSWITCH default). */
  get mediaTimeoutMs(): number {
    return Number(this.target.vars.get('media_timeout') ?? 0) || 0;
  }

  /** Sends the INVITE; resolves with SUCCESS once answered and joined, or with the failure cause. */
  dial(onAnswer: (cause: string) => void): Promise<string> {
    return new Promise((resolve) => {
      this.cancelDial = (cause) => {
        this.record.state = 'failed';
        this.record.cause = cause;
        this.record.endedAt = Date.now();
        this.ctx.uas.cancelUac(this.uuid);
        this.ctx.ended(this);
        onAnswer(cause);
        resolve(cause);
      };
      const t = this.target;
      const extra: HeaderList = Object.entries(this.record.headers).map(([k, v]) => [k, v]);
      this.ctx.uas.sendInvite(
        {
          uri: `sip:${t.user}@${t.host}:${t.port}`,
          to: { address: t.host, port: t.port },
          from: `"${this.origName}" <sip:${this.origNumber}@${this.ctx.sipHost}>`,
          toHeader: `<sip:${t.user}@${t.host}:${t.port}>`,
          callId: this.uuid,
          contactUser: 'mod_sofia',
          extra,
          sdp: this.localSdp,
          timeoutMs: this.ctx.dialTimeoutMs,
          fromTag: this.fromTag,
          branch: this.branch,
          cseq: this.cseq,
        },
        {
          answered: (ok) => {
            if (this.record.state !== 'dialing') return;
            this.answeredUs = nowUs();
            this.record.state = 'up';
            this.record.cause = 'SUCCESS';
            this.record.answeredAt = Date.now();
            const sdp = ok.body.trim() === '' ? undefined : ok.body;
            this.far = {
              toTag: /;\s*tag=([^;]+)/i.exec(header(ok, 'To') ?? '')?.[1] ?? '',
              userAgent: header(ok, 'User-Agent'),
              allow: headers(ok, 'Allow').join(', ') || undefined,
              sdp,
              mediaPort: sdp ? /^m=audio (\d+)/m.exec(sdp)?.[1] : undefined,
            };
            // The originate events, answer and CID flip (emitted at the answer; see the README).
            this.run('legOriginate');
            this.run('legAnswer');
            onAnswer('SUCCESS');
            this.run('legJoin');
            this.member = this.ctx.conferences.join(this.room, this);
            this.lastMemberId = String(this.member.id);
            resolve('SUCCESS');
          },
          failed: (status) => {
            if (this.record.state !== 'dialing') return;
            const cause = sipStatusCause(status);
            this.record.state = 'failed';
            this.record.cause = cause;
            this.record.endedAt = Date.now();
            this.ctx.ended(this);
            onAnswer(cause);
            resolve(cause);
          },
          bye: () => this.hangup('NORMAL_CLEARING', 'recv_bye'),
        },
      );
    });
  }

  /** The channel hangs up (BYE either way, uuid_kill, media timeout, shutdown); the member leaves. */
  hangup(cause: string, how: 'send_bye' | 'recv_bye'): void {
    // Still ringing: sofia sends CANCEL, the dial fails with the hangup cause (no channel events emitted yet).
    if (this.record.state === 'dialing' && how === 'send_bye') return this.cancelDial?.(cause);
    if (this.record.state !== 'up') return;
    clearTimeout(this.mediaTimer);
    this.record.state = 'ended';
    this.cause = cause;
    this.disposition = how;
    this.hangupUs = nowUs();
    this.hungUp = true;
    if (how === 'send_bye') this.ctx.uas.sendUacBye(this.uuid, hangupReason(cause));
    // CHANNEL_HANGUP, del-member with Hangup-Cause, the rest of the channel's events.
    this.run('legHangup');
    if (this.member) this.ctx.conferences.leave(this.member);
    this.member = undefined;
    this.run('legLeave');
    this.finish();
  }

  /** `conference … hup|kick`: hup-member, del-member, CODEC, EXECUTE_COMPLETE, then CHANNEL_HANGUP (capture order). */
  hupFromConference(action: 'hup-member' | 'kick-member'): void {
    if (this.record.state !== 'up' || !this.member) return;
    this.ctx.conferences.announceHup(this.member, action);
    clearTimeout(this.mediaTimer);
    this.record.state = 'ended';
    this.ctx.conferences.leave(this.member);
    this.member = undefined;
    this.hangupUs = nowUs();
    this.hungUp = true;
    this.ctx.uas.sendUacBye(this.uuid, hangupReason('NORMAL_CLEARING'));
    const hangup = this.render('legHangup');
    const rest = this.render('legLeave');
    const head = rest.findIndex((r) => r.step.label.startsWith('CHANNEL_EXECUTE_COMPLETE')) + 1;
    for (const r of [...rest.slice(0, head), ...hangup, ...rest.slice(head)]) this.ctx.bus.fire(r.step.event, r.step.calling, r.hdrs);
    this.finish();
  }

  private run(phase: PhaseName): void {
    for (const r of this.render(phase)) this.ctx.bus.fire(r.step.event, r.step.calling, r.hdrs);
  }

  private render(phase: PhaseName): Array<{ step: TemplateStep; hdrs: HeaderList }> {
    return callTemplates().phases[phase].map((step) => {
      const [event, app] = step.label.split(' ');
      if (event === 'CHANNEL_EXECUTE' && app) this.appUuid = randomUUID();
      if (event === 'CODEC' && phase === 'legJoin' && !this.confOpened) {
        // mod_conference creates the room when the conference application starts, before its codec.
        this.confOpened = true;
        this.confUuid = this.ctx.conferences.open(this.room, this).uuid;
      }
      if (step.vars) this.vars = this.withDialVars(applyVarOps(this.vars, step.vars));
      return { step, hdrs: renderStep(step, this.vars, (k) => this.value(k)) };
    });
  }

  /**
   * The dial string's variables where node A shows them: after sip_destination_url, in the dial
   * string's order (bgdial's conference_bgdial_jobid first), in place of the template's two
   * origination_caller_id_* variables.
   */
  private withDialVars(vars: HeaderList): HeaderList {
    if (this.dialVarsPlaced) return vars;
    const at = vars.findIndex(([k]) => k === 'variable_origination_caller_id_number');
    if (at < 0) return vars;
    this.dialVarsPlaced = true;
    const mine: HeaderList = [];
    if (this.ctx.jobId !== undefined) mine.push(['variable_conference_bgdial_jobid', this.ctx.jobId]);
    for (const [k, v] of this.target.vars) mine.push([`variable_${k}`, v]);
    if (!this.target.vars.has('origination_caller_id_name')) mine.push(['variable_origination_caller_id_name', '{{origCallerName}}']);
    if (!this.target.vars.has('origination_caller_id_number')) mine.push(['variable_origination_caller_id_number', '{{origCallerNumber}}']);
    const rest = vars.filter(([k], i) => i < at || !/^variable_origination_caller_id_(name|number)$/.test(k));
    return [...rest.slice(0, at), ...mine, ...rest.slice(at)];
  }

  /** The peer is gone (its stand-in was killed): with media_timeout set, hang up MEDIA_TIMEOUT after it. */
  peerGone(): void {
    const ms = this.mediaTimeoutMs;
    if (ms <= 0 || this.record.state !== 'up' || this.mediaTimer) return;
    this.mediaTimer = setTimeout(() => this.hangup('MEDIA_TIMEOUT', 'send_bye'), ms).unref();
  }

  /** kill/stop: gone without events. */
  abandon(): void {
    clearTimeout(this.mediaTimer);
    this.ctx.uas.dropUac(this.uuid);
    if (this.record.state === 'up' || this.record.state === 'dialing') {
      this.record.state = 'ended';
      this.record.endedAt = Date.now();
    }
  }

  private finish(): void {
    this.record.cause = this.cause;
    this.record.endedAt = Date.now();
    this.ctx.conferences.settle(this.room);
    this.ctx.ended(this);
  }

  value(key: string): string | undefined {
    switch (key) {
      case 'sessionId': return String(this.ctx.sessionId);
      case 'profile': return this.ctx.profile;
      case 'sipHost': return this.ctx.sipHost;
      case 'sipPort': return String(this.ctx.sipPort);
      case 'remotePort': return String(this.target.port);
      case 'confName': return this.room;
      case 'confApp': return this.room; // bgdial's application data is the bare room name (node A)
      case 'confUuid': return this.confUuid;
      case 'memberId': return this.member ? String(this.member.id) : this.lastMemberId;
      case 'appUuid': return this.appUuid;
      case 'lastApp': return 'conference';
      case 'farUserAgent': return this.far.userAgent;
      case 'farAllow': return this.far.allow;
      case 'toTag': return this.far.toTag;
      case 'fromTag': return this.fromTag;
      case 'viaBranch': return this.branch;
      case 'inviteCseq': return String(this.cseq);
      case 'localSdp': return this.localSdp;
      case 'localMediaPort': return String(this.localMediaPort);
      case 'remoteSdp': return this.far.sdp;
      case 'remoteMediaPort': return this.far.mediaPort;
      case 'ssrc': return this.ssrc;
      case 'q850': return String(q850(this.cause));
      case 'hangupDisposition': return this.disposition;
      case 'outPackets': case 'outBytes': case 'inSkipPackets': return '0'; // no RTP is sent
      case 'uuid': return this.uuid;
      case 'channelName': return this.channelName;
      case 'callerName': return this.callerIdName;
      case 'callerNumber': return this.callerIdNumber;
      case 'origCallerName': return this.origName;
      case 'origCallerNumber': return this.origNumber;
      case 'calleeName': return this.origName;
      case 'calleeNumber': return this.origNumber;
      case 'dest': return this.target.user;
      case 'remoteIp': return this.target.host;
      case 'hangupCause': return this.cause;
      default: {
        const clock = legClock(key, { createdUs: this.createdUs, answeredUs: this.answeredUs, hangupUs: this.hangupUs });
        return clock === 'none' ? undefined : clock.value;
      }
    }
  }

  /** The channel variables as verbose-events show them on member events. */
  variables(): HeaderList {
    return fillAll(this.vars, (key) => this.value(key));
  }

  /** uuid_getvar. */
  getVar(name: string): string | undefined {
    if (name === 'sip_call_id' || name === 'uuid') return this.uuid;
    return this.target.vars.get(name);
  }
}
