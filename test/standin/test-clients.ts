/**
 * Minimal clients for tests: a raw ESL connection that records every frame, and a SIP UAC that
 * sends what SIPp's built-in `uac` scenario sends (so channel variables match the capture's).
 */
import { connect, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { EslFrameParser, contentType, parseEventFrame, type EslEvent, type EslFrame } from './esl-frames.js';
import { header, parseSip, type SipMessage } from './sip-message.js';

/** The first value `probe` gives that is not undefined, polled every 10 ms; throws after `timeoutMs`. */
export async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export class EslTestClient {
  readonly frames: EslFrame[] = [];
  readonly raw: Buffer[] = [];
  closed = false;
  private readonly parser = new EslFrameParser();
  private constructor(private readonly socket: Socket) {
    socket.on('data', (d) => {
      this.raw.push(d);
      this.frames.push(...this.parser.push(d));
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static async open(port: number): Promise<EslTestClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new EslTestClient(socket);
    await c.next('auth/request');
    return c;
  }

  /** Opens, authenticates and (optionally) subscribes. */
  static async ready(port: number, password: string, subscribe?: string): Promise<EslTestClient> {
    const c = await EslTestClient.open(port);
    await c.command(`auth ${password}`);
    if (subscribe) await c.command(subscribe);
    return c;
  }

  get pending(): number {
    return this.parser.pending;
  }

  send(text: string): void {
    this.socket.write(`${text}\n\n`);
  }

  /** Sends a command and waits for the next frame of the expected type after the current ones. */
  async command(text: string, type = 'command/reply', timeoutMs = 3000): Promise<EslFrame> {
    const from = this.frames.length;
    this.send(text);
    return this.next(type, from, timeoutMs);
  }

  async next(type: string, from = 0, timeoutMs = 3000): Promise<EslFrame> {
    return until(type, () => this.frames.slice(from).find((f) => contentType(f) === type), timeoutMs);
  }

  events(): EslEvent[] {
    return this.frames.map(parseEventFrame).filter((e): e is EslEvent => e !== undefined);
  }

  /** First event matching `pred` among the events from index `from` on. */
  async waitForEvent(pred: (e: EslEvent) => boolean, what: string, timeoutMs = 5000, from = 0): Promise<EslEvent> {
    return until(what, () => this.events().slice(from).find(pred), timeoutMs);
  }

  async waitClosed(timeoutMs = 3000): Promise<void> {
    await until('socket close', () => (this.closed ? true : undefined), timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** What a TCP connection to a loopback port meets now: a listener, or a refusal (nothing bound). */
export async function tcpConnectOutcome(port: number): Promise<'accepted' | 'refused'> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('accepted');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? resolve('refused') : reject(err)));
  });
}

/**
 * Sends one OPTIONS from a connected UDP socket. `refused`: the kernel answered with ICMP port
 * unreachable (nothing is bound there), `answered`: a SIP response came, `silent`: neither within
 * `waitMs` (bound but not answering).
 */
export async function udpProbe(port: number, waitMs = 1000): Promise<'answered' | 'refused' | 'silent'> {
  const sock = createSocket('udp4');
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve('silent'), waitMs);
      const done = (r: 'answered' | 'refused') => {
        clearTimeout(timer);
        resolve(r);
      };
      sock.on('error', (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED' && done('refused'));
      sock.on('message', () => done('answered'));
      sock.connect(port, '127.0.0.1', () => {
        const local = sock.address().port;
        const msg = [
          `OPTIONS sip:127.0.0.1:${port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-probe-${Date.now()}`,
          `From: <sip:probe@127.0.0.1:${local}>;tag=probe`, `To: <sip:127.0.0.1:${port}>`, `Call-ID: probe-${local}@127.0.0.1`,
          'CSeq: 1 OPTIONS', 'Max-Forwards: 70', 'Content-Length: 0', '', '',
        ].join('\r\n');
        sock.send(msg);
      });
    });
  } finally {
    sock.close();
  }
}

let uacCounter = 0;

/** One SIPp-like call leg over UDP; every message received is kept. */
export class SipTestUac {
  readonly received: SipMessage[] = [];
  readonly callId: string;
  private readonly n: number;
  private cseq = 1;
  private toHeader = '';
  private constructor(private readonly sock: UdpSocket, readonly port: number, private readonly target: number, readonly dest: string) {
    this.n = process.pid * 100 + ++uacCounter;
    this.callId = `1-${this.n}@127.0.0.1`;
    sock.on('message', (d) => {
      const m = parseSip(d);
      if (m) this.received.push(m);
    });
  }

