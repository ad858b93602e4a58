import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAgent, type Agent, type AgentSettings } from '../../../src/agent/agent.js';
import type { ApiReply, FreeSwitchLink, LinkState } from '../../../src/agent/esl.js';
import type { EventHeaders } from '../../../src/agent/fs-events.js';
import type { AgentBus } from '../../../src/agent/nats.js';
import { apiOutput, capturedLiveStatus, MAIN_CORE_UUID, plainEvents, RESTARTED_CORE_UUID } from './captures.js';

/**
 * The agent shell against in-memory fakes of its two edges: a FreeSWITCH link that answers
 * with the real captured outputs and behaves like the project's ESL client (a closed socket
 * is reported at once, commands fail at once while disconnected, a stalled FreeSWITCH lets
 * them time out), and a bus that records what was published.
 */
class FakeFreeSwitch implements FreeSwitchLink {
  coreUuid = MAIN_CORE_UUID;
  up = true;
  stalled = false;
  closed = false;
  inboundPaused = false;
  profile: 'running' | 'stopped' = 'running';
  profileOutput = apiOutput('api-replies', 'sofia status profile internal');
  connectionCount = 1;
  /** What `conference json_list` answers: no conference. */
  jsonList = '[]\n';
  /** Answers to further commands, by exact command line. */
  readonly answers = new Map<string, ApiReply>();
  readonly asked: Array<[string, number]> = [];
  private eventListeners: Array<(h: EventHeaders) => void> = [];
  private stateListeners: Array<(s: LinkState) => void> = [];
  private waiting = new Set<(r: ApiReply) => void>();

  api(command: string, timeoutMs: number): Promise<ApiReply> {
    this.asked.push([command, timeoutMs]);
    if (this.closed || !this.up) return Promise.resolve({ ok: false, answered: false, error: 'EslNotConnectedError: not connected' });
    if (!this.stalled) return Promise.resolve(this.answer(command));
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(settle);
        resolve({ ok: false, answered: false, error: 'EslTimeoutError: no answer', timedOut: true });
      }, timeoutMs);
      const settle = (r: ApiReply) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.waiting.add(settle);
    });
  }

  private answer(command: string): ApiReply {
    if (command === 'global_getvar core_uuid') return { ok: true, output: this.coreUuid };
    if (command === 'hostname') return { ok: true, output: apiOutput('api-replies', 'hostname') };
    if (command === 'sofia status profile internal') return { ok: true, output: this.profile === 'running' ? this.profileOutput : 'Invalid Profile!\n' };
    if (command === 'fsctl pause_check inbound') return { ok: true, output: apiOutput('api-replies', command, this.inboundPaused ? 0 : 1) };
    if (command === 'status') return { ok: true, output: apiOutput('api-replies', 'status') };
    if (command === 'version') return { ok: true, output: apiOutput('api-replies', 'version') };
    if (command === 'conference json_list') return { ok: true, output: this.jsonList };
    const scripted = this.answers.get(command);
    if (scripted) return scripted;
    return { ok: false, answered: true, error: `-ERR ${command} Command not found!` };
  }

  onEvent(listener: (h: EventHeaders) => void): void {
    this.eventListeners.push(listener);
  }
  onConnection(listener: (s: LinkState) => void): void {
    this.stateListeners.push(listener);
  }
  connected(): boolean {
    return this.up && !this.closed;
  }
  connections(): number {
    return this.connectionCount;
  }
  close(): void {
    this.closed = true;
    this.failWaiting();
  }

  /** kill -9: the socket closes; the client reports it and fails what waits, at once. */
  vanish(): void {
    this.up = false;
    this.failWaiting();
    this.tell({ connected: false, connection: this.connectionCount, cause: 'closed', detail: 'socket closed', wasConnected: true });
  }
  comeBack(coreUuid: string): void {
    this.coreUuid = coreUuid;
    this.up = true;
    this.connectionCount += 1;
    this.tell({ connected: true, connection: this.connectionCount });
  }
  emit(headers: EventHeaders): void {
    for (const l of this.eventListeners) l(headers);
  }
  apiEvent(command: string, argument: string): void {
    this.emit({ 'Event-Name': 'API', 'Core-UUID': this.coreUuid, 'API-Command': command, 'API-Command-Argument': argument });
  }
  askedSince(mark: number): string[] {
    return this.asked.slice(mark).map(([c]) => c);
  }
  private tell(s: LinkState): void {
    for (const l of this.stateListeners) l(s);
  }
  private failWaiting(): void {
    for (const w of this.waiting) w({ ok: false, answered: false, error: 'EslDisconnectedError: socket closed' });
    this.waiting.clear();
  }
}

