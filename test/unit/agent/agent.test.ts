import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAgent, type Agent } from '../../../src/agent/agent.js';
import type { ApiReply, FreeSwitchLink } from '../../../src/agent/esl.js';
import type { EventHeaders } from '../../../src/agent/fs-events.js';
import type { MembershipBus } from '../../../src/agent/nats.js';
import { apiOutput, MAIN_CORE_UUID, RESTARTED_CORE_UUID } from './captures.js';

/**
 * The agent shell against in-memory fakes of its two edges: a FreeSWITCH that answers with
 * the real captured outputs (and can vanish, come back, or restart) and a bus that records.
 */
class FakeFreeSwitch implements FreeSwitchLink {
  coreUuid: string | undefined = MAIN_CORE_UUID;
  connectionCount = 1;
  closed = false;
  readonly asked: Array<[string, number]> = [];
  private listeners: Array<(h: EventHeaders) => void> = [];
  private waiting: Array<() => void> = [];

  api(command: string, timeoutMs: number): Promise<ApiReply> {
    this.asked.push([command, timeoutMs]);
    if (this.closed) return Promise.resolve({ ok: false, error: 'FreeSwitchApplicationEndedError' });
    if (this.coreUuid !== undefined) return Promise.resolve(this.answer(command));
    // Like esl-lite: the command waits, queued, until FreeSWITCH is back or the timeout.
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ ok: false, error: 'FreeSwitchTimeoutError' }), timeoutMs);
      this.waiting.push(() => {
        clearTimeout(timer);
        resolve(this.closed ? { ok: false, error: 'FreeSwitchApplicationEndedError' } : this.answer(command));
      });
    });
  }

  private answer(command: string): ApiReply {
    if (command === 'global_getvar core_uuid') return { ok: true, output: this.coreUuid ?? '' };
    if (command === 'hostname') return { ok: true, output: apiOutput('api-replies', 'hostname') };
    if (command === 'sofia status profile internal') return { ok: true, output: apiOutput('api-replies', command) };
    if (command === 'status') return { ok: true, output: apiOutput('api-replies', 'status') };
    return { ok: false, error: `-ERR ${command} Command not found!` };
  }

  onEvent(listener: (h: EventHeaders) => void): void {
    this.listeners.push(listener);
  }
  connections(): number {
    return this.connectionCount;
  }
  close(): void {
    this.closed = true;
    this.release();
  }

  vanish(): void {
    this.coreUuid = undefined;
  }
  comeBack(coreUuid: string): void {
    this.coreUuid = coreUuid;
    this.connectionCount += 1;
    this.release();
  }
  emit(headers: EventHeaders): void {
    for (const l of this.listeners) l(headers);
  }
  private release(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) w();
  }
}

interface Published {
  subject: string;
  kind: string;
  msg: { nodeId: string; seq: number; reason?: string; sessions?: number; [k: string]: unknown };
}

class RecordingBus implements MembershipBus {
  readonly published: Published[] = [];
  flushes = 0;
  private handlers = new Map<string, (data: Uint8Array) => void>();
  publish(subject: string, data: Uint8Array): void {
    this.published.push({ subject, kind: subject.split('.').at(-1) ?? '', msg: JSON.parse(new TextDecoder().decode(data)) as Published['msg'] });
  }
  subscribe(subject: string, onMessage: (data: Uint8Array) => void) {
    this.handlers.set(subject, onMessage);
    return { unsubscribe: () => this.handlers.delete(subject) };
  }
  flush(): Promise<boolean> {
    this.flushes += 1;
    return Promise.resolve(true);
  }
  deliver(subject: string, body: unknown): void {
    this.handlers.get(subject)?.(new TextEncoder().encode(JSON.stringify(body)));
  }
  kinds(): string[] {
    return this.published.map((p) => (p.msg.reason ? `${p.kind}:${p.msg.reason}` : p.kind));
  }
}

const PREFIX = 'unit.agent';
const settings = {
  natsPrefix: PREFIX,
  sipProfile: 'internal',
  sipUriOverride: undefined,
  heartbeatMs: 100,
  sessionRecheckMs: 60_000,
  eslTimeoutMs: 50,
  recoveryProbeTimeoutMs: 5000,
};

let agents: Agent[] = [];
afterEach(async () => {
  await Promise.all(agents.map((a) => a.stop('test over')));
  agents = [];
});

