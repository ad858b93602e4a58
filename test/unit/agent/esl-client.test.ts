import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  EslBusyError,
  EslClient,
  EslCommandError,
  EslDisconnectedError,
  EslNotConnectedError,
  EslTimeoutError,
  reconnectDelayMs,
  type EslClientOptions,
  type EslConnectionState,
} from '../../../src/agent/esl-client.js';
import type { EslEvent } from '../../../src/agent/esl-frames.js';
import { captureBytes, captureFrames } from './captures.js';

/**
 * The ESL client against a scripted server on loopback that answers with real capture bytes
 * where a capture has them. The server records every command block it received, per
 * connection, so tests assert exactly what went over the wire.
 */

const AUTH_REQUEST = 'Content-Type: auth/request\n\n';
const reply = (text: string, extra = ''): string => `Content-Type: command/reply\nReply-Text: ${text}\n${extra}\n`;
const apiResponse = (output: string): string => `Content-Type: api/response\nContent-Length: ${Buffer.byteLength(output)}\n\n${output}`;
function jsonEvent(headers: Record<string, string>, body?: string): string {
  const obj: Record<string, string> = { ...headers };
  if (body !== undefined) Object.assign(obj, { 'Content-Length': String(Buffer.byteLength(body)), _body: body });
  const payload = JSON.stringify(obj);
  return `Content-Length: ${Buffer.byteLength(payload)}\nContent-Type: text/event-json\n\n${payload}`;
}
const backgroundJob = (jobUuid: string, output: string) => jsonEvent({ 'Event-Name': 'BACKGROUND_JOB', 'Job-UUID': jobUuid }, output);

/** Answers auth and the subscription with +OK, like FreeSWITCH; `onCommand` handles the rest. */
type Script = (command: string, socket: Socket, connection: number) => void;

class ScriptedEsl {
  readonly received: string[][] = [];
  readonly sockets: Socket[] = [];
  private constructor(
    readonly server: Server,
    readonly port: number,
  ) {}

