import { describe, expect, it } from 'vitest';
import { readFsEvent, type FsEventInput } from '../../../src/agent/fs-events.js';
import {
  heartbeatIntervalMs,
  heartbeatLoad,
  heartbeatRescheduled,
  heartbeatSeen,
  loadOf,
  parseIdleCpu,
  parseSessionsPerSecondLimit,
} from '../../../src/agent/node-load.js';
import { jsonEvents, MAIN_CORE_UUID, plainEvents, RESTARTED_CORE_UUID } from './captures.js';

const named = (capture: string, name: string) => plainEvents(capture).filter((e) => e['Event-Name'] === name);

describe('node load: the real HEARTBEAT events', () => {
  it('main run (20 s interval): Idle-CPU and Session-Per-Sec-Last of each of the three HEARTBEATs', () => {
    expect(named('plain-events-calls', 'HEARTBEAT').map(heartbeatLoad)).toEqual([
      { idleCpuPercent: 99, sessionsPerSecond: 0 },
      { idleCpuPercent: 95.766667, sessionsPerSecond: 0 },
      { idleCpuPercent: 96.233333, sessionsPerSecond: 0 },
    ]);
  });

  it('reads the JSON capture of the same run the same way (JSON values are strings too)', () => {
    const json = jsonEvents('json-events-calls').filter((e) => e['Event-Name'] === 'HEARTBEAT');
    expect(json.map(heartbeatLoad)).toEqual(named('plain-events-calls', 'HEARTBEAT').map(heartbeatLoad));
  });

  it('node A (1 s interval): Session-Per-Sec-Last is the rate (0 or 1), never Session-Per-Sec (the budget left, 500 or 499)', () => {
    const beats = named('cascade-a-plain', 'HEARTBEAT');
    expect(beats).toHaveLength(89);
    const loads = beats.map(heartbeatLoad);
    expect(loads[0]).toEqual({ idleCpuPercent: 99.866667, sessionsPerSecond: 0 });
    expect(new Set(loads.map((l) => l.sessionsPerSecond))).toEqual(new Set([0, 1]));
    expect(loads.map((l) => l.sessionsPerSecond).filter((r) => r === 1)).toHaveLength(2);
    const idle = loads.map((l) => l.idleCpuPercent!);
    expect(Math.min(...idle)).toBe(81.133333);
    expect(Math.max(...idle)).toBe(99.866667);
    // The header the sensor must not take: at rest it is the whole limit.
    expect(new Set(beats.map((b) => b['Session-Per-Sec']))).toEqual(new Set(['500', '499']));
  });

  it('node B, after the restart: the first HEARTBEAT of the new process', () => {
    expect(named('cascade-b-plain', 'HEARTBEAT').map(heartbeatLoad)).toEqual([
      { idleCpuPercent: 96.166667, sessionsPerSecond: 0 },
      { idleCpuPercent: 86.1, sessionsPerSecond: 0 },
      { idleCpuPercent: 83.933333, sessionsPerSecond: 0 },
      expect.objectContaining({ sessionsPerSecond: 0 }) as unknown,
    ]);
    expect(named('plain-events-after-restart', 'HEARTBEAT').map(heartbeatLoad)).toEqual([{ idleCpuPercent: 98.1, sessionsPerSecond: 0 }]);
  });

  it('a missing or malformed header is left out, never read as 0', () => {
    expect(heartbeatLoad({})).toEqual({});
    expect(heartbeatLoad({ 'Idle-CPU': '', 'Session-Per-Sec-Last': '-1' })).toEqual({});
    expect(heartbeatLoad({ 'Idle-CPU': '100.000001', 'Session-Per-Sec-Last': '2.5' })).toEqual({});
    expect(heartbeatLoad({ 'Idle-CPU': '0.000000', 'Session-Per-Sec-Last': '0' })).toEqual({ idleCpuPercent: 0, sessionsPerSecond: 0 });
    for (const bad of ['nan', '1e2', ' 99', '99.', '-0.5', '1000.0']) expect(parseIdleCpu(bad), bad).toBeUndefined();
  });
});