function setup() {
  const fs = new FakeFreeSwitch();
  const bus = new RecordingBus();
  const agent = createAgent(settings, { openLink: () => fs, bus, logger: pino({ level: 'silent' }) });
  agents.push(agent);
  return { fs, bus, agent };
}

const waitFor = (check: () => void) => vi.waitFor(check, { timeout: 3000, interval: 10 });

describe('agent shell', () => {
  it('joins on start, then heartbeats with strictly rising seq', async () => {
    const { bus, agent } = setup();
    await agent.start();
    expect(bus.kinds()).toEqual(['joined:start']);
    expect(bus.published[0]?.subject).toBe(`${PREFIX}.node.${MAIN_CORE_UUID}.joined`);
    await waitFor(() => expect(bus.kinds().filter((k) => k === 'heartbeat').length).toBeGreaterThanOrEqual(3));
    const seqs = bus.published.map((p) => p.msg.seq);
    expect(seqs.every((s, i) => i === 0 || s > (seqs[i - 1] ?? Infinity))).toBe(true);
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

  it('FreeSWITCH gone: left (esl-lost) once and no heartbeats; back with a new Core-UUID: joined for it', async () => {
    const { fs, bus, agent } = setup();
    await agent.start();
    fs.vanish();
    await waitFor(() => expect(bus.kinds()).toContain('left:esl-lost'));
    const afterLeft = bus.published.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(bus.published.length).toBe(afterLeft);
    // While it is away one long recovery probe waits instead of a probe per tick.
    expect(fs.asked.filter(([, t]) => t === settings.recoveryProbeTimeoutMs).length).toBe(1);
    fs.comeBack(RESTARTED_CORE_UUID);
    await waitFor(() => expect(bus.published.some((p) => p.kind === 'joined' && p.msg.nodeId === RESTARTED_CORE_UUID)).toBe(true));
    expect(bus.kinds().filter((k) => k.startsWith('left'))).toEqual(['left:esl-lost']);
  });

  it('SHUTDOWN event: left (freeswitch-shutdown) at once', async () => {
    const { fs, bus, agent } = setup();
    await agent.start();
    fs.emit({ 'Event-Name': 'SHUTDOWN', 'Core-UUID': MAIN_CORE_UUID });
    expect(bus.kinds().at(-1)).toBe('left:freeswitch-shutdown');
    expect(agent.status().phase).toBe('unannounced');
  });

  it('a reconnect hidden by the client (same node) makes the agent re-read and recount, without a new join', async () => {
    const { fs, bus, agent } = setup();
    await agent.start();
    const before = fs.asked.filter(([c]) => c === 'hostname').length;
    fs.connectionCount += 1;
    await waitFor(() => expect(fs.asked.filter(([c]) => c === 'hostname').length).toBe(before + 1));
    expect(bus.kinds().filter((k) => k.startsWith('joined'))).toEqual(['joined:start']);
  });

  it('a valid reannounce request gets joined (reannounce) at once; an invalid one is counted and ignored', async () => {
    const { bus, agent } = setup();
    await agent.start();
    bus.deliver(`${PREFIX}.control.reannounce`, { v: 1, requestedAt: 1, requester: 'unit' });
    expect(bus.kinds().at(-1)).toBe('joined:reannounce');
    const count = bus.published.length;
    bus.deliver(`${PREFIX}.control.reannounce`, { v: 2, requester: 'unit' });
    expect(bus.published.length).toBe(count);
    expect(agent.status().invalidReannounce).toBe(1);
  });

  it('stop: left (agent-stopping), flushed, Event Socket closed, nothing after', async () => {
    const { fs, bus, agent } = setup();
    await agent.start();
    await agent.stop('SIGTERM');
    expect(bus.kinds().at(-1)).toBe('left:agent-stopping');
    expect(bus.flushes).toBe(1);
    expect(fs.closed).toBe(true);
    const count = bus.published.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(bus.published.length).toBe(count);
  });

  it('FreeSWITCH unreachable at start: start() returns, nothing is published until it answers', async () => {
    const { fs, bus, agent } = setup();
    fs.vanish();
    await agent.start();
    expect(bus.published).toEqual([]);
    fs.comeBack(MAIN_CORE_UUID);
    await waitFor(() => expect(bus.kinds()[0]).toBe('joined:start'));
  });
});