  static async start(script: Script, greet: (socket: Socket, connection: number) => void = (s) => s.write(AUTH_REQUEST)): Promise<ScriptedEsl> {
    const box: { self?: ScriptedEsl } = {};
    const server = createServer((socket) => {
      const self = box.self;
      if (!self) return;
      const connection = self.received.length;
      const commands: string[] = [];
      self.received.push(commands);
      self.sockets.push(socket);
      socket.on('error', () => undefined);
      let buf = '';
      socket.on('data', (d) => {
        buf += d.toString('utf8');
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const command = buf.slice(0, end);
          buf = buf.slice(end + 2);
          commands.push(command);
          script(command, socket, connection);
        }
      });
      greet(socket, connection);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    box.self = new ScriptedEsl(server, typeof addr === 'object' && addr ? addr.port : 0);
    return box.self;
  }

  /** kill -9: every socket reset, nothing written. */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  close(): Promise<void> {
    this.dropAll();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** FreeSWITCH's answers to the handshake; everything else goes to `rest`. */
function freeswitch(rest: Script = () => undefined): Script {
  return (command, socket, connection) => {
    if (command.startsWith('auth ')) socket.write(reply('+OK accepted'));
    else if (command.startsWith('event ')) socket.write(reply('+OK event listener enabled json'));
    else rest(command, socket, connection);
  };
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function client(server: ScriptedEsl, opts: Partial<EslClientOptions> = {}) {
  const states: EslConnectionState[] = [];
  const events: EslEvent[] = [];
  const c = new EslClient({
    host: '127.0.0.1',
    port: server.port,
    password: 'ClueCon',
    events: ['CHANNEL_CREATE', 'HEARTBEAT'],
    handshakeTimeoutMs: 2000,
    reconnectMinMs: 20,
    reconnectMaxMs: 50,
    onEvent: (e) => events.push(e),
    onState: (s) => states.push(s),
    ...opts,
  });
  cleanups.push(() => c.close());
  c.start();
  return { c, states, events };
}

async function scripted(script: Script, greet?: (socket: Socket, connection: number) => void): Promise<ScriptedEsl> {
  const s = await ScriptedEsl.start(script, greet);
  cleanups.push(() => s.close());
  return s;
}

const waitFor = <T>(check: () => T) => vi.waitFor(check, { timeout: 3000, interval: 5 });
/** Settles a promise into a value so a test can look at a rejection without a floating promise. */
const settle = <T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

describe('reconnectDelayMs', () => {
  it('doubles from the minimum per failed attempt and never exceeds the cap, jitter included', () => {
    expect([0, 1, 2, 3, 4, 5].map((a) => reconnectDelayMs(a, 0.5, 100, 2000))).toEqual([100, 200, 400, 800, 1600, 2000]);
    expect(reconnectDelayMs(40, 0.999, 100, 2000)).toBe(2000);
    expect(reconnectDelayMs(0, 0, 100, 2000)).toBe(80);
  });
});

describe('EslClient: connecting', () => {
  it('sends auth, then ONE `event json` naming every event and BACKGROUND_JOB, then reports connected', async () => {
    const server = await scripted(freeswitch());
    const { c, states } = client(server);
    await waitFor(() => expect(states).toEqual([{ connected: true, connection: 1 }]));
    expect(c.connected).toBe(true);
    expect(server.received).toEqual([['auth ClueCon', 'event json CHANNEL_CREATE HEARTBEAT BACKGROUND_JOB']]);
  });

  it('CUSTOM subclasses go last, after BACKGROUND_JOB: FreeSWITCH reads every word after CUSTOM as a subclass', () => {
    const opts = { host: '127.0.0.1', port: 1, password: 'x', handshakeTimeoutMs: 10, onEvent: () => undefined, onState: () => undefined };
    expect(new EslClient({ ...opts, events: ['API', 'CUSTOM'], subclasses: ['conference::maintenance'] }).subscription).toBe(
      'event json API BACKGROUND_JOB CUSTOM conference::maintenance',
    );
    expect(new EslClient({ ...opts, events: ['API'] }).subscription).toBe('event json API BACKGROUND_JOB');
    expect(() => new EslClient({ ...opts, events: ['API'], subclasses: ['conference::maintenance BACKGROUND_JOB'] })).toThrow(TypeError);
  });

  it('auth-failure.esl replayed: auth-refused with the real reply text, no subscription, and a later retry', async () => {
    const frames = captureBytes('auth-failure');
    const first = frames.indexOf('\n\n') + 2;
    const server = await scripted(
      (command, socket) => {
        if (command.startsWith('auth ')) socket.end(frames.subarray(first));
      },
      (socket) => socket.write(frames.subarray(0, first)),
    );
    const { c, states } = client(server, { password: 'WrongPassword' });
    await waitFor(() => expect(server.received.length).toBeGreaterThanOrEqual(2));
    expect(states[0]).toEqual({ connected: false, connection: 0, cause: 'auth-refused', detail: '-ERR invalid', wasConnected: false });
    expect(server.received[0]).toEqual(['auth WrongPassword']);
    expect(c.connected).toBe(false);
    await expect(c.bgapi('status', 60_000)).rejects.toBeInstanceOf(EslNotConnectedError);
  });

  it('a port that refuses: connect-failed, and retries until it answers', async () => {
    const server = await scripted(freeswitch());
    const port = server.port;
    await server.close();
    const { states } = client({ port } as ScriptedEsl);
    await waitFor(() => expect(states.length).toBeGreaterThanOrEqual(2));
    expect(states.every((s) => !s.connected && s.cause === 'connect-failed')).toBe(true);
  });

  it('no auth/request in time: handshake-timeout, and nothing was sent', async () => {
    const server = await scripted(freeswitch(), () => undefined);
    const { states } = client(server, { handshakeTimeoutMs: 50 });
    await waitFor(() => expect(states[0]).toMatchObject({ connected: false, cause: 'handshake-timeout', wasConnected: false }));
    expect(server.received[0]).toEqual([]);
  });

  it('an ACL refusal (text/rude-rejection): rejected, with its text', async () => {
    const text = 'Access Denied, go away.\n';
    const server = await scripted(freeswitch(), (s) => s.end(`Content-Type: text/rude-rejection\nContent-Length: ${text.length}\n\n${text}`));
    const { states } = client(server);
    await waitFor(() => expect(states[0]).toMatchObject({ connected: false, cause: 'rejected', detail: 'Access Denied, go away.' }));
  });
});

describe('EslClient: commands', () => {
  it('bgapi sends our Job-UUID and matches each BACKGROUND_JOB to its command, whatever the order they finish in', async () => {
    const jobs: Array<[string, Socket]> = [];
    const server = await scripted(
      freeswitch((command, socket) => {
        const job = /\nJob-UUID: (\S+)$/.exec(command)?.[1] ?? '';
        socket.write(reply(`+OK Job-UUID: ${job}`, `Job-UUID: ${job}\n`));
        jobs.push([command, socket]);
        if (jobs.length === 3) for (const [cmd, s] of [...jobs].reverse()) s.write(backgroundJob(/\nJob-UUID: (\S+)$/.exec(cmd)?.[1] ?? '', `out of ${cmd.split('\n')[0]}`));
      }),
    );
    const { c, states, events } = client(server);
    await waitFor(() => expect(states).toHaveLength(1));
    const outputs = await Promise.all(['status', 'hostname', 'global_getvar core_uuid'].map((cmd) => c.bgapi(cmd, 2000)));
    expect(outputs).toEqual(['out of bgapi status', 'out of bgapi hostname', 'out of bgapi global_getvar core_uuid']);
    const sent = server.received[0]?.slice(2) ?? [];
    expect(sent.map((b) => b.replace(/[0-9a-f-]{36}$/, '<uuid>'))).toEqual([
      'bgapi status\nJob-UUID: <uuid>',
      'bgapi hostname\nJob-UUID: <uuid>',
      'bgapi global_getvar core_uuid\nJob-UUID: <uuid>',
    ]);
    expect(new Set(sent.map((b) => b.slice(-36))).size).toBe(3);
    // Our own BACKGROUND_JOBs are results, not events for the listener.
    expect(events).toEqual([]);
  });

  it('a FreeSWITCH that ignores our Job-UUID: the one its reply names is followed', async () => {
    const theirs = '2255d2b0-754a-4c75-9867-6586e0ea821c';
    const server = await scripted(
      freeswitch((_command, socket) => socket.write(reply(`+OK Job-UUID: ${theirs}`, `Job-UUID: ${theirs}\n`) + backgroundJob(theirs, '+OK done\n'))),
    );
    const { c, states } = client(server);
    await waitFor(() => expect(states).toHaveLength(1));
    expect(await c.bgapi('originate x', 2000)).toBe('+OK done\n');
  });

  it('a refused bgapi (-ERR command/reply) rejects with EslCommandError', async () => {
    const server = await scripted(freeswitch((_c, socket) => socket.write(reply('-ERR no reply'))));
    const { c, states } = client(server);
    await waitFor(() => expect(states).toHaveLength(1));
    await expect(c.bgapi('x', 2000)).rejects.toBeInstanceOf(EslCommandError);
  });

  it('api replies come back in order; a timed-out one keeps its place, so its late reply never reaches the next command', async () => {
    const held: Socket[] = [];
    const server = await scripted(
      freeswitch((command, socket) => {
        if (command === 'api slow') held.push(socket);
        else {
          for (const s of held.splice(0)) s.write(apiResponse('slow output'));
          socket.write(apiResponse(`output of ${command}`));
        }
      }),
    );
    const { c, states } = client(server);
    await waitFor(() => expect(states).toHaveLength(1));
    await expect(c.api('slow', 30)).rejects.toBeInstanceOf(EslTimeoutError);
    expect(await c.api('hostname', 2000)).toBe('output of api hostname');
    expect(c.connected).toBe(true);
  });

  it('events other than BACKGROUND_JOB reach the listener, decoded', async () => {
    const server = await scripted(freeswitch());
    const { states, events } = client(server);
    await waitFor(() => expect(states).toHaveLength(1));
    server.sockets[0]?.write(jsonEvent({ 'Event-Name': 'HEARTBEAT', 'Core-UUID': 'abc', 'Session-Count': '2' }));
    await waitFor(() => expect(events).toHaveLength(1));
    expect(events[0]).toEqual({ name: 'HEARTBEAT', headers: { 'Event-Name': 'HEARTBEAT', 'Core-UUID': 'abc', 'Session-Count': '2' }, body: undefined });
  });

  it('too many unanswered commands: the next fails at once with EslBusyError', async () => {
    const server = await scripted(freeswitch());
    const { c, states } = client(server, { maxUnanswered: 2 });
    await waitFor(() => expect(states).toHaveLength(1));
    const pending = [settle(c.api('a', 60_000)), settle(c.api('b', 60_000))];
    await expect(c.api('c', 60_000)).rejects.toBeInstanceOf(EslBusyError);
    c.close();
    expect((await Promise.all(pending)).map((r) => !r.ok && r.error instanceof EslDisconnectedError)).toEqual([true, true]);
  });

  it('refuses a command of more than one line (it would run as two)', async () => {
    const server = await scripted(freeswitch());
    const { c, states } = client(server);
    await waitFor(() => expect(states).toHaveLength(1));
    await expect(c.api('status\n\nexit', 2000)).rejects.toBeInstanceOf(TypeError);
  });
});

describe('EslClient: losing the connection', () => {
  it('kill -9 (kill-b-api.esl: the stream stops after a whole frame): pending commands fail at once, not at their 60 s timeout', async () => {
    const frames = captureFrames('kill-b-api');
    expect(frames.at(-1)?.headers.get('Content-Type')).toBe('api/response');
    const server = await scripted(freeswitch());
    const { c, states } = client(server);
    await waitFor(() => expect(states).toHaveLength(1));
    const waiting = [settle(c.bgapi('conference 3000 json_list', 60_000)), settle(c.api('status', 60_000))];
    await waitFor(() => expect(server.received[0]).toHaveLength(4));
    server.dropAll();
    const results = await Promise.all(waiting);
    expect(results.map((r) => !r.ok && r.error instanceof EslDisconnectedError)).toEqual([true, true]);
    expect(states[1]).toMatchObject({ connected: false, connection: 1, cause: 'closed', wasConnected: true });
  });

  it('while disconnected every command fails at once; after the reconnect nothing asked during the outage is sent', async () => {
    let accept = true;
    const server = await scripted(freeswitch((command, socket) => socket.write(apiResponse(`output of ${command}`))), (socket) => {
      if (accept) socket.write(AUTH_REQUEST);
    });
    const { c, states } = client(server, { reconnectMinMs: 200, reconnectMaxMs: 200 });
    await waitFor(() => expect(states).toHaveLength(1));
    accept = false;
    server.dropAll();
    await waitFor(() => expect(c.connected).toBe(false));
    for (const cmd of ['a', 'b', 'c']) await expect(c.api(cmd, 60_000)).rejects.toBeInstanceOf(EslNotConnectedError);
    accept = true;
    await waitFor(() => expect(states.filter((s) => s.connected)).toHaveLength(2));
    expect(await c.api('after', 2000)).toBe('output of api after');
    const last = server.received.at(-1);
    expect(last).toEqual(['auth ClueCon', 'event json CHANNEL_CREATE HEARTBEAT BACKGROUND_JOB', 'api after']);
    expect(states.at(-1)).toEqual({ connected: true, connection: 2 });
  });

  it('api-shutdown.esl replayed: the shutdown notice ends the connection with its text', async () => {
    const bytes = captureBytes('api-shutdown');
    const notice = bytes.lastIndexOf('Content-Type: text/disconnect-notice');
    const server = await scripted(freeswitch((_c, socket) => socket.write(bytes.subarray(notice))));
    const { c, states } = client(server);
    await waitFor(() => expect(states).toHaveLength(1));
    const r = await settle(c.api('fsctl shutdown', 60_000));
    expect(!r.ok && r.error instanceof EslDisconnectedError).toBe(true);
    expect(states[1]).toEqual({ connected: false, connection: 1, cause: 'disconnect-notice', detail: 'The system is being shut down.', wasConnected: true });
  });

  it('bytes that are not ESL: protocol-error, and a fresh connection', async () => {
    const server = await scripted(freeswitch((_c, socket) => socket.write('Content-Type: api/response\nContent-Length: many\n\n')));
    const { c, states } = client(server);
    await waitFor(() => expect(states).toHaveLength(1));
    await expect(c.api('x', 60_000)).rejects.toBeInstanceOf(EslDisconnectedError);
    expect(states[1]).toMatchObject({ connected: false, cause: 'protocol-error' });
    await waitFor(() => expect(states.at(-1)).toEqual({ connected: true, connection: 2 }));
  });

  it('close(): says exit, fails what waits, and never reconnects', async () => {
    const server = await scripted(freeswitch());
    const { c, states } = client(server);
    await waitFor(() => expect(states).toHaveLength(1));
    const waiting = settle(c.api('status', 60_000));
    c.close();
    const r = await waiting;
    expect(!r.ok && r.error instanceof EslDisconnectedError).toBe(true);
    await waitFor(() => expect(server.received[0]?.at(-1)).toBe('exit'));
    await new Promise((r2) => setTimeout(r2, 100));
    expect(server.received).toHaveLength(1);
    expect(states.at(-1)).toMatchObject({ connected: false, cause: 'client-closed' });
  });
});
