import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { EslFrameReader, EslProtocolError, readMessage, type EslEvent, type EslMessage } from './esl-frames.js';

/**
 * A FreeSWITCH Event Socket client, inbound mode, holding one connection at a time:
 * connect, `auth`, then ONE `event json <names...>` per connection; commands only while that
 * connection is up. Nothing is queued across a disconnect: a command asked while disconnected
 * fails at once, and every command waiting when the socket closes fails at that moment, so a
 * caller learns of a dead FreeSWITCH from the socket, not from a timeout, and nothing it asked
 * during an outage is replayed after the reconnect.
 *
 * Correlation follows mod_event_socket: each command gets exactly one reply frame, in order
 * (command/reply, or api/response for `api`); a `bgapi` reply carries the Job-UUID we chose,
 * and its output comes later as a BACKGROUND_JOB event with that Job-UUID, so several bgapi
 * commands can be in flight and finish in any order.
 */

export class EslError extends Error {
  override readonly name: string = 'EslError';
}
/** Asked while no connection is up (or before the first one). */
export class EslNotConnectedError extends EslError {
  override readonly name = 'EslNotConnectedError';
}
/** No answer within the caller's timeout; the connection stays up. */
export class EslTimeoutError extends EslError {
  override readonly name = 'EslTimeoutError';
}
/** The connection ended while the command waited. */
export class EslDisconnectedError extends EslError {
  override readonly name = 'EslDisconnectedError';
}
/** FreeSWITCH refused the command itself (a `-ERR` command/reply). */
export class EslCommandError extends EslError {
  override readonly name = 'EslCommandError';
}
/** Too many commands unanswered on this connection: FreeSWITCH is not reading them. */
export class EslBusyError extends EslError {
  override readonly name = 'EslBusyError';
}

export type EslDisconnectCause =
  /** TCP connect refused or unreachable. */
  | 'connect-failed'
  /** No auth/request, auth reply or subscription reply within the handshake timeout. */
  | 'handshake-timeout'
  /** `-ERR invalid` to `auth`: wrong password. */
  | 'auth-refused'
  /** text/rude-rejection: the event socket ACL refuses this client. */
  | 'rejected'
  | 'subscribe-refused'
  /** FreeSWITCH said goodbye (shutdown, or after exit). */
  | 'disconnect-notice'
  /** The socket closed without a goodbye (kill -9, network). */
  | 'closed'
  /** Bytes that are not ESL: the stream is out of step. */
  | 'protocol-error'
  | 'client-closed';

export type EslConnectionState =
  /** `connection` counts connections that got this far, from 1. */
  | { readonly connected: true; readonly connection: number }
  /** A connection ended, or an attempt failed before it was up (`wasConnected` false). */
  | {
      readonly connected: false;
      readonly connection: number;
      readonly cause: EslDisconnectCause;
      readonly detail: string;
      readonly wasConnected: boolean;
    };

export interface EslClientOptions {
  readonly host: string;
  readonly port: number;
  readonly password: string;
  /** Event names for the one `event json` command; BACKGROUND_JOB is added for bgapi. */
  readonly events: readonly string[];
  /**
   * CUSTOM subclasses (`conference::maintenance`), subscribed as `CUSTOM <subclass>...` at the
   * end of the same command: FreeSWITCH reads every word after CUSTOM as a subclass.
   */
  readonly subclasses?: readonly string[];
  /** Bound on one attempt: TCP connect, auth/request, auth and subscription replies. */
  readonly handshakeTimeoutMs: number;
  /** Reconnect delay: doubles from min to max per failed attempt, reset by a good connection. */
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  /** Commands waiting for a reply, beyond which new ones fail at once (EslBusyError). */
  readonly maxUnanswered?: number;
  readonly random?: () => number;
  readonly onEvent: (event: EslEvent) => void;
  readonly onState: (state: EslConnectionState) => void;
  readonly logger?: Logger;
}