interface Published {
  subject: string;
  kind: string;
  msg: { nodeId: string; seq: number; reason?: string; sessions?: number; blockers?: string[]; sipUri?: string; [k: string]: unknown };
}

class RecordingBus implements AgentBus {
  /** Membership messages (joined, heartbeat, left). */
  readonly published: Published[] = [];
  /** Conference messages (conference, rooms), apart: the membership tests do not see them. */
  readonly conferences: Published[] = [];
  /** Replies to requests (on `_INBOX.` subjects), apart from node messages. */
  readonly replies: Array<{ subject: string; body: Record<string, unknown> }> = [];
  /** Every subscribe, unsubscribe and publish, in order (conference messages apart, in `conferences`). */
  readonly log: string[] = [];
  flushes = 0;
  private handlers = new Map<string, (data: Uint8Array, reply: string | undefined) => void>();
  publish(subject: string, data: Uint8Array): void {
    const body = JSON.parse(new TextDecoder().decode(data)) as Published['msg'];
    if (/\.node\.[^.]+\.(conference|rooms)$/.test(subject)) {
      this.conferences.push({ subject, kind: subject.split('.').at(-1) ?? '', msg: body });
      return;
    }
    this.log.push(`pub ${subject}`);
    if (subject.startsWith('_INBOX.')) this.replies.push({ subject, body });
    else this.published.push({ subject, kind: subject.split('.').at(-1) ?? '', msg: body });
  }
  subscribe(subject: string, onMessage: (data: Uint8Array, reply: string | undefined) => void) {
    this.log.push(`sub ${subject}`);
    this.handlers.set(subject, onMessage);
    return {
      unsubscribe: () => {
        this.log.push(`unsub ${subject}`);
        this.handlers.delete(subject);
      },
    };
  }
  subscribed(): string[] {
    return [...this.handlers.keys()];
  }
  /** A request as NATS delivers it: the body and a reply subject; false when nobody listens there. */
  request(subject: string, body: unknown, replyTo: string): boolean {
    const handler = this.handlers.get(subject);
    handler?.(new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)), replyTo);
    return handler !== undefined;
  }
  flush(): Promise<boolean> {
    this.flushes += 1;
    return Promise.resolve(true);
  }
  deliver(subject: string, body: unknown): void {
    this.handlers.get(subject)?.(new TextEncoder().encode(JSON.stringify(body)), undefined);
  }
  kinds(): string[] {
    return this.published.map((p) => (p.msg.reason ? `${p.kind}:${p.msg.reason}` : p.kind));
  }
  count(kind: string): number {
    return this.kinds().filter((k) => k === kind).length;
  }
}

const PREFIX = 'unit.agent';
const REANNOUNCE = `${PREFIX}.control.reannounce`;
const base: AgentSettings = {
  natsPrefix: PREFIX,
  sipProfile: 'internal',
  sipUriOverride: undefined,
  heartbeatMs: 100,
  sessionRecheckMs: 60_000,
  eslTimeoutMs: 50,
};

let agents: Agent[] = [];
afterEach(async () => {
  await Promise.all(agents.map((a) => a.stop('test over')));
  agents = [];
});

function setup(overrides: Partial<AgentSettings> = {}, fs = new FakeFreeSwitch()) {
  const bus = new RecordingBus();
  const agent = createAgent({ ...base, ...overrides }, { openLink: () => fs, bus, logger: pino({ level: 'silent' }) });
  agents.push(agent);
  return { fs, bus, agent };
}

