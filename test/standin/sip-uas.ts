import { createSocket, type Socket, type RemoteInfo } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import type { HeaderList } from './esl-frames.js';
import {
  header, headers, parseCSeq, parseNameAddr, parseSip, parseVia, serialize, sofiaTag, type SipMessage,
} from './sip-message.js';

/** What mod_sofia 1.11.2 puts in its responses (see sip-invite-while-paused-inbound.txt). */
export const SOFIA_USER_AGENT = 'FreeSWITCH-mod_sofia/1.11.2-release+git~20260809T162310Z~3f13ad1b1d~64bit';
const SOFIA_TAIL: HeaderList = [
  ['User-Agent', SOFIA_USER_AGENT],
  ['Accept', 'application/sdp'],
  ['Allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, REGISTER, REFER, NOTIFY, PUBLISH, SUBSCRIBE'],
  ['Supported', 'timer, path, replaces'],
  ['Allow-Events', 'talk, hold, conference, presence, as-feature-event, dialog, line-seize, call-info, sla, include-session-description, presence.winfo, message-summary, refer'],
];

// RFC 3261 timers: T1 = 500 ms doubling to T2 = 4 s, give up after 64*T1.
const T1 = 500;
const T2 = 4000;
const TIMER_H = 64 * T1;

export interface Peer {
  address: string;
  port: number;
}

/** An INVITE server transaction; the handler decides how (and whether) to answer it. */
export interface InviteTx {
  readonly request: SipMessage;
  readonly source: Peer;
  readonly callId: string;
  readonly toTag: string;
  /** Final status sent so far, if any. */
  readonly final: number | undefined;
  trying(): void;
  /** 200 OK with SDP; retransmitted until the ACK arrives (the handler hears `ackTimeout` otherwise). */
  answer(sdp: string, contactUser: string): void;
  reject(status: number, reason: string, extra?: HeaderList): void;
}

export interface UasHandler {
  /** False: drop the request unanswered (a node that does not respond at all). */
  accepts(req: SipMessage): boolean;
  invite(tx: InviteTx): void;
  ack(callId: string, ack: SipMessage): void;
  ackTimeout(callId: string): void;
  /** True when the dialog exists (answered 200 OK), false for 481. */
  bye(callId: string, bye: SipMessage): boolean;
  /** A CANCEL matched an INVITE that has no final response yet; 200 OK to the CANCEL is already sent. */
  cancel(tx: InviteTx): void;
  options(req: SipMessage): { status: number; reason: string; extra?: HeaderList };
}

/** What the outbound side (conference dial/bgdial) hears about its INVITE. */
export interface UacCallbacks {
  /** 2xx: the ACK is already sent. */
  answered(ok: SipMessage): void;
  /** A final response >= 300 (ACKed), or no final response within the dial timeout (status 408). */
  failed(status: number, reason: string): void;
  /** The far end sent BYE in the dialog (already answered 200 OK). */
  bye(): void;
}

export interface UacInvite {
  /** Request-URI, e.g. sip:3000@127.0.0.1:5280 */
  uri: string;
  to: Peer;
  /** From name-addr without tag. */
  from: string;
  toHeader: string;
  callId: string;
  contactUser: string;
  extra: HeaderList;
  sdp: string;
  timeoutMs: number;
  /** Max-Forwards (default 70; a bridge sends the A leg's minus one). */
  maxForwards?: number;
  /** From tag, top Via branch and INVITE CSeq number; drawn when absent. */
  fromTag?: string;
  branch?: string;
  cseq?: number;
}

interface UacState {
  inv: UacInvite;
  cb: UacCallbacks;
  fromTag: string;
  branch: string;
  cseq: number;
  final: number | undefined;
  toWithTag: string;
  remoteTarget: string;
  ack: Buffer | undefined;
  timer: NodeJS.Timeout | undefined;
  up: boolean;
}

interface TxState extends InviteTx {
  final: number | undefined;
  last: Buffer | undefined;
  createdAt: number;
  dialog: { cseq: number; routeSet: string[]; remoteTarget: string } | undefined;
}