/**
 * Delay before reconnect attempt `attempt` (0 for the first after a loss): quick after a blip
 * or a FreeSWITCH restart, capped so a long outage costs one refused connect per `maxMs`;
 * jitter (from `random` in [0, 1)) keeps a fleet from reconnecting in step. Never above maxMs.
 */
export function reconnectDelayMs(attempt: number, random: number, minMs: number, maxMs: number): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.min(maxMs, Math.round(base * (0.8 + 0.4 * random)));
}

type ReplyKind = 'command-reply' | 'api-response';
type Reply = Extract<EslMessage, { kind: ReplyKind }>;

/** One sent command's place in the reply order; settled once, by its reply or by an error. */
interface Waiter {
  readonly expects: ReplyKind;
  settle(reply: Reply | EslError): void;
}

type Phase = 'tcp' | 'greeting' | 'auth' | 'subscribe' | 'ready' | 'ended';

const EVENT_NAME = /^[A-Z][A-Z0-9_]*$/;
const SUBCLASS = /^[A-Za-z0-9_]+(?:::[A-Za-z0-9_]+)*$/;

export class EslClient {
  private session: Session | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private closed = false;
  private started = false;
  private connectionCount = 0;
  readonly subscription: string;
  /** Things that went wrong without ending anything; for logs and tests. */
  readonly stats = { lateJobs: 0, unreadableEvents: 0, listenerErrors: 0 };

  constructor(readonly opts: EslClientOptions) {
    const names = [...new Set([...opts.events.filter((n) => n !== 'CUSTOM'), 'BACKGROUND_JOB'])];
    for (const name of names) if (!EVENT_NAME.test(name)) throw new TypeError(`not an event name: ${JSON.stringify(name)}`);
    const subclasses = [...new Set(opts.subclasses ?? [])];
    for (const sub of subclasses) if (!SUBCLASS.test(sub)) throw new TypeError(`not an event subclass: ${JSON.stringify(sub)}`);
    if (/[\r\n]/.test(opts.password)) throw new TypeError('the ESL password must be one line');
    this.subscription = `event json ${names.join(' ')}${subclasses.length > 0 ? ` CUSTOM ${subclasses.join(' ')}` : ''}`;
  }