const waitFor = (check: () => void) => vi.waitFor(check, { timeout: 3000, interval: 10 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('agent shell: membership', () => {
  it('joins on start, then heartbeats with strictly rising seq, each saying it found no blockers', async () => {
    const { bus, agent } = setup();
    await agent.start();
    expect(bus.kinds()).toEqual(['joined:start']);
    expect(bus.published[0]?.subject).toBe(`${PREFIX}.node.${MAIN_CORE_UUID}.joined`);
    expect(bus.published[0]?.msg.blockers).toEqual([]);
    await waitFor(() => expect(bus.count('heartbeat')).toBeGreaterThanOrEqual(3));
    const seqs = bus.published.map((p) => p.msg.seq);
    expect(seqs.every((s, i) => i === 0 || s > (seqs[i - 1] ?? Infinity))).toBe(true);
    expect(bus.published.every((p) => Array.isArray(p.msg.blockers) && p.msg.blockers.length === 0)).toBe(true);
  });

  it('names its machine in every joined and heartbeat when SBC_MACHINE_ID is set, and nowhere when it is not', async () => {
    const named = setup({ machineId: 'rack4-fs2' });
    await named.agent.start();
    await waitFor(() => expect(named.bus.count('heartbeat')).toBeGreaterThanOrEqual(1));
    expect(named.bus.published.map((p) => p.msg.machineId)).toEqual(named.bus.published.map(() => 'rack4-fs2'));
    const unnamed = setup();
    await unnamed.agent.start();
    await waitFor(() => expect(unnamed.bus.count('heartbeat')).toBeGreaterThanOrEqual(1));
    expect(unnamed.bus.published.every((p) => !('machineId' in p.msg))).toBe(true);
  });

  it('sessions in heartbeats follow CHANNEL_CREATE and CHANNEL_DESTROY', async () => {
    const { fs, bus, agent } = setup();
    await agent.start();
    const channel = { 'Core-UUID': MAIN_CORE_UUID, 'Unique-ID': '7d3e7e8f-92af-4233-8e12-0f575d3d1431' };
    fs.emit({ ...channel, 'Event-Name': 'CHANNEL_CREATE' });
    await waitFor(() => expect(bus.published.at(-1)?.msg.sessions).toBe(1));
    fs.emit({ ...channel, 'Event-Name': 'CHANNEL_DESTROY' });
    await waitFor(() => expect(bus.published.at(-1)?.msg.sessions).toBe(0));
  });

  it('SHUTDOWN event: left (freeswitch-shutdown) at once', async () => {
    const { fs, bus, agent } = setup();
    await agent.start();
    fs.emit({ 'Event-Name': 'SHUTDOWN', 'Core-UUID': MAIN_CORE_UUID });
    expect(bus.kinds().at(-1)).toBe('left:freeswitch-shutdown');
    expect(agent.status().phase).toBe('unannounced');
  });

  it('stop: left (agent-stopping), flushed, Event Socket closed, nothing after', async () => {
    const { fs, bus, agent } = setup();
    await agent.start();
    await agent.stop('SIGTERM');
    expect(bus.kinds().at(-1)).toBe('left:agent-stopping');
    expect(bus.flushes).toBe(1);
    expect(fs.closed).toBe(true);
    const count = bus.published.length;
    await sleep(100);
    expect(bus.published.length).toBe(count);
  });

  it('FreeSWITCH unreachable at start: start() returns, nothing is published or asked until it connects', async () => {
    const fs = new FakeFreeSwitch();
    fs.up = false;
    fs.connectionCount = 0;
    const { bus, agent } = setup({}, fs);
    await agent.start();
    expect(bus.published).toEqual([]);
    await sleep(300);
    expect(fs.asked).toEqual([]);
    fs.comeBack(MAIN_CORE_UUID);
    await waitFor(() => expect(bus.kinds()[0]).toBe('joined:start'));
  });
});

describe('agent shell: a closed event socket', () => {
  // Commands would take a minute to time out: anything published within the test came from the socket.
  const slow = { eslTimeoutMs: 60_000, failedProbesBeforeLost: 5 };

  it('is left (esl-lost) in the same turn as the close, before any probe could time out, whatever the probe tolerance', async () => {
    const { fs, bus, agent } = setup(slow);
    await agent.start();
    fs.stalled = true; // a probe is waiting on the socket when it closes
    await waitFor(() => expect(fs.asked.at(-1)?.[0]).toBe('fsctl pause_check inbound'));
    fs.vanish();
    expect(bus.kinds()).toEqual(['joined:start', 'left:esl-lost']);
    expect(agent.status()).toMatchObject({ phase: 'unannounced', eslConnected: false });
  });

  it('while it is closed nothing is asked and nothing is published; back with the same Core-UUID: joined again', async () => {
    const { fs, bus, agent } = setup(slow);
    await agent.start();
    fs.vanish();
    const mark = fs.asked.length;
    const published = bus.published.length;
    await sleep(5 * base.heartbeatMs);
    expect(fs.askedSince(mark)).toEqual([]);
    expect(bus.published.length).toBe(published);
    fs.comeBack(MAIN_CORE_UUID);
    // The first three messages exactly; heartbeats may follow the rejoin (every 100 ms) before a
    // loaded machine gets to look.
    await waitFor(() => expect(bus.kinds().slice(0, 3)).toEqual(['joined:start', 'left:esl-lost', 'joined:start']));
    expect(bus.kinds().slice(3).every((k) => k === 'heartbeat')).toBe(true);
    expect(bus.published[2]?.msg.nodeId).toBe(MAIN_CORE_UUID);
    // The reconnect re-read the facts once: no command from the outage was replayed.
    expect(fs.askedSince(mark).filter((c) => c === 'hostname')).toEqual(['hostname']);
  });

  it('back with a new Core-UUID: joined for it, and no second left', async () => {
    const { fs, bus, agent } = setup(slow);
    await agent.start();
    fs.vanish();
    fs.comeBack(RESTARTED_CORE_UUID);
    await waitFor(() => expect(bus.published.some((p) => p.kind === 'joined' && p.msg.nodeId === RESTARTED_CORE_UUID)).toBe(true));
    expect(bus.kinds().filter((k) => k.startsWith('left'))).toEqual(['left:esl-lost']);
  });

  it('a FreeSWITCH that stalls with the socket open is lost only after SBC_PROBES_BEFORE_LOST failed probes', async () => {
    const { fs, bus, agent } = setup({ failedProbesBeforeLost: 2 });
    await agent.start();
    await waitFor(() => expect(bus.count('heartbeat')).toBeGreaterThanOrEqual(1));
    fs.stalled = true;
    const mark = fs.asked.length;
    await waitFor(() => expect(bus.kinds().at(-1)).toBe('left:esl-lost'));
    // Two probes of three commands each timed out before the node was given up.
    expect(fs.askedSince(mark).filter((c) => c === 'global_getvar core_uuid')).toHaveLength(2);
  });
});

describe('agent shell: readiness', () => {
  it('`fsctl pause inbound` anywhere: the API event makes the agent probe and publish the blocker at once, not at the next tick', async () => {
    // A minute between ticks: a heartbeat within the test can only come from the event probe.
    const { fs, bus, agent } = setup({ heartbeatMs: 60_000 });
    await agent.start();
    expect(bus.kinds()).toEqual(['joined:start']);
    fs.inboundPaused = true;
    fs.apiEvent('fsctl', 'pause inbound');
    await waitFor(() => expect(bus.published.at(-1)?.msg.blockers).toEqual(['inbound-paused']));
    expect(bus.kinds()).toEqual(['joined:start', 'heartbeat']);
    expect(agent.status().blockers).toEqual(['inbound-paused']);

    // The probe's own pause_check is not a readiness change; a resume that changes nothing adds nothing.
    const mark = fs.asked.length;
    fs.apiEvent('fsctl', 'pause_check inbound');
    await sleep(50);
    expect(fs.askedSince(mark)).toEqual([]);

    fs.inboundPaused = false;
    fs.apiEvent('fsctl', 'resume inbound');
    await waitFor(() => expect(bus.published.at(-1)?.msg.blockers).toEqual([]));
    fs.apiEvent('fsctl', 'resume inbound');
    await sleep(50);
    expect(bus.kinds()).toEqual(['joined:start', 'heartbeat', 'heartbeat']);
  });

  it('a stopped profile shows in the next heartbeat; back at another port, the node moves', async () => {
    const { fs, bus, agent } = setup();
    await agent.start();
    fs.profile = 'stopped';
    await waitFor(() => expect(bus.published.at(-1)?.msg).toMatchObject({ blockers: ['sip-profile-down'], sipUri: 'sip:127.0.0.1:5080' }));
    fs.profileOutput = fs.profileOutput.replaceAll('127.0.0.1:5080', '127.0.0.1:5090');
    fs.profile = 'running';
    fs.apiEvent('sofia', 'profile internal start');
    await waitFor(() => expect(bus.published.at(-1)?.msg).toMatchObject({ blockers: [], sipUri: 'sip:127.0.0.1:5090' }));
    expect(bus.kinds().filter((k) => k.startsWith('left'))).toEqual([]);
  });
});

describe('agent shell: reannounce', () => {
  it('a burst of 50 requests: one joined at once, one when the window ends, 48 counted and not answered', async () => {
    const { bus, agent } = setup({ reannounceMinIntervalMs: 300, heartbeatMs: 60_000 });
    await agent.start();
    for (let i = 0; i < 50; i++) bus.deliver(REANNOUNCE, { v: 1, requestedAt: i, requester: `cp-${i}` });
    expect(bus.kinds()).toEqual(['joined:start', 'joined:reannounce']);
    await waitFor(() => expect(bus.count('joined:reannounce')).toBe(2));
    await sleep(400);
    expect(bus.kinds()).toEqual(['joined:start', 'joined:reannounce', 'joined:reannounce']);
    expect(agent.status().ignoredReannounce).toBe(48);
  });

  it('an invalid request is counted and ignored', async () => {
    const { bus, agent } = setup();
    await agent.start();
    const count = bus.published.length;
    bus.deliver(REANNOUNCE, { v: 2, requester: 'unit' });
    expect(bus.published.length).toBe(count);
    expect(agent.status().invalidReannounce).toBe(1);
  });
});

describe('agent shell: FreeSWITCH load in node messages', () => {
  const SPS_ANSWER: ApiReply = { ok: true, output: '+OK sessions per second: 30\n' };
  const heartbeatOf = (capture: string) => plainEvents(capture).find((e) => e['Event-Name'] === 'HEARTBEAT')!;
  const rescheduleOf = (capture: string) => plainEvents(capture).find((e) => e['Event-Name'] === 'RE_SCHEDULE' && e['Task-Desc'] === 'heartbeat')!;
  const LOAD_FIELDS = ['idleCpuPercent', 'sessionsPerSecond', 'sessionsPerSecondLimit', 'heartbeatEventAt', 'heartbeatEventIntervalMs'];
  const loadIn = (p: Published | undefined) => Object.fromEntries(Object.entries(p?.msg ?? {}).filter(([k]) => LOAD_FIELDS.includes(k)));

  /** A logger whose warnings the test can read. */
  function warnings() {
    const lines: Array<{ msg: string; detail?: string }> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) });
    return { logger, lines };
  }

  it('joined carries the limit `fsctl sps` answered; the HEARTBEAT, once it came, goes into every heartbeat and reannounce', async () => {
    const fs = new FakeFreeSwitch();
    fs.answers.set('fsctl sps', SPS_ANSWER);
    const { bus, agent } = setup({ reannounceMinIntervalMs: 100 }, fs);
    await agent.start();
    expect(fs.asked).toContainEqual(['fsctl sps', base.eslTimeoutMs]);
    // Before any HEARTBEAT: the limit only, nothing else made up.
    expect(loadIn(bus.published[0])).toEqual({ sessionsPerSecondLimit: 30 });

    const before = Date.now();
    fs.emit(heartbeatOf('plain-events-calls')); // Idle-CPU 99.000000, Session-Per-Sec-Last 0
    fs.emit(rescheduleOf('plain-events-calls')); // heartbeat task 20 s ahead
    const after = Date.now();
    const mark = bus.published.length;
    await waitFor(() => expect(bus.published.length).toBeGreaterThan(mark));
    const beat = bus.published.at(-1)!;
    expect(beat.kind).toBe('heartbeat');
    const { heartbeatEventAt, ...rest } = loadIn(beat);
    expect(rest).toEqual({ idleCpuPercent: 99, sessionsPerSecond: 0, sessionsPerSecondLimit: 30, heartbeatEventIntervalMs: 20_000 });
    expect(heartbeatEventAt).toBeGreaterThanOrEqual(before);
    expect(heartbeatEventAt).toBeLessThanOrEqual(after);

    // A later HEARTBEAT replaces the earlier one's facts.
    fs.emit(plainEvents('plain-events-calls').filter((e) => e['Event-Name'] === 'HEARTBEAT')[1]!); // Idle-CPU 95.766667
    await waitFor(() => expect(bus.published.at(-1)?.msg.idleCpuPercent).toBe(95.766667));

    const asked = fs.asked.length;
    bus.deliver(REANNOUNCE, { v: 1, requestedAt: 1, requester: 'unit' });
    const reannounced = bus.published.find((p) => p.msg.reason === 'reannounce');
    expect(loadIn(reannounced)).toMatchObject({ idleCpuPercent: 95.766667, sessionsPerSecond: 0, sessionsPerSecondLimit: 30, heartbeatEventIntervalMs: 20_000 });
    // ...and the limit is read again, with the ESL timeout.
    expect(fs.asked.slice(asked)).toContainEqual(['fsctl sps', base.eslTimeoutMs]);
  });

  it('a HEARTBEAT that arrives before the node is announced goes out with its joined', async () => {
    const fs = new FakeFreeSwitch();
    fs.up = false;
    fs.connectionCount = 0;
    const { bus, agent } = setup({}, fs);
    await agent.start();
    fs.comeBack(MAIN_CORE_UUID);
    fs.emit(heartbeatOf('plain-events-calls')); // before discovery has read anything
    await waitFor(() => expect(bus.kinds()).toContain('joined:start'));
    expect(loadIn(bus.published[0])).toMatchObject({ idleCpuPercent: 99, sessionsPerSecond: 0 });
  });

  it('`fsctl sps` failing: the field is left out, the failure logged once; a later read that works adds it', async () => {
    const fs = new FakeFreeSwitch(); // answers `-ERR fsctl sps Command not found!`
    const { logger, lines } = warnings();
    const bus = new RecordingBus();
    const agent = createAgent({ ...base, reannounceMinIntervalMs: 50 }, { openLink: () => fs, bus, logger });
    agents.push(agent);
    await agent.start();
    expect(bus.published[0]?.kind).toBe('joined');
    expect(loadIn(bus.published[0])).toEqual({});
    bus.deliver(REANNOUNCE, { v: 1, requestedAt: 1, requester: 'unit' });
    await sleep(80);
    bus.deliver(REANNOUNCE, { v: 1, requestedAt: 2, requester: 'unit' });
    await waitFor(() => expect(fs.askedSince(0).filter((c) => c === 'fsctl sps')).toHaveLength(3));
    await sleep(20);
    const spsWarnings = lines.filter((l) => l.msg.startsWith('cannot read the sessions-per-second limit'));
    expect(spsWarnings).toHaveLength(1);
    expect(spsWarnings[0]?.detail).toBe('-ERR fsctl sps Command not found!');
    expect(bus.published.every((p) => !('sessionsPerSecondLimit' in p.msg))).toBe(true);

    fs.answers.set('fsctl sps', SPS_ANSWER);
    await sleep(80);
    bus.deliver(REANNOUNCE, { v: 1, requestedAt: 3, requester: 'unit' });
    await waitFor(() => expect(bus.published.at(-1)?.msg.sessionsPerSecondLimit).toBe(30));
    expect(bus.published.at(-1)?.kind).toBe('heartbeat');
  });
});

