import { describe, expect, it } from 'vitest';
import { changesReadiness, IRRELEVANT, readFsEvent, type FsEventInput } from '../../../src/agent/fs-events.js';
import { jsonEvents, MAIN_CORE_UUID, plainEvents, RESTARTED_CORE_UUID } from './captures.js';

function inputs(events: ReadonlyArray<Record<string, unknown>>): FsEventInput[] {
  return events.map(readFsEvent).filter((i): i is FsEventInput => i !== undefined && i.kind !== 'irrelevant');
}

describe('readFsEvent on the real call capture', () => {
  const all = inputs(jsonEvents('json-events-calls'));

  it('yields one input per channel create/destroy, per HEARTBEAT and its RE_SCHEDULE and per readiness command, nothing for other events', () => {
    const kinds = all.map((i) => i.kind);
    expect(kinds.filter((k) => k === 'channel-created')).toHaveLength(16);
    expect(kinds.filter((k) => k === 'channel-destroyed')).toHaveLength(16);
    expect(kinds.filter((k) => k === 'fs-heartbeat')).toHaveLength(3);
    // Four RE_SCHEDULE events: three of the heartbeat task, one of check_ip (irrelevant).
    expect(kinds.filter((k) => k === 'fs-heartbeat-rescheduled')).toHaveLength(3);
    expect(kinds.filter((k) => k === 'fs-readiness-command')).toHaveLength(2);
    expect(all).toHaveLength(40);
  });

  it('of the 57 real API events, only `fsctl pause inbound` and `fsctl resume inbound` ask for a probe', () => {
    const api = jsonEvents('json-events-calls').filter((e) => e['Event-Name'] === 'API');
    expect(api).toHaveLength(57);
    const read = api.map(readFsEvent);
    expect(read.filter((r) => r === IRRELEVANT)).toHaveLength(55);
    expect(read.filter((r) => r !== IRRELEVANT)).toEqual([
      { kind: 'fs-readiness-command', coreUuid: MAIN_CORE_UUID, command: 'fsctl pause inbound' },
      { kind: 'fs-readiness-command', coreUuid: MAIN_CORE_UUID, command: 'fsctl resume inbound' },
    ]);
  });

  it('names the FreeSWITCH that sent each event', () => {
    expect(new Set(all.map((i) => i.coreUuid))).toEqual(new Set([MAIN_CORE_UUID]));
  });

  it("reads HEARTBEAT's own session count and max-sessions", () => {
    const beats = all.filter((i) => i.kind === 'fs-heartbeat');
    expect(beats.map((b) => [b.sessions, b.maxSessions])).toEqual([
      [3, 1000],
      [2, 1000],
      [0, 1000],
    ]);
  });

  it('pairs every created channel with its destroy by Unique-ID', () => {
    const created = all.flatMap((i) => (i.kind === 'channel-created' ? [i.channelUuid] : []));
    const destroyed = all.flatMap((i) => (i.kind === 'channel-destroyed' ? [i.channelUuid] : []));
    expect(new Set(created)).toEqual(new Set(destroyed));
    expect(created).toContain('7d3e7e8f-92af-4233-8e12-0f575d3d1431');
  });

  it('reads the plain-format capture of the same calls the same way', () => {
    expect(inputs(plainEvents('plain-events-calls'))).toEqual(all);
  });
});

describe('readFsEvent on the two-node pause run', () => {
  it('`fsctl pause`, `fsctl pause inbound` and their resumes ask for a probe; the pause_check probes themselves do not', () => {
    const commands = inputs(jsonEvents('cascade-a-json')).flatMap((i) => (i.kind === 'fs-readiness-command' ? [i.command] : []));
    expect(commands).toEqual(['fsctl pause inbound', 'fsctl resume inbound', 'fsctl pause', 'fsctl resume']);
  });
});

describe('changesReadiness', () => {
  it('is true for the commands that change what the probe reads', () => {
    expect(changesReadiness('fsctl', 'pause')).toBe(true);
    expect(changesReadiness('fsctl', 'resume outbound')).toBe(true);
    expect(changesReadiness('sofia', 'profile internal stop')).toBe(true);
    expect(changesReadiness('sofia', 'profile internal start')).toBe(true);
    expect(changesReadiness('sofia', 'profile internal restart')).toBe(true);
    expect(changesReadiness('unload', 'mod_sofia')).toBe(true);
    expect(changesReadiness('load', 'mod_sofia')).toBe(true);
  });

  it("is false for the agent's own probe commands and for everything else", () => {
    expect(changesReadiness('fsctl', 'pause_check inbound')).toBe(false);
    expect(changesReadiness('sofia', 'status profile internal')).toBe(false);
    expect(changesReadiness('sofia', 'status')).toBe(false);
    expect(changesReadiness('global_getvar', 'core_uuid')).toBe(false);
    expect(changesReadiness('fsctl', 'shutdown')).toBe(false);
    expect(changesReadiness('load', 'mod_conference')).toBe(false);
  });
});

describe('readFsEvent on shutdown and restart', () => {
  it('turns the real SHUTDOWN event into a shutdown of the old Core-UUID', () => {
    const shutdowns = inputs(plainEvents('plain-events-shutdown')).filter((i) => i.kind === 'fs-shutdown');
    expect(shutdowns).toEqual([{ kind: 'fs-shutdown', coreUuid: MAIN_CORE_UUID }]);
  });

  it('sees the new Core-UUID in the first HEARTBEAT after the restart', () => {
    expect(inputs(plainEvents('plain-events-after-restart'))).toEqual([
      { kind: 'fs-heartbeat', coreUuid: RESTARTED_CORE_UUID, sessions: 0, maxSessions: 1000, idleCpuPercent: 98.1, sessionsPerSecond: 0 },
      { kind: 'fs-heartbeat-rescheduled', coreUuid: RESTARTED_CORE_UUID, intervalMs: 20_000 },
    ]);
  });

  it('drops an event without a usable Core-UUID or Unique-ID', () => {
    expect(readFsEvent({ 'Event-Name': 'SHUTDOWN' })).toBeUndefined();
    expect(readFsEvent({ 'Event-Name': 'CHANNEL_CREATE', 'Core-UUID': MAIN_CORE_UUID })).toBeUndefined();
    expect(readFsEvent({ 'Event-Name': 'HEARTBEAT', 'Core-UUID': MAIN_CORE_UUID, 'Session-Count': 'x', 'Max-Sessions': '1' })).toBeUndefined();
    expect(readFsEvent({ 'Event-Name': 'API', 'Core-UUID': MAIN_CORE_UUID })).toBeUndefined();
  });
});