  static async open(targetPort: number, dest = '9000'): Promise<SipTestUac> {
    const sock = createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    return new SipTestUac(sock, sock.address().port, targetPort, dest);
  }

  private get from(): string {
    return `sipp <sip:sipp@127.0.0.1:${this.port}>;tag=${this.n}SIPpTag001`;
  }
  private via(branch: string): string {
    return `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK-${this.n}-1-${branch}`;
  }

  private send(lines: string[], body = ''): void {
    const text = `${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    this.sock.send(Buffer.from(text), this.target, '127.0.0.1');
  }

  /** The INVITE SIPp's uac scenario sends with `-s <dest>` (sip-invite-while-paused-inbound.txt). */
  invite(extra: string[] = []): void {
    const sdp = 'v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 16000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
    this.send([
      `INVITE sip:${this.dest}@127.0.0.1:${this.target} SIP/2.0`,
      this.via('0'),
      `From: ${this.from}`,
      `To: ${this.dest} <sip:${this.dest}@127.0.0.1:${this.target}>`,
      `Call-ID: ${this.callId}`,
      'CSeq: 1 INVITE',
      `Contact: sip:sipp@127.0.0.1:${this.port}`,
      'Max-Forwards: 70',
      'Subject: Performance Test',
      ...extra,
      'Content-Type: application/sdp',
    ], sdp);
  }

  /** Requests the stand-in sent us (BYE). */
  async request(method: string, timeoutMs = 3000): Promise<SipMessage> {
    return until(method, () => this.received.find((m) => m.method === method), timeoutMs);
  }

  /** Waits for a response to `method` with the given status. */
  async response(status: number, method = 'INVITE', timeoutMs = 3000): Promise<SipMessage> {
    return until(`${status} to ${method}`, () => this.received.find((m) => m.status === status && (header(m, 'CSeq') ?? '').endsWith(method)), timeoutMs);
  }

  ack(): void {
    const final = [...this.received].reverse().find((m) => m.status >= 200 && (header(m, 'CSeq') ?? '').endsWith('INVITE'));
    this.toHeader = final ? (header(final, 'To') ?? '') : '';
    // ACK for a 2xx is a new transaction (new branch); for a non-2xx it reuses the INVITE's.
    this.send([
      `ACK sip:${this.dest}@127.0.0.1:${this.target} SIP/2.0`,
      this.via(final && final.status < 300 ? '5' : '0'),
      `From: ${this.from}`,
      `To: ${this.toHeader}`,
      `Call-ID: ${this.callId}`,
      'CSeq: 1 ACK',
      `Contact: sip:sipp@127.0.0.1:${this.port}`,
      'Max-Forwards: 70',
      'Subject: Performance Test',
    ]);
  }

  bye(): void {
    this.cseq++;
    this.send([
      `BYE sip:${this.dest}@127.0.0.1:${this.target} SIP/2.0`,
      this.via('7'),
      `From: ${this.from}`,
      `To: ${this.toHeader}`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${this.cseq} BYE`,
      `Contact: sip:sipp@127.0.0.1:${this.port}`,
      'Max-Forwards: 70',
      'Subject: Performance Test',
    ]);
  }

  cancel(): void {
    this.send([
      `CANCEL sip:${this.dest}@127.0.0.1:${this.target} SIP/2.0`,
      this.via('0'),
      `From: ${this.from}`,
      `To: ${this.dest} <sip:${this.dest}@127.0.0.1:${this.target}>`,
      `Call-ID: ${this.callId}`,
      'CSeq: 1 CANCEL',
      'Max-Forwards: 70',
    ]);
  }

  options(): void {
    this.send([
      `OPTIONS sip:127.0.0.1:${this.target} SIP/2.0`,
      this.via('9'),
      `From: ${this.from}`,
      `To: <sip:127.0.0.1:${this.target}>`,
      `Call-ID: ${this.callId}`,
      'CSeq: 1 OPTIONS',
      'Max-Forwards: 70',
    ]);
  }

  /** Answers a BYE from the stand-in with 200 OK. */
  answerBye(bye: SipMessage): void {
    const lines = ['SIP/2.0 200 OK', ...bye.headers.filter(([k]) => ['Via', 'From', 'To', 'Call-ID', 'CSeq'].includes(k)).map(([k, v]) => `${k}: ${v}`)];
    this.send(lines);
  }

  close(): void {
    this.sock.close();
  }
}
