import { randomUUID } from 'node:crypto';
import type { Conferences, Member, MemberChannel } from './conference.js';
import type { HeaderList } from './esl-frames.js';
import { nowUs } from './events.js';
import { randomMediaPort, sdpAnswer, type SipUas } from './sip-uas.js';
import { hangupReason } from './call.js';

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

/** sofia_glue_sip_cause_to_freeswitch(): the hangup cause a final SIP status becomes. */
export function sipStatusCause(status: number): string {
  const map: Record<number, string> = {
    401: 'CALL_REJECTED', 402: 'CALL_REJECTED', 403: 'CALL_REJECTED', 407: 'CALL_REJECTED', 603: 'CALL_REJECTED',
    404: 'UNALLOCATED_NUMBER', 485: 'NO_ROUTE_DESTINATION', 604: 'NO_ROUTE_DESTINATION',
    408: 'RECOVERY_ON_TIMER_EXPIRE', 504: 'RECOVERY_ON_TIMER_EXPIRE', 410: 'NUMBER_CHANGED',
    480: 'NO_USER_RESPONSE', 400: 'NORMAL_TEMPORARY_FAILURE', 481: 'NORMAL_TEMPORARY_FAILURE',
    500: 'NORMAL_TEMPORARY_FAILURE', 503: 'NORMAL_TEMPORARY_FAILURE', 486: 'USER_BUSY', 600: 'USER_BUSY',
    484: 'INVALID_NUMBER_FORMAT', 488: 'INCOMPATIBLE_DESTINATION', 606: 'INCOMPATIBLE_DESTINATION',
    502: 'NETWORK_OUT_OF_ORDER', 405: 'SERVICE_UNAVAILABLE', 406: 'SERVICE_NOT_IMPLEMENTED',
    415: 'SERVICE_NOT_IMPLEMENTED', 501: 'SERVICE_NOT_IMPLEMENTED', 482: 'EXCHANGE_ROUTING_ERROR',
    483: 'EXCHANGE_ROUTING_ERROR', 487: 'ORIGINATOR_CANCEL',
  };
  return map[status] ?? 'NORMAL_UNSPECIFIED';
}

export interface LegContext {
  readonly uas: SipUas;
  readonly conferences: Conferences;
  readonly sipHost: string;
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
    const headers: Record<string, string> = {};
    for (const [k, v] of target.vars) if (/^sip_h_X-/i.test(k)) headers[k.slice(6)] = v;
    this.record = {
      uuid: this.uuid, conference: room, dialString, target: { host: target.host, port: target.port, user: target.user },
      linkId: target.vars.get('sip_h_X-SBC-Cascade'), headers, state: 'dialing', cause: undefined,
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
      const t = this.target;
      const port = randomMediaPort();
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
          sdp: sdpAnswer(this.ctx.sipHost, port),
          timeoutMs: this.ctx.dialTimeoutMs,
        },
        {
          answered: () => {
            if (this.record.state !== 'dialing') return;
            this.answeredUs = nowUs();
            this.record.state = 'up';
            this.record.cause = 'SUCCESS';
            this.record.answeredAt = Date.now();
            onAnswer('SUCCESS');
            this.member = this.ctx.conferences.join(this.room, this);
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
    if (this.record.state !== 'up') return;
    clearTimeout(this.mediaTimer);
    this.record.state = 'ended';
    this.cause = cause;
    this.hungUp = true;
    if (how === 'send_bye') this.ctx.uas.sendUacBye(this.uuid, hangupReason(cause));
    this.finish();
  }

  hupFromConference(action: 'hup-member' | 'kick-member'): void {
    if (this.record.state !== 'up' || !this.member) return;
    this.ctx.conferences.announceHup(this.member, action);
    clearTimeout(this.mediaTimer);
    this.record.state = 'ended';
    this.ctx.conferences.leave(this.member);
    this.member = undefined;
    this.ctx.uas.sendUacBye(this.uuid, hangupReason('NORMAL_CLEARING'));
    this.finish();
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
    if (this.member) this.ctx.conferences.leave(this.member);
    this.member = undefined;
    this.ctx.conferences.settle(this.room);
    this.ctx.ended(this);
  }

  value(key: string): string | undefined {
    switch (key) {
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
      case 'createdUs': return String(this.createdUs);
      case 'answeredUs': return String(this.answeredUs);
      default: return undefined;
    }
  }

  /** A short variable list (not the full one FreeSWITCH would show; see the README). */
  variables(): HeaderList {
    const out: HeaderList = [
      ['variable_direction', 'outbound'],
      ['variable_uuid', this.uuid],
      ['variable_sip_call_id', this.uuid],
    ];
    for (const [k, v] of this.target.vars) out.push([`variable_${k}`, v]);
    return out;
  }

  /** uuid_getvar. */
  getVar(name: string): string | undefined {
    if (name === 'sip_call_id' || name === 'uuid') return this.uuid;
    return this.target.vars.get(name);
  }
}
