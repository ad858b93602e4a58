import { createServer, type Server, type Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { HeaderList } from './esl-frames.js';
import {
  AUTH_REQUEST, GOODBYE, apiResponseFrame, commandReplyFrame, disconnectNoticeFrame, eventFrame, type EventFormat,
} from './esl-encode.js';
import type { EventBus, FiredEvent } from './events.js';
import { systemTemplates } from './templates.js';

/** Runs an api command; undefined means "no such command". */
export type ApiRunner = (cmd: string, arg: string | undefined) => string | Promise<string> | undefined;

interface Command {
  line: string;
  headers: HeaderList;
}

/** switch_event.c's EVENT_NAMES[] plus ALL (the list esl-lite 3.2.0 carried, which mirrors it). */
const EVENT_NAMES: ReadonlySet<string> = new Set<string>([
  'CUSTOM', 'CLONE', 'CHANNEL_CREATE', 'CHANNEL_DESTROY', 'CHANNEL_STATE', 'CHANNEL_CALLSTATE',
  'CHANNEL_ANSWER', 'CHANNEL_HANGUP', 'CHANNEL_HANGUP_COMPLETE', 'CHANNEL_EXECUTE',
  'CHANNEL_EXECUTE_COMPLETE', 'CHANNEL_HOLD', 'CHANNEL_UNHOLD', 'CHANNEL_BRIDGE',
  'CHANNEL_UNBRIDGE', 'CHANNEL_PROGRESS', 'CHANNEL_PROGRESS_MEDIA', 'CHANNEL_OUTGOING',
  'CHANNEL_PARK', 'CHANNEL_UNPARK', 'CHANNEL_APPLICATION', 'CHANNEL_ORIGINATE', 'CHANNEL_UUID',
  'API', 'LOG', 'INBOUND_CHAN', 'OUTBOUND_CHAN', 'STARTUP', 'SHUTDOWN', 'PUBLISH', 'UNPUBLISH',
  'TALK', 'NOTALK', 'SESSION_CRASH', 'MODULE_LOAD', 'MODULE_UNLOAD', 'DTMF', 'MESSAGE',
  'PRESENCE_IN', 'NOTIFY_IN', 'PRESENCE_OUT', 'PRESENCE_PROBE', 'MESSAGE_WAITING', 'MESSAGE_QUERY',
  'ROSTER', 'CODEC', 'BACKGROUND_JOB', 'DETECTED_SPEECH', 'DETECTED_TONE', 'PRIVATE_COMMAND',
  'HEARTBEAT', 'TRAP', 'ADD_SCHEDULE', 'DEL_SCHEDULE', 'EXE_SCHEDULE', 'RE_SCHEDULE', 'RELOADXML',
  'NOTIFY', 'PHONE_FEATURE', 'PHONE_FEATURE_SUBSCRIBE', 'SEND_MESSAGE', 'RECV_MESSAGE',
  'REQUEST_PARAMS', 'CHANNEL_DATA', 'GENERAL', 'COMMAND', 'SESSION_HEARTBEAT',
  'CLIENT_DISCONNECTED', 'SERVER_DISCONNECTED', 'SEND_INFO', 'RECV_INFO', 'RECV_RTCP_MESSAGE',
  'SEND_RTCP_MESSAGE', 'CALL_SECURE', 'NAT', 'RECORD_START', 'RECORD_STOP', 'PLAYBACK_START',
  'PLAYBACK_STOP', 'CALL_UPDATE', 'FAILURE', 'SOCKET_DATA', 'MEDIA_BUG_START', 'MEDIA_BUG_STOP',
  'CONFERENCE_DATA_QUERY', 'CONFERENCE_DATA', 'CALL_SETUP_REQ', 'CALL_SETUP_RESULT', 'CALL_DETAIL',
  'DEVICE_STATE', 'TEXT', 'SHUTDOWN_REQUESTED', 'ALL',
]);

const LOG_LEVELS: Record<string, number> = {
  console: 0, alert: 1, crit: 2, err: 3, error: 3, warning: 4, notice: 5, info: 6, debug: 7,
};

/** One inbound Event Socket connection, following mod_event_socket's parse_command(). */
class Listener {
  private buf = Buffer.alloc(0);
  private authed = false;
  private format: EventFormat = 'plain';
  private events = false;
  private readonly names = new Set<string>();
  private readonly subclasses = new Set<string>();
  private logging = false;
  private closed = false;
  /** A command still running (synchronous `conference … dial`): later commands wait, as in mod_event_socket. */
  private busy = false;
  private readonly queue: Command[] = [];
  private readonly unsubscribe: () => void;

  constructor(
    private readonly server: EslServer,
    readonly socket: Socket,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (d) => this.onData(d));
    socket.on('error', () => undefined);
    socket.on('close', () => this.dispose());
    this.unsubscribe = server.bus.subscribe((ev) => this.deliver(ev));
    socket.write(AUTH_REQUEST);
  }

  /** The server said goodbye: notice (if any), then the socket is closed once that is flushed. */
  disconnect(notice: string | undefined): void {
    if (this.closed) return;
    if (notice !== undefined) this.socket.write(disconnectNoticeFrame(notice));
    this.dispose();
    this.socket.end(() => this.socket.destroy());
  }

  destroy(): void {
    this.dispose();
    this.socket.destroy();
  }

  private dispose(): void {
    this.closed = true;
    this.unsubscribe();
    this.server.forget(this);
  }

  private deliver(ev: FiredEvent): void {
    if (this.closed || !this.events || !this.wants(ev)) return;
    this.socket.write(eventFrame(this.format, ev.headers, ev.body));
  }

  private wants(ev: FiredEvent): boolean {
    if (this.names.has('ALL')) return true;
    if (!this.names.has(ev.name)) return false;
    return ev.name !== 'CUSTOM' || ev.subclass === undefined || this.subclasses.has(ev.subclass);
  }

  /** read_packet(): lines up to an empty line (CRs ignored), then Content-Length bytes of body. */
  private onData(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    while (!this.closed) {
      while (this.buf.length > 0 && (this.buf[0] === 0x0a || this.buf[0] === 0x0d)) this.buf = this.buf.subarray(1);
      const text = this.buf.toString('latin1');
      const m = /\r?\n\r?\n/.exec(text);
      if (!m) return;
      const lines = text.slice(0, m.index).split(/\r?\n/);
      const headers: HeaderList = [];
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers.push([l.slice(0, i), l.slice(i + 1).trimStart()]);
      }
      const len = Number(headers.find(([k]) => k.toLowerCase() === 'content-length')?.[1] ?? 0);
      const end = m.index + m[0].length;
      if (this.buf.length < end + len) return;
      this.buf = this.buf.subarray(end + len);
      this.queue.push({ line: Buffer.from(lines[0] ?? '', 'latin1').toString('utf8'), headers });
      this.drain();
    }
  }

  private drain(): void {
    while (!this.busy && !this.closed && this.queue.length > 0) {
      const next = this.command(this.queue.shift()!);
      if (next instanceof Promise) {
        this.busy = true;
        void next.finally(() => {
          this.busy = false;
          this.drain();
        });
      }
    }
  }

  private reply(text: string, extra?: HeaderList): void {
    this.socket.write(commandReplyFrame(text, extra));
  }

  private command(cmd: Command): void | Promise<void> {
    const line = cmd.line.trim();
    const lower = line.toLowerCase();
    if (lower.startsWith('exit') || lower.startsWith('...')) {
      this.reply('+OK bye');
      return this.disconnect(GOODBYE);
    }
    if (!this.authed) {
      if (!lower.startsWith('auth ')) return this.reply('-ERR command not found');
      if (line.slice(5) !== this.server.password) {
        this.reply('-ERR invalid');
        return this.disconnect(GOODBYE);
      }
      this.authed = true;
      return this.reply('+OK accepted');
    }
    if (lower.startsWith('api ')) return this.api(line.slice(4));
    if (lower.startsWith('bgapi ')) return this.bgapi(line.slice(6), cmd.headers);
    if (lower.startsWith('event')) return this.reply(this.event(line));
    if (lower.startsWith('nixevent')) return this.reply(this.nixevent(line));
    if (lower.startsWith('noevents')) return this.reply(this.noevents());
    if (lower.startsWith('nolog')) {
      const was = this.logging;
      this.logging = false;
      return this.reply(was ? '+OK no longer logging' : '-ERR not loging');
    }
    if (lower.startsWith('log')) return this.reply(this.log(line));
    if (lower.startsWith('sendmsg')) return this.reply(this.server.sendmsg(line.slice(7).trim(), cmd.headers));
    this.reply('-ERR command not found');
  }

  private split(line: string): [string, string | undefined] {
    const i = line.indexOf(' ');
    return i < 0 ? [line, undefined] : [line.slice(0, i), line.slice(i + 1)];
  }

  /** api_exec(): the output verbatim, `-ERR no reply` when empty; the API event is queued after it. */
  private api(text: string): void | Promise<void> {
    const [cmd, arg] = this.split(text);
    const out = this.server.run(cmd, arg);
    const write = (o: string) => {
      if (this.closed) return;
      this.socket.write(apiResponseFrame(o === '' ? '-ERR no reply\n' : o));
      this.server.apiEvent(cmd, arg);
    };
    if (typeof out === 'string') return write(out);
    return out.then(write);
  }

  private bgapi(text: string, headers: HeaderList): void {
    const [cmd, arg] = this.split(text);
    const job = headers.find(([k]) => k.toLowerCase() === 'job-uuid')?.[1] ?? randomUUID();
    this.reply(`+OK Job-UUID: ${job}`, [['Job-UUID', job]]);
    setImmediate(() => {
      if (!this.server.running) return;
      const result = this.server.run(cmd, arg);
      const finish = (out: string) => {
        if (!this.server.running) return;
        this.server.apiEvent(cmd, arg);
        const hdrs: HeaderList = [['Job-UUID', job], ['Job-Command', cmd]];
        if (arg !== undefined) hdrs.push(['Job-Command-Arg', arg]);
        this.server.bus.fire('BACKGROUND_JOB', systemTemplates().backgroundJob, hdrs, { body: out === '' ? 'Command returned no output!' : out });
      };
      if (typeof result === 'string') finish(result);
      else void result.then(finish);
    });
  }

  private event(line: string): string {
    const words = line.split(' ').slice(1).filter((w) => w !== '');
    let custom = false;
    let keys = 0;
    words.forEach((w, i) => {
      const lw = w.toLowerCase();
      if (i === 0 && (lw === 'plain' || lw === 'json' || lw === 'xml')) {
        this.format = lw === 'json' ? 'json' : 'plain';
        return;
      }
      if (custom) return void this.subclasses.add(w);
      const name = w.toUpperCase();
      if (!EVENT_NAMES.has(name)) return;
      keys++;
      this.names.add(name);
      if (name === 'CUSTOM') custom = true;
    });
    if (keys === 0) return '-ERR no keywords supplied';
    this.events = true;
    return `+OK event listener enabled ${this.format}`;
  }

  private nixevent(line: string): string {
    let custom = false;
    let keys = 0;
    for (const w of line.split(' ').slice(1).filter((x) => x !== '')) {
      if (custom) {
        this.subclasses.delete(w);
        continue;
      }
      const name = w.toUpperCase();
      if (!EVENT_NAMES.has(name)) continue;
      keys++;
      if (name === 'CUSTOM') custom = true;
      else if (name === 'ALL') this.names.clear();
      else {
        // Dropping one name out of ALL turns ALL into "every name but this one".
        if (this.names.delete('ALL')) for (const n of EVENT_NAMES) if (n !== 'ALL') this.names.add(n);
        this.names.delete(name);
      }
    }
    if (keys === 0) return '-ERR no keywords supplied';
    this.events = true;
    return '+OK events nixed';
  }

  private noevents(): string {
    if (!this.events) return '-ERR not listening for events';
    this.events = false;
    this.names.clear();
    this.subclasses.clear();
    return '+OK no longer listening for events';
  }

  /** `log [level]`: no log lines are ever produced, but the level is accepted as FreeSWITCH does. */
  private log(line: string): string {
    const arg = line.slice(3).trim();
    const level = arg === '' ? 7 : /^\d+$/.test(arg) ? Number(arg) : LOG_LEVELS[arg.toLowerCase()];
    if (level === undefined || level > 7) return '-ERR invalid log level';
    this.logging = true;
    return `+OK log level ${arg} [${level}]`;
  }
}

