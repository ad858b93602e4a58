/**
 * The load facts the agent reads, as the stand-in gives them: HEARTBEAT `Idle-CPU`,
 * `Session-Per-Sec`, `Session-Per-Sec-Last`, the heartbeat task's RE_SCHEDULE, and `fsctl sps`.
 * Checked against the captures where they hold them (header names and order, value formats) and
 * against FreeSWITCH's source where none does (`fsctl sps`), and read back with the agent's own
 * parsers, so an agent test against the stand-in sees what a real FreeSWITCH would send.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { heartbeatIntervalMs, heartbeatLoad, parseSessionsPerSecondLimit } from '../../src/agent/node-load.js';
import { captureEvents } from './captures.js';
import { getHeader, type EslEvent } from './esl-frames.js';
import { startStandin, type Standin } from './standin.js';
import { EslTestClient } from './test-clients.js';

const name = (e: EslEvent) => getHeader(e.headers, 'Event-Name') ?? '';
const h = (e: EslEvent | undefined, n: string) => (e ? getHeader(e.headers, n) : undefined);
const asRecord = (e: EslEvent) => Object.fromEntries(e.headers);
const capturedBeats = (capture: string) => captureEvents(capture).filter((e) => name(e) === 'HEARTBEAT');

let standins: Standin[] = [];
let clients: EslTestClient[] = [];
afterEach(async () => {
  for (const c of clients) c.close();
  await Promise.all(standins.map((s) => s.stop()));
  standins = [];
  clients = [];
});

async function setup(opts: Parameters<typeof startStandin>[0] = {}) {
  const s = await startStandin({ heartbeatMs: 1000, eslReadyDelayMs: 0, ...opts });
  standins.push(s);
  const esl = await EslTestClient.ready(s.eslPort, s.password, 'event plain HEARTBEAT RE_SCHEDULE');
  clients.push(esl);
  return { s, esl };
}

const nextBeat = (esl: EslTestClient, what: string) => esl.waitForEvent((e) => name(e) === 'HEARTBEAT', what, 3000, esl.events().length);

describe('stand-in HEARTBEAT load headers', () => {
  it('at rest: Idle-CPU as the main capture’s first (99.000000), Session-Per-Sec the whole budget (30), Session-Per-Sec-Last 0', async () => {
    const { esl } = await setup();
    const beat = await nextBeat(esl, 'HEARTBEAT');
    const real = capturedBeats('plain-events-calls')[0]!;
    for (const header of ['Idle-CPU', 'Session-Per-Sec', 'Session-Per-Sec-Last']) expect(h(beat, header), header).toBe(h(real, header));
    expect(beat.headers.map(([k]) => k)).toEqual(real.headers.map(([k]) => k));
    expect(heartbeatLoad(asRecord(beat))).toEqual({ idleCpuPercent: 99, sessionsPerSecond: 0 });
  });

  it('a test sets the idle CPU; HEARTBEAT prints it with six decimals, as FreeSWITCH’s "%f"', async () => {
    const { s, esl } = await setup();
    s.setIdleCpu(4.25);
    const beat = await nextBeat(esl, 'HEARTBEAT after setIdleCpu');
    expect(h(beat, 'Idle-CPU')).toBe('4.250000');
    expect(h(beat, 'Idle-CPU')).toMatch(/^\d+\.\d{6}$/); // the captures' format: 81.133333
    expect(capturedBeats('cascade-a-plain').every((e) => /^\d+\.\d{6}$/.test(h(e, 'Idle-CPU') ?? ''))).toBe(true);
    expect(heartbeatLoad(asRecord(beat)).idleCpuPercent).toBe(4.25);
    expect(() => s.setIdleCpu(101)).toThrow(RangeError);
  });

  it('with sessions-per-second 500 (the two-node captures): Session-Per-Sec reads 500 at rest', async () => {
    const { esl } = await setup({ sessionsPerSecond: 500 });
    const beat = await nextBeat(esl, 'HEARTBEAT');
    expect(h(beat, 'Session-Per-Sec')).toBe('500');
    expect(new Set(capturedBeats('cascade-a-plain').map((e) => h(e, 'Session-Per-Sec')))).toContain('500');
  });

  it('the heartbeat task’s RE_SCHEDULE tells the interval, as the captures’ do (20 s and 1 s)', async () => {
    const { esl } = await setup({ heartbeatMs: 1000 });
    const from = esl.events().length;
    const task = await esl.waitForEvent((e) => name(e) === 'RE_SCHEDULE' && h(e, 'Task-Desc') === 'heartbeat', 'RE_SCHEDULE', 3000, from);
    expect(heartbeatIntervalMs(asRecord(task))).toBe(1000);
    const real = captureEvents('cascade-a-plain').find((e) => name(e) === 'RE_SCHEDULE' && h(e, 'Task-Desc') === 'heartbeat')!;
    expect(task.headers.map(([k]) => k)).toEqual(real.headers.map(([k]) => k));
    expect(heartbeatIntervalMs(asRecord(real))).toBe(1000);
  });
});

describe('stand-in `fsctl sps`', () => {
  const sps = async (esl: EslTestClient, arg = '') => (await esl.command(`api fsctl sps${arg}`, 'api/response')).body.toString();

  it('answers the configured limit as ctl_function() writes it; `fsctl sps <n>` sets it until a restart', async () => {
    const { s, esl } = await setup({ sessionsPerSecond: 500 });
    expect(await sps(esl)).toBe('+OK sessions per second: 500\n');
    expect(parseSessionsPerSecondLimit(await sps(esl))).toBe(500);
    expect(await sps(esl, ' 50')).toBe('+OK sessions per second: 50\n');
    // atoi(): 0 or no number leaves the limit as it is.
    expect(await sps(esl, ' 0')).toBe('+OK sessions per second: 50\n');
    expect(await sps(esl, ' lots')).toBe('+OK sessions per second: 50\n');
    const beat = await nextBeat(esl, 'HEARTBEAT after fsctl sps 50');
    expect(h(beat, 'Session-Per-Sec')).toBe('50');
    await s.restart({ eslReadyDelayMs: 0 });
    const after = await EslTestClient.ready(s.eslPort, s.password, 'event plain HEARTBEAT');
    clients.push(after);
    expect(await sps(after)).toBe('+OK sessions per second: 500\n');
  });

  it('defaults to FreeSWITCH’s 30 without sessions-per-second', async () => {
    const { esl } = await setup();
    expect(await sps(esl)).toBe('+OK sessions per second: 30\n');
  });
});