export class SipUas {
  private socket: Socket | undefined;
  private readonly txs = new Map<string, TxState>(); // Call-ID + top Via branch
  private readonly dialogs = new Map<string, TxState>(); // Call-ID of answered INVITEs
  private readonly replies = new Map<string, { at: number; data: Buffer }>(); // non-INVITE retransmissions
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly acked = new WeakSet<TxState>();
  private readonly outstanding = new Set<string>(); // our BYEs still waiting for a response
  private readonly uac = new Map<string, UacState>(); // our INVITEs and their dialogs, by Call-ID
  private host = '127.0.0.1';
  private port = 0;
  private inflight = 0;

  constructor(private readonly handler: UasHandler) {}

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('message', (data, rinfo) => this.receive(data, rinfo));
    socket.on('error', () => undefined);
    this.socket = socket;
    this.host = host;
    this.port = socket.address().port;
    return this.port;
  }

  get sipPort(): number {
    return this.port;
  }

  /** Stops timers and the socket once queued datagrams (a shutdown's BYEs) are out. */
  async close(): Promise<void> {
    for (let i = 0; this.inflight > 0 && i < 100; i++) await new Promise((r) => setImmediate(r));
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const u of this.uac.values()) clearTimeout(u.timer);
    this.uac.clear();
    this.txs.clear();
    this.dialogs.clear();
    this.replies.clear();
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  /** In-dialog BYE from our side (uuid_kill, auto hang-up, shutdown). */
  sendBye(callId: string, reason: string): void {
    const tx = this.dialogs.get(callId);
    if (!tx?.dialog) return;
    this.dialogs.delete(callId);
    const d = tx.dialog;
    d.cseq++;
    const inv = tx.request;
    const hdrs: HeaderList = [
      ['Via', `SIP/2.0/UDP ${this.host}:${this.port};rport;branch=z9hG4bK${sofiaTag(13)}`],
      ...d.routeSet.map((r): [string, string] => ['Route', r]),
      ['Max-Forwards', '70'],
      ['From', `${header(inv, 'To') ?? ''};tag=${tx.toTag}`],
      ['To', header(inv, 'From') ?? ''],
      ['Call-ID', callId],
      ['CSeq', `${d.cseq} BYE`],
      ...SOFIA_TAIL.filter(([k]) => k !== 'Accept' && k !== 'Allow-Events'),
      ['Reason', reason],
    ];
    this.sendUntilAnswered(serialize(`BYE ${d.remoteTarget} SIP/2.0`, hdrs), tx.source, `${callId}|${d.cseq} BYE`);
  }

  /** An INVITE from our port (conference dial): retransmitted on Timer A until a response, ACKs sent for us. */
  sendInvite(inv: UacInvite, cb: UacCallbacks): void {
    const u: UacState = {
      inv, cb, fromTag: inv.fromTag ?? sofiaTag(), branch: inv.branch ?? `z9hG4bK${sofiaTag(13)}`,
      cseq: inv.cseq ?? 1 + Math.floor(Math.random() * 100_000_000),
      final: undefined, toWithTag: inv.toHeader, remoteTarget: inv.uri, ack: undefined, timer: undefined, up: false,
    };
    this.uac.set(inv.callId, u);
    const hdrs: HeaderList = [
      ['Via', `SIP/2.0/UDP ${this.host}:${this.port};rport;branch=${u.branch}`],
      ['Max-Forwards', String(inv.maxForwards ?? 70)],
      ['From', `${inv.from};tag=${u.fromTag}`],
      ['To', inv.toHeader],
      ['Call-ID', inv.callId],
      ['CSeq', `${u.cseq} INVITE`],
      ['Contact', `<sip:${inv.contactUser}@${this.host}:${this.port};transport=udp>`],
      ...SOFIA_TAIL.filter(([k]) => k !== 'Accept'),
      ['Content-Type', 'application/sdp'],
      ['Content-Disposition', 'session'],
      ...inv.extra,
    ];
    const id = `${inv.callId}|${u.cseq} INVITE`;
    this.sendUntilAnswered(serialize(`INVITE ${inv.uri} SIP/2.0`, hdrs, inv.sdp), inv.to, id);
    u.timer = setTimeout(() => {
      if (u.final !== undefined) return;
      u.final = 408;
      this.outstanding.delete(id);
      this.uac.delete(inv.callId);
      cb.failed(408, 'Request Timeout');
    }, inv.timeoutMs).unref();
  }

  /** BYE in a dialog we created with sendInvite(). */
  sendUacBye(callId: string, reason: string): void {
    const u = this.uac.get(callId);
    if (!u?.up) return;
    this.uac.delete(callId);
    u.cseq++;
    const hdrs: HeaderList = [
      ['Via', `SIP/2.0/UDP ${this.host}:${this.port};rport;branch=z9hG4bK${sofiaTag(13)}`],
      ['Max-Forwards', '70'],
      ['From', `${u.inv.from};tag=${u.fromTag}`],
      ['To', u.toWithTag],
      ['Call-ID', callId],
      ['CSeq', `${u.cseq} BYE`],
      ...SOFIA_TAIL.filter(([k]) => k !== 'Accept' && k !== 'Allow-Events'),
      ['Reason', reason],
    ];
    this.sendUntilAnswered(serialize(`BYE ${u.remoteTarget} SIP/2.0`, hdrs), u.inv.to, `${callId}|${u.cseq} BYE`);
  }

  /** CANCEL for our INVITE still without a final response (uuid_kill of a leg that is ringing). */
  cancelUac(callId: string): void {
    const u = this.uac.get(callId);
    if (!u || u.final !== undefined) return;
    clearTimeout(u.timer);
    this.outstanding.delete(`${callId}|${u.cseq} INVITE`);
    const hdrs: HeaderList = [
      ['Via', `SIP/2.0/UDP ${this.host}:${this.port};rport;branch=${u.branch}`],
      ['Max-Forwards', '70'],
      ['From', `${u.inv.from};tag=${u.fromTag}`],
      ['To', u.inv.toHeader],
      ['Call-ID', callId],
      ['CSeq', `${u.cseq} CANCEL`],
      ['Reason', 'Q.850;cause=16;text="NORMAL_CLEARING"'],
    ];
    this.sendUntilAnswered(serialize(`CANCEL ${u.inv.uri} SIP/2.0`, hdrs), u.inv.to, `${callId}|${u.cseq} CANCEL`);
  }

  /** Forgets an outbound dialog without a BYE (kill). */
  dropUac(callId: string): void {
    const u = this.uac.get(callId);
    if (u) clearTimeout(u.timer);
    this.uac.delete(callId);
  }

  private uacResponse(msg: SipMessage, u: UacState): void {
    const [, method] = parseCSeq(msg);
    if (method !== 'INVITE') return;
    if (msg.status < 200) return;
    if (u.ack) return this.send(u.ack, u.inv.to); // a retransmitted final response
    clearTimeout(u.timer);
    u.final = msg.status;
    u.toWithTag = header(msg, 'To') ?? u.inv.toHeader;
    const ok = msg.status < 300;
    if (ok) u.remoteTarget = parseNameAddr(header(msg, 'Contact') ?? '').uri || u.inv.uri;
    u.ack = serialize(`ACK ${ok ? u.remoteTarget : u.inv.uri} SIP/2.0`, [
      ['Via', `SIP/2.0/UDP ${this.host}:${this.port};rport;branch=${ok ? `z9hG4bK${sofiaTag(13)}` : u.branch}`],
      ['Max-Forwards', '70'],
      ['From', `${u.inv.from};tag=${u.fromTag}`],
      ['To', u.toWithTag],
      ['Call-ID', u.inv.callId],
      ['CSeq', `${u.cseq} ACK`],
    ]);
    this.send(u.ack, u.inv.to);
    if (ok) {
      u.up = true;
      u.cb.answered(msg);
    } else {
      // Keep the state a while so retransmissions of the final response are ACKed again.
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (this.uac.get(u.inv.callId) === u) this.uac.delete(u.inv.callId);
      }, TIMER_H).unref();
      this.timers.add(t);
      u.cb.failed(msg.status, msg.reason);
    }
  }

  private receive(data: Buffer, rinfo: RemoteInfo): void {
    const msg = parseSip(data);
    if (!msg) return;
    const source = { address: rinfo.address, port: rinfo.port };
    if (msg.status !== 0) {
      this.outstanding.delete(`${header(msg, 'Call-ID') ?? ''}|${(header(msg, 'CSeq') ?? '').trim()}`);
      const u = this.uac.get(header(msg, 'Call-ID') ?? '');
      if (u) this.uacResponse(msg, u);
      return;
    }
    if (!this.handler.accepts(msg)) return;
    this.prune();
    const callId = header(msg, 'Call-ID') ?? '';
    const branch = parseVia(headers(msg, 'Via')[0] ?? '').params.get('branch') ?? '';
    const key = `${callId}|${branch}`;
    switch (msg.method) {
      case 'INVITE':
        return this.invite(msg, source, key);
      case 'ACK':
        return this.ack(msg, key);
      case 'CANCEL':
        return this.cancel(msg, source, key);
      default:
        return this.nonInvite(msg, source, `${key}|${msg.method}`);
    }
  }

  private invite(msg: SipMessage, source: Peer, key: string): void {
    const existing = this.txs.get(key);
    if (existing) {
      if (existing.last) this.send(existing.last, source);
      return;
    }
    const callId = header(msg, 'Call-ID') ?? '';
    const tx: TxState = {
      request: msg, source, callId, toTag: sofiaTag(), final: undefined, last: undefined, createdAt: Date.now(), dialog: undefined,
      trying: () => {
        if (tx.final !== undefined) return;
        tx.last = this.response(msg, source, 100, 'Trying', { tail: [['User-Agent', SOFIA_USER_AGENT]] });
        this.send(tx.last, source);
      },
      answer: (sdp, contactUser) => {
        if (tx.final !== undefined) return;
        tx.final = 200;
        tx.dialog = { cseq: 0, routeSet: headers(msg, 'Record-Route'), remoteTarget: parseNameAddr(header(msg, 'Contact') ?? '').uri || msg.uri };
        this.dialogs.set(callId, tx);
        tx.last = this.response(msg, source, 200, 'OK', {
          toTag: tx.toTag,
          recordRoute: true,
          head: [['Contact', `<sip:${contactUser}@${this.host}:${this.port};transport=udp>`]],
          tail: [...SOFIA_TAIL, ['Content-Type', 'application/sdp'], ['Content-Disposition', 'session']],
          body: sdp,
        });
        this.retransmit(tx, () => this.handler.ackTimeout(callId));
      },
      reject: (status, reason, extra = []) => {
        if (tx.final !== undefined) return;
        tx.final = status;
        tx.last = this.response(msg, source, status, reason, { toTag: tx.toTag, tail: [...extra, ...SOFIA_TAIL] });
        this.retransmit(tx, () => undefined);
      },
    };
    this.txs.set(key, tx);
    this.handler.invite(tx);
  }

  /** Sends the final response now and again on Timer G until the ACK stops it (or Timer H fires). */
  private retransmit(tx: TxState, onTimeout: () => void): void {
    const data = tx.last;
    if (!data) return;
    this.send(data, tx.source);
    let interval = T1;
    let elapsed = 0;
    const tick = () => {
      this.timers.delete(timer);
      if (tx.last !== data || this.acked.has(tx)) return;
      elapsed += interval;
      if (elapsed >= TIMER_H) return onTimeout();
      this.send(data, tx.source);
      interval = Math.min(interval * 2, T2);
      timer = setTimeout(tick, interval).unref();
      this.timers.add(timer);
    };
    let timer = setTimeout(tick, interval).unref();
    this.timers.add(timer);
  }

  private ack(msg: SipMessage, key: string): void {
    const callId = header(msg, 'Call-ID') ?? '';
    const tx = this.txs.get(key) ?? this.dialogs.get(callId);
    if (!tx || this.acked.has(tx)) return;
    this.acked.add(tx);
    if (tx.final === 200) this.handler.ack(callId, msg);
  }

  private cancel(msg: SipMessage, source: Peer, key: string): void {
    const tx = this.txs.get(key);
    const reply = this.response(msg, source, tx ? 200 : 481, tx ? 'OK' : 'Call/Transaction Does Not Exist', {
      toTag: tx?.toTag,
      tail: SOFIA_TAIL,
    });
    this.send(reply, source);
    if (tx && tx.final === undefined) this.handler.cancel(tx);
  }

  private nonInvite(msg: SipMessage, source: Peer, key: string): void {
    const cached = this.replies.get(key);
    if (cached) return this.send(cached.data, source);
    let reply: Buffer;
    const callId = header(msg, 'Call-ID') ?? '';
    const mine = this.uac.get(callId);
    if (msg.method === 'BYE' && mine?.up) {
      this.uac.delete(callId);
      reply = this.response(msg, source, 200, 'OK', { tail: SOFIA_TAIL.filter(([k]) => k !== 'Accept' && k !== 'Allow-Events') });
      mine.cb.bye();
    } else if (msg.method === 'BYE') {
      const known = this.dialogs.has(callId) && this.handler.bye(callId, msg);
      this.dialogs.delete(callId);
      reply = known
        ? this.response(msg, source, 200, 'OK', { tail: SOFIA_TAIL.filter(([k]) => k !== 'Accept' && k !== 'Allow-Events') })
        : this.response(msg, source, 481, 'Call Does Not Exist', { toTag: sofiaTag(), tail: SOFIA_TAIL });
    } else if (msg.method === 'OPTIONS') {
      const r = this.handler.options(msg);
      reply = this.response(msg, source, r.status, r.reason, {
        toTag: sofiaTag(),
        head: r.status === 200 ? [['Contact', `<sip:${this.host}:${this.port}>`]] : [],
        tail: [...(r.extra ?? []), ...SOFIA_TAIL],
      });
    } else {
      reply = this.response(msg, source, 405, 'Method Not Allowed', { toTag: sofiaTag(), tail: SOFIA_TAIL });
    }
    this.replies.set(key, { at: Date.now(), data: reply });
    this.send(reply, source);
  }

  private response(
    req: SipMessage,
    source: Peer,
    status: number,
    reason: string,
    o: { toTag?: string | undefined; recordRoute?: boolean; head?: HeaderList; tail?: HeaderList; body?: string },
  ): Buffer {
    const vias = headers(req, 'Via');
    const to = header(req, 'To') ?? '';
    const hdrs: HeaderList = [
      ...vias.map((v, i): [string, string] => ['Via', i === 0 ? receivedVia(v, source) : v]),
      ...(o.recordRoute ? headers(req, 'Record-Route').map((r): [string, string] => ['Record-Route', r]) : []),
      ['From', header(req, 'From') ?? ''],
      ['To', o.toTag !== undefined && !/;\s*tag=/i.test(to) ? `${to};tag=${o.toTag}` : to],
      ['Call-ID', header(req, 'Call-ID') ?? ''],
      ['CSeq', header(req, 'CSeq') ?? ''],
      ...(o.head ?? []),
      ...(o.tail ?? []),
    ];
    return serialize(`SIP/2.0 ${status} ${reason}`, hdrs, o.body);
  }

  /** Our own requests (BYE): retransmit on Timer E until any response arrives, for at most 64*T1. */
  private sendUntilAnswered(data: Buffer, to: Peer, id: string): void {
    this.outstanding.add(id);
    this.send(data, to);
    let interval = T1;
    let elapsed = 0;
    const tick = () => {
      this.timers.delete(timer);
      elapsed += interval;
      if (!this.outstanding.has(id) || elapsed >= TIMER_H) return void this.outstanding.delete(id);
      this.send(data, to);
      interval = Math.min(interval * 2, T2);
      timer = setTimeout(tick, interval).unref();
      this.timers.add(timer);
    };
    let timer = setTimeout(tick, interval).unref();
    this.timers.add(timer);
  }

  private send(data: Buffer, to: Peer): void {
    if (!this.socket) return;
    this.inflight++;
    this.socket.send(data, to.port, to.address, () => this.inflight--);
  }

  /** Forget transactions and cached replies older than Timer H; no timer needed for this. */
  private prune(): void {
    const old = Date.now() - TIMER_H;
    for (const [k, r] of this.replies) if (r.at < old) this.replies.delete(k);
    for (const [k, tx] of this.txs) if (tx.createdAt < old && tx.final !== undefined) this.txs.delete(k);
  }
}

/** RFC 3581: fill `rport` with the source port, and add `received` when the sent-by host differs. */
function receivedVia(via: string, source: Peer): string {
  const v = parseVia(via);
  let out = via.replace(/;\s*rport(?=;|$)/i, `;rport=${source.port}`);
  if (v.host !== source.address && !v.params.has('received')) out += `;received=${source.address}`;
  return out;
}

/** Random UUID-free identifiers for SDP origin lines and media ports, as sofia would pick them. */
export function sdpAnswer(host: string, mediaPort: number): string {
  const id = Math.floor(Date.now() / 1000) - Math.floor(Math.random() * 20000);
  return [
    'v=0',
    `o=FreeSWITCH ${id} ${id + 1} IN IP4 ${host}`,
    's=FreeSWITCH',
    `c=IN IP4 ${host}`,
    't=0 0',
    `m=audio ${mediaPort} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

export function randomMediaPort(): number {
  return 16384 + 2 * (randomBytes(2).readUInt16BE(0) % 8192);
}