describe('agent shell: commands', () => {
  const cmd = (nodeId: string) => `${PREFIX}.cmd.${nodeId}`;
  const status = (over: Record<string, unknown> = {}) => ({ v: 1, id: 'q1', nodeId: MAIN_CORE_UUID, command: 'status', sentAt: 1, ...over });

  it('listens on the node\'s command subject before its joined goes out; answers status with the facts read then, through the outbox', async () => {
    const { fs, bus, agent } = setup({ heartbeatMs: 60_000 });
    await agent.start();
    expect(bus.log).toEqual([`sub ${REANNOUNCE}`, `sub ${cmd(MAIN_CORE_UUID)}`, `pub ${PREFIX}.node.${MAIN_CORE_UUID}.joined`]);

    fs.inboundPaused = true;
    const mark = fs.asked.length;
    expect(bus.request(cmd(MAIN_CORE_UUID), status(), '_INBOX.a')).toBe(true);
    await waitFor(() => expect(bus.replies).toHaveLength(1));
    expect(bus.replies[0]).toEqual({
      subject: '_INBOX.a',
      body: {
        v: 1,
        id: 'q1',
        nodeId: MAIN_CORE_UUID,
        ok: true,
        command: 'status',
        result: { ...capturedLiveStatus(expect.any(Number) as number), inboundPaused: true, blockers: ['inbound-paused'] },
      },
    });
    // Live facts: read when asked, five commands side by side, each bounded by the ESL timeout.
    expect(fs.asked.slice(mark)).toEqual(
      ['global_getvar core_uuid', 'version', 'status', 'sofia status profile internal', 'fsctl pause_check inbound'].map((c) => [c, base.eslTimeoutMs]),
    );
    // A command is no membership input: no heartbeat came of the reading.
    expect(bus.kinds()).toEqual(['joined:start']);
    expect(agent.status()).toMatchObject({ commands: { listening: MAIN_CORE_UUID, received: 1, answered: 1, replies: 1 }, refused: 0 });
  });

  it('refuses another node id, an unknown command and a malformed request, each with its code', async () => {
    const { bus, agent } = setup({ heartbeatMs: 60_000 });
    await agent.start();
    bus.request(cmd(MAIN_CORE_UUID), status({ nodeId: RESTARTED_CORE_UUID }), '_INBOX.a');
    bus.request(cmd(MAIN_CORE_UUID), status({ command: 'reboot' }), '_INBOX.b');
    bus.request(cmd(MAIN_CORE_UUID), '{"v":1,', '_INBOX.c');
    expect(bus.replies.map((r) => [r.subject, r.body.ok, (r.body.error as { code: string }).code])).toEqual([
      ['_INBOX.a', false, 'wrong-node'],
      ['_INBOX.b', false, 'unknown-command'],
      ['_INBOX.c', false, 'bad-request'],
    ]);
    expect(agent.status().commands).toMatchObject({ received: 3, answered: 0, refused: { 'wrong-node': 1, 'unknown-command': 1, 'bad-request': 1 } });
  });

  it('FreeSWITCH restarted: the subscription moves to the new node id; the old subject is gone', async () => {
    const { fs, bus, agent } = setup({ heartbeatMs: 60_000 });
    await agent.start();
    fs.vanish();
    // Still listening after the left: a request is told not-ready, not met with silence.
    expect(bus.request(cmd(MAIN_CORE_UUID), status(), '_INBOX.a')).toBe(true);
    expect(bus.replies.at(-1)?.body.error).toMatchObject({ code: 'not-ready' });
    fs.comeBack(RESTARTED_CORE_UUID);
    await waitFor(() => expect(bus.kinds()).toEqual(['joined:start', 'left:esl-lost', 'joined:start']));
    expect(bus.subscribed()).toEqual([REANNOUNCE, cmd(RESTARTED_CORE_UUID)]);
    expect(bus.log.slice(-3)).toEqual([`unsub ${cmd(MAIN_CORE_UUID)}`, `sub ${cmd(RESTARTED_CORE_UUID)}`, `pub ${PREFIX}.node.${RESTARTED_CORE_UUID}.joined`]);
    expect(bus.request(cmd(MAIN_CORE_UUID), status(), '_INBOX.b')).toBe(false);
    bus.request(cmd(RESTARTED_CORE_UUID), status({ id: 'q2', nodeId: RESTARTED_CORE_UUID }), '_INBOX.c');
    await waitFor(() => expect(bus.replies.at(-1)?.subject).toBe('_INBOX.c'));
    expect(bus.replies.at(-1)?.body).toMatchObject({ id: 'q2', nodeId: RESTARTED_CORE_UUID, ok: true, result: { coreUuid: RESTARTED_CORE_UUID } });
  });

  it('a stalled FreeSWITCH: status is answered timeout within the ESL timeout; heartbeats are not held up by it', async () => {
    const { fs, bus, agent } = setup({ heartbeatMs: 60_000, failedProbesBeforeLost: 5 });
    await agent.start();
    fs.stalled = true;
    bus.request(cmd(MAIN_CORE_UUID), status(), '_INBOX.a');
    bus.request(cmd(MAIN_CORE_UUID), status({ id: 'q2' }), '_INBOX.b');
    await waitFor(() => expect(bus.replies).toHaveLength(2));
    expect(bus.replies.map((r) => [r.subject, r.body.id, (r.body.error as { code: string }).code])).toEqual([
      ['_INBOX.a', 'q1', 'timeout'],
      ['_INBOX.b', 'q2', 'timeout'],
    ]);
    // The two requests shared one reading.
    expect(fs.asked.filter(([c]) => c === 'version')).toHaveLength(1);
    expect(agent.status().phase).toBe('up');
  });

  it('stop goes to both machines: left for the node, then the command subject is given up', async () => {
    const { bus, agent } = setup({ heartbeatMs: 60_000 });
    await agent.start();
    await agent.stop('SIGTERM');
    expect(bus.log.slice(-3)).toEqual([`pub ${PREFIX}.node.${MAIN_CORE_UUID}.left`, `unsub ${cmd(MAIN_CORE_UUID)}`, `unsub ${REANNOUNCE}`]);
    expect(bus.subscribed()).toEqual([]);
  });
});