  /** Starts connecting; reconnects by itself until close(). */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.connectNow();
  }

  get connected(): boolean {
    return this.session?.phase === 'ready';
  }

  /** Connections that reached `connected` so far. */
  get connections(): number {
    return this.connectionCount;
  }

  /** `api <command>`: the output as FreeSWITCH wrote it. Blocks FreeSWITCH's reader while it runs. */
  api(command: string, timeoutMs: number): Promise<string> {
    return this.request('api', command, timeoutMs);
  }

  /** `bgapi <command>` with our Job-UUID: runs in its own FreeSWITCH thread; the BACKGROUND_JOB body. */
  bgapi(command: string, timeoutMs: number): Promise<string> {
    return this.request('bgapi', command, timeoutMs);
  }

  /** For good: says `exit`, fails whatever waits, never reconnects. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.session?.end('client-closed', 'closed by the client');
  }

  private request(kind: 'api' | 'bgapi', command: string, timeoutMs: number): Promise<string> {
    // One line, or the rest would run as another command.
    if (/[\r\n]/.test(command)) return Promise.reject(new TypeError('an ESL command is one line'));
    const s = this.session;
    if (!s || s.phase !== 'ready') {
      return Promise.reject(new EslNotConnectedError(`not connected to FreeSWITCH at ${this.opts.host}:${this.opts.port}`));
    }
    const limit = this.opts.maxUnanswered ?? 64;
    if (s.unanswered() >= limit) return Promise.reject(new EslBusyError(`${limit} commands unanswered on this connection`));
    return new Promise<string>((resolve, reject) => {
      let done = false;
      let jobUuid: string | undefined;
      const finish = (result: string | Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (jobUuid !== undefined) s.jobs.delete(jobUuid);
        if (typeof result === 'string') resolve(result);
        else reject(result);
      };
      const timer = setTimeout(() => finish(new EslTimeoutError(`${kind} ${command}: no answer within ${timeoutMs} ms`)), timeoutMs);
      if (kind === 'api') {
        // A late api/response still takes this place in the reply order; finish() ignores it.
        s.send(`api ${command}\n\n`, { expects: 'api-response', settle: (r) => finish(r instanceof EslError ? r : r.kind === 'api-response' ? r.output : '') });
        return;
      }
      const ours = randomUUID();
      jobUuid = ours;
      s.jobs.set(ours, finish);
      s.send(`bgapi ${command}\nJob-UUID: ${ours}\n\n`, {
        expects: 'command-reply',
        settle: (r) => {
          if (r instanceof EslError) return finish(r);
          if (r.kind !== 'command-reply') return; // the reader checked the kind against `expects`
          const reply = r;
          if (!reply.replyText.startsWith('+OK')) return finish(new EslCommandError(`bgapi ${command}: ${reply.replyText}`));
          // A FreeSWITCH that ignored our Job-UUID names its own; the result will carry that one.
          if (!done && reply.jobUuid !== undefined && reply.jobUuid !== ours) {
            s.jobs.delete(ours);
            jobUuid = reply.jobUuid;
            s.jobs.set(reply.jobUuid, finish);
          }
        },
      });
    });
  }

  private connectNow(): void {
    this.reconnectTimer = undefined;
    if (this.closed) return;
    this.session = new Session(this, connect({ host: this.opts.host, port: this.opts.port }));
  }

  /** @internal */
  sessionReady(): void {
    this.connectionCount += 1;
    this.attempt = 0;
    this.opts.logger?.debug({ connection: this.connectionCount }, 'event socket connected');
    this.notify({ connected: true, connection: this.connectionCount });
  }

  /** @internal */
  sessionEnded(s: Session, cause: EslDisconnectCause, detail: string, wasConnected: boolean): void {
    if (this.session !== s) return;
    this.session = undefined;
    this.opts.logger?.debug({ cause, detail, wasConnected }, 'event socket connection ended');
    this.notify({ connected: false, connection: this.connectionCount, cause, detail, wasConnected });
    if (this.closed) return;
    const delay = reconnectDelayMs(this.attempt, (this.opts.random ?? Math.random)(), this.opts.reconnectMinMs ?? 100, this.opts.reconnectMaxMs ?? 2000);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => this.connectNow(), delay);
  }

  /** @internal */
  deliver(event: EslEvent): void {
    this.guarded(() => this.opts.onEvent(event));
  }

  private notify(state: EslConnectionState): void {
    this.guarded(() => this.opts.onState(state));
  }

  /** A listener's bug must not tear down the socket handling that called it. */
  private guarded(call: () => void): void {
    try {
      call();
    } catch (err) {
      this.stats.listenerErrors += 1;
      this.opts.logger?.error({ err }, 'event socket listener threw');
    }
  }
}

/** One TCP connection: its handshake, its reply order and its bgapi jobs; all end with it. */
class Session {
  phase: Phase = 'tcp';
  readonly jobs = new Map<string, (result: string | Error) => void>();
  private readonly waiters: Waiter[] = [];
  private readonly reader = new EslFrameReader();
  private readonly handshakeTimer: NodeJS.Timeout;
  private lastError: string | undefined;

  constructor(
    private readonly client: EslClient,
    private readonly socket: Socket,
  ) {
    const { handshakeTimeoutMs } = client.opts;
    this.handshakeTimer = setTimeout(() => this.end('handshake-timeout', `not ready within ${handshakeTimeoutMs} ms (at ${this.phase})`), handshakeTimeoutMs);
    socket.setNoDelay(true);
    // Idle sockets to a vanished host are eventually noticed even between commands.
    socket.setKeepAlive(true, 10_000);
    socket.on('connect', () => {
      if (this.phase === 'tcp') this.phase = 'greeting';
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.lastError = err.message;
    });
    socket.on('close', () => {
      if (this.phase === 'tcp') this.end('connect-failed', this.lastError ?? 'connection refused');
      else this.end('closed', this.lastError ?? `socket closed${this.phase === 'ready' ? '' : ` during ${this.phase}`}`);
    });
  }