export interface EslServerOptions {
  bus: EventBus;
  password: string;
  api: ApiRunner;
  sendmsg: (uuid: string, headers: HeaderList) => string;
}

/** mod_event_socket in inbound mode on 127.0.0.1. */
export class EslServer {
  readonly bus: EventBus;
  readonly password: string;
  running = true;
  private server: Server | undefined;
  private readonly listeners = new Set<Listener>();

  constructor(private readonly opts: EslServerOptions) {
    this.bus = opts.bus;
    this.password = opts.password;
  }

  async listen(port: number): Promise<number> {
    const server = createServer((socket) => this.listeners.add(new Listener(this, socket)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const addr = server.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  run(cmd: string, arg: string | undefined): string | Promise<string> {
    return this.opts.api(cmd, arg) ?? `-ERR ${cmd} Command not found!\n`;
  }

  /** switch_api_execute() fires an API event for every command, known or not. */
  apiEvent(cmd: string, arg: string | undefined): void {
    const hdrs: HeaderList = [['API-Command', cmd]];
    if (arg !== undefined) hdrs.push(['API-Command-Argument', arg]);
    this.bus.fire('API', systemTemplates().api, hdrs);
  }

  sendmsg(uuid: string, headers: HeaderList): string {
    return this.opts.sendmsg(uuid, headers);
  }

  forget(l: Listener): void {
    this.listeners.delete(l);
  }

  get connections(): number {
    return this.listeners.size;
  }

  /** Graceful: each connection gets `notice` (if any) and is closed; the port is released. */
  async close(notice?: string): Promise<void> {
    this.running = false;
    for (const l of [...this.listeners]) l.disconnect(notice);
    await this.stopListening();
  }

  /** Abrupt: sockets reset, nothing written. */
  async destroy(): Promise<void> {
    this.running = false;
    for (const l of [...this.listeners]) l.destroy();
    await this.stopListening();
  }

  private async stopListening(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