describe('agent shell: conferences', () => {
  const B = '56f6295a-1feb-44f5-8540-4cb4de745c8b';
  const conferenceEvents = (capture: string) => plainEvents(capture).filter((h) => h['Event-Subclass'] === 'conference::maintenance');

  it('publishes rooms after the join, each conference edge as it happens, and the snapshot per heartbeat; one seq counter for all', async () => {
    const fs = new FakeFreeSwitch();
    fs.coreUuid = B;
    const { bus, agent } = setup({ heartbeatMs: 60_000 }, fs);
    await agent.start();
    await waitFor(() => expect(bus.conferences.map((c) => c.kind)).toEqual(['rooms']));
    expect(bus.conferences[0]?.msg).toMatchObject({ v: 1, nodeId: B, rooms: [] });
    expect(bus.conferences[0]?.subject).toBe(`${PREFIX}.node.${B}.rooms`);
    for (const h of conferenceEvents('hupall-b-plain').slice(0, 12)) fs.emit(h);
    const edges = bus.conferences.slice(1).map((c) => `${c.msg.event as string} ${c.msg.room as string} ${c.msg.members as number}`);
    expect(edges.slice(0, 3)).toEqual(['create 3000 0', 'add-member 3000 1', 'add-member 3000 2']);
    const seqs = [...bus.published, ...bus.conferences].map((p) => p.msg.seq).sort((a, b) => a - b);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(bus.published[0]!.msg.seq).toBeLessThan(bus.conferences[0]!.msg.seq);
    expect(agent.status()).toMatchObject({ unusableEvents: 0, conferences: { unpublishable: 0 } });
  });

  it('SBC_CONFERENCE_MESSAGES=off: no conference or rooms message, the commands still answered', async () => {
    const fs = new FakeFreeSwitch();
    fs.coreUuid = B;
    const { bus, agent } = setup({ heartbeatMs: 60_000, conferenceMessages: false }, fs);
    await agent.start();
    for (const h of conferenceEvents('hupall-b-plain').slice(0, 3)) fs.emit(h);
    bus.request(`${PREFIX}.cmd.${B}`, { v: 2, id: 'q', nodeId: B, sentAt: 1, command: 'conferences' }, '_INBOX.q');
    await waitFor(() => expect(bus.replies).toHaveLength(1));
    expect(bus.replies[0]?.body).toMatchObject({ v: 2, ok: true, command: 'conferences', result: { rooms: [] } });
    expect(bus.conferences).toEqual([]);
    expect(bus.kinds()).toEqual(['joined:start']);
  });

  it('a link command over NATS: the captured dial string as bgdial, answered with its job id', async () => {
    const fs = new FakeFreeSwitch();
    fs.coreUuid = B;
    const { bus, agent } = setup({ heartbeatMs: 60_000 }, fs);
    await agent.start();
    for (const h of conferenceEvents('hupall-b-plain').slice(0, 2)) fs.emit(h); // conference 3000 with one caller
    const args = { room: '3000', linkId: 'ab1', target: 'sip:127.0.0.1:5180', via: 'sip:127.0.0.1:5060' };
    const command =
      'conference 3000 bgdial {sip_h_X-SBC-Cascade=ab1,sip_h_X-SBC-Target=sip:127.0.0.1:5180,sip_h_X-SBC-Room=3000,origination_caller_id_name=cascade,origination_caller_id_number=3000,conference_member_flags=nomoh,conference_enter_sound=silence_stream://20,conference_exit_sound=silence_stream://20,media_timeout=10000}sofia/internal/3000@127.0.0.1:5060 3000 cascade';
    fs.answers.set(command, { ok: true, output: '+OK Job-UUID: 240ebe9d-67b8-43b8-8030-72e02179ed66\n' });
    bus.request(`${PREFIX}.cmd.${B}`, { v: 2, id: 'k1', nodeId: B, sentAt: 1, command: 'link', args }, '_INBOX.k');
    bus.request(`${PREFIX}.cmd.${B}`, { v: 2, id: 'k2', nodeId: B, sentAt: 1, command: 'link', args: { ...args, room: '3999' } }, '_INBOX.l');
    bus.request(`${PREFIX}.cmd.${B}`, { v: 2, id: 'k3', nodeId: MAIN_CORE_UUID, sentAt: 1, command: 'conferences' }, '_INBOX.m');
    await waitFor(() => expect(bus.replies).toHaveLength(3));
    expect(fs.asked.map(([c]) => c)).toContain(command);
    const byId = Object.fromEntries(bus.replies.map((r) => [r.body.id as string, r.body]));
    expect(byId.k1).toEqual({ v: 2, id: 'k1', nodeId: B, ok: true, command: 'link', result: { jobUuid: '240ebe9d-67b8-43b8-8030-72e02179ed66' } });
    expect(byId.k2).toMatchObject({ v: 2, ok: false, error: { code: 'bad-request', message: expect.stringContaining('no conference 3999') as unknown } });
    expect(byId.k3).toMatchObject({ v: 2, ok: false, error: { code: 'wrong-node' } });
  });
});