  unanswered(): number {
    return this.waiters.length;
  }

  send(text: string, waiter: Waiter): void {
    this.waiters.push(waiter);
    this.socket.write(text);
  }

  /** Ends this connection once; everything still waiting on it fails now. */
  end(cause: EslDisconnectCause, detail: string): void {
    if (this.phase === 'ended') return;
    const wasConnected = this.phase === 'ready';
    this.phase = 'ended';
    clearTimeout(this.handshakeTimer);
    if (cause === 'client-closed' && wasConnected) {
      this.socket.end('exit\n\n');
      setTimeout(() => this.socket.destroy(), 1000).unref();
    } else {
      this.socket.destroy();
    }
    const error = new EslDisconnectedError(`event socket ${cause}: ${detail}`);
    for (const w of this.waiters.splice(0)) w.settle(error);
    for (const finish of [...this.jobs.values()]) finish(error);
    this.jobs.clear();
    this.client.sessionEnded(this, cause, detail, wasConnected);
  }

  private onData(chunk: Buffer): void {
    let frames;
    try {
      frames = this.reader.push(chunk);
    } catch (err) {
      if (!(err instanceof EslProtocolError)) throw err;
      return this.end('protocol-error', err.message);
    }
    for (const frame of frames) {
      if (this.phase === 'ended') return;
      this.onMessage(readMessage(frame));
    }
  }

  private onMessage(msg: EslMessage): void {
    switch (msg.kind) {
      case 'auth-request':
        if (this.phase !== 'greeting') return this.end('protocol-error', `auth/request during ${this.phase}`);
        this.phase = 'auth';
        return this.handshake(`auth ${this.client.opts.password}`, 'auth-refused', () => {
          this.phase = 'subscribe';
          this.handshake(this.client.subscription, 'subscribe-refused', () => {
            this.phase = 'ready';
            clearTimeout(this.handshakeTimer);
            this.client.sessionReady();
          });
        });
      case 'command-reply':
      case 'api-response': {
        const waiter = this.waiters.shift();
        if (!waiter) return this.end('protocol-error', `${msg.kind} with no command waiting`);
        if (waiter.expects !== msg.kind) return this.end('protocol-error', `${msg.kind} where ${waiter.expects} was due`);
        return waiter.settle(msg);
      }
      case 'event': {
        const job = msg.event.name === 'BACKGROUND_JOB' ? msg.event.headers['Job-UUID'] : undefined;
        if (typeof job === 'string') {
          const finish = this.jobs.get(job);
          if (finish) return finish(msg.event.body ?? '');
          // Either a job that timed out or someone else's; ours are never forwarded.
          if (!this.client.opts.events.includes('BACKGROUND_JOB')) {
            this.client.stats.lateJobs += 1;
            return;
          }
        }
        if (this.phase === 'ready') this.client.deliver(msg.event);
        return;
      }
      case 'unreadable-event':
        this.client.stats.unreadableEvents += 1;
        this.client.opts.logger?.warn({ detail: msg.detail }, 'unreadable event dropped');
        return;
      case 'disconnect-notice':
        return this.end('disconnect-notice', msg.text.trim());
      case 'rude-rejection':
        return this.end('rejected', msg.text.trim());
      case 'other':
        return;
    }
  }

  /** A handshake command: its reply must be +OK, or the attempt ends with `refused`. */
  private handshake(command: string, refused: EslDisconnectCause, next: () => void): void {
    this.send(`${command}\n\n`, {
      expects: 'command-reply',
      settle: (r) => {
        if (r instanceof EslError || r.kind !== 'command-reply') return;
        if (r.replyText.startsWith('+OK')) next();
        else this.end(refused, r.replyText);
      },
    });
  }
}