describe('node load: the heartbeat interval from the heartbeat task’s RE_SCHEDULE', () => {
  it.each([
    ['plain-events-calls', 3, 20_000],
    ['plain-events-after-restart', 1, 20_000],
    ['cascade-b-plain', 4, 20_000],
    ['cascade-a-plain', 89, 1000],
    ['kill-a-plain', 168, 1000],
  ])('%s: %i reschedules, every one %i ms ahead (its switch.conf)', (capture, count, ms) => {
    const heartbeatTask = named(capture, 'RE_SCHEDULE').filter((e) => e['Task-Desc'] === 'heartbeat');
    expect(heartbeatTask).toHaveLength(count);
    expect(new Set(heartbeatTask.map(heartbeatIntervalMs))).toEqual(new Set([ms]));
  });

  it('the check_ip task says nothing about the heartbeat', () => {
    const checkIp = named('plain-events-calls', 'RE_SCHEDULE').filter((e) => e['Task-Desc'] === 'check_ip');
    expect(checkIp).toHaveLength(1);
    expect(heartbeatIntervalMs(checkIp[0]!)).toBeUndefined();
    expect(readFsEvent(checkIp[0]!)).toEqual({ kind: 'irrelevant' });
  });

  it('out of bounds or malformed: unknown', () => {
    const task = { 'Task-Desc': 'heartbeat', 'Task-Group': 'core', 'Event-Date-Timestamp': '1796150508256564' };
    expect(heartbeatIntervalMs({ ...task, 'Task-Runtime': '1796150508' })).toBeUndefined(); // 0 s
    expect(heartbeatIntervalMs({ ...task, 'Task-Runtime': String(1796150508 + 3601) })).toBeUndefined();
    expect(heartbeatIntervalMs({ ...task, 'Task-Runtime': 'soon' })).toBeUndefined();
    expect(heartbeatIntervalMs({ ...task, 'Task-Runtime': '1796150513' })).toBe(5000);
    const unusable = readFsEvent({ ...task, 'Event-Name': 'RE_SCHEDULE', 'Core-UUID': MAIN_CORE_UUID, 'Task-Runtime': 'soon' });
    expect(unusable).toBeUndefined();
  });
});

describe('node load: `fsctl sps`', () => {
  // No capture ran it; the format is ctl_function()'s (mod_commands.c): "+OK sessions per second: %d\n".
  it('reads the limit from the answer FreeSWITCH writes', () => {
    expect(parseSessionsPerSecondLimit('+OK sessions per second: 30\n')).toBe(30);
    expect(parseSessionsPerSecondLimit('+OK sessions per second: 500\n')).toBe(500);
  });

  it('refuses anything else', () => {
    for (const bad of ['+OK\n', '-ERR INVALID COMMAND\nUSAGE: fsctl [...]', '+OK sessions per second: 0\n', '+OK sessions per second: -5\n', '+OK last sessions per second: 3\n', '']) {
      expect(parseSessionsPerSecondLimit(bad), bad).toBeUndefined();
    }
  });
});

describe('node load: the last HEARTBEAT, per FreeSWITCH process', () => {
  const beatsOf = (capture: string) =>
    named(capture, 'HEARTBEAT')
      .map((h) => readFsEvent(h))
      .filter((i): i is Extract<FsEventInput, { kind: 'fs-heartbeat' }> => i?.kind === 'fs-heartbeat');

  it('keeps the interval across beats of the same process and drops it for a new one', () => {
    const [first, second] = beatsOf('plain-events-calls');
    let facts = heartbeatSeen(undefined, first!.coreUuid, heartbeatLoad(named('plain-events-calls', 'HEARTBEAT')[0]!), 1000);
    facts = heartbeatRescheduled(facts, MAIN_CORE_UUID, 20_000);
    facts = heartbeatSeen(facts, second!.coreUuid, { idleCpuPercent: 95.766667, sessionsPerSecond: 0 }, 21_000);
    expect(facts).toEqual({ coreUuid: MAIN_CORE_UUID, idleCpuPercent: 95.766667, sessionsPerSecond: 0, heartbeatEventAt: 21_000, heartbeatEventIntervalMs: 20_000 });
    const restarted = heartbeatSeen(facts, RESTARTED_CORE_UUID, { idleCpuPercent: 98.1, sessionsPerSecond: 0 }, 40_000);
    expect(restarted).toEqual({ coreUuid: RESTARTED_CORE_UUID, idleCpuPercent: 98.1, sessionsPerSecond: 0, heartbeatEventAt: 40_000 });
  });

  it('a beat without Idle-CPU does not carry the last one’s over', () => {
    const facts = heartbeatSeen({ coreUuid: MAIN_CORE_UUID, idleCpuPercent: 50, heartbeatEventAt: 1 }, MAIN_CORE_UUID, {}, 2);
    expect(facts).toEqual({ coreUuid: MAIN_CORE_UUID, heartbeatEventAt: 2 });
  });

  it('gives a node only its own facts', () => {
    const facts = { coreUuid: MAIN_CORE_UUID, idleCpuPercent: 99, heartbeatEventAt: 5 };
    expect(loadOf(MAIN_CORE_UUID, facts)).toEqual({ idleCpuPercent: 99, heartbeatEventAt: 5 });
    expect(loadOf(RESTARTED_CORE_UUID, facts)).toEqual({});
    expect(loadOf(MAIN_CORE_UUID, undefined)).toEqual({});
  });
});
