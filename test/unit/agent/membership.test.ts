import { describe, expect, it } from 'vitest';
import { readFsEvent, type FsEventInput } from '../../../src/agent/fs-events.js';
import { parseCoreUuid, parseHostname, parseSofiaProfile, parseStatus, profileSipUri } from '../../../src/agent/fs-output.js';
import {
  decide,
  INITIAL_MEMBERSHIP,
  type MembershipAction,
  type MembershipInput,
  type MembershipPolicy,
  type MembershipState,
} from '../../../src/agent/membership.js';
import type { NodeFacts } from '../../../src/agent/messages.js';
import { readProbe } from '../../../src/agent/probe.js';
import type { NodeBlocker } from '../../../src/events/index.js';
import { apiOutput, jsonEvents, MAIN_CORE_UUID, plainEvents, RESTARTED_CORE_UUID } from './captures.js';

const policy: MembershipPolicy = { failedProbesBeforeLost: 1 };

/** An event the machine takes (not IRRELEVANT, not unusable). */
function fsInput(headers: Record<string, unknown> | undefined): FsEventInput | undefined {
  const input = readFsEvent(headers ?? {});
  return input?.kind === 'irrelevant' ? undefined : input;
}

/** The facts of the captured FreeSWITCH, read from its real api outputs. */
function factsFrom(capture: string, profileCapture = 'api-replies'): { facts: NodeFacts; sessions: number } {
  const fields = parseSofiaProfile(apiOutput(profileCapture, 'sofia status profile internal'));
  const uri = fields && profileSipUri(fields);
  const status = parseStatus(apiOutput(capture, 'status'));
  const nodeId = parseCoreUuid(apiOutput(capture, 'global_getvar core_uuid'));
  const hostname = parseHostname(apiOutput(profileCapture, 'hostname'));
  if (!uri?.ok || !status || !nodeId || !hostname) throw new Error('capture did not parse');
  return { facts: { nodeId, sipUri: uri.uri, hostname, capacity: status.maxSessions, blockers: [] }, sessions: status.sessions };
}

const MAIN = factsFrom('api-replies');
const RESTARTED = factsFrom('api-replies-after-restart');

function run(inputs: readonly MembershipInput[], from: MembershipState = INITIAL_MEMBERSHIP, p = policy) {
  let state = from;
  const actions: MembershipAction[] = [];
  for (const input of inputs) {
    const d = decide(state, input, p);
    state = d.state;
    actions.push(...d.actions);
  }
  return { state, actions };
}

const connected = (connection = 1): MembershipInput => ({ kind: 'esl-connected', connection });
const disconnected = (connection = 1): MembershipInput => ({ kind: 'esl-disconnected', connection });
const read = (f: { facts: NodeFacts; sessions: number }, connection = 1): MembershipInput => ({ kind: 'facts-read', ...f, connection });
const probeOk = (coreUuid = MAIN_CORE_UUID, blockers: readonly NodeBlocker[] = [], trigger: 'tick' | 'event' = 'tick'): MembershipInput => ({
  kind: 'probe-ok',
  coreUuid,
  blockers,
  sipUri: undefined,
  trigger,
});
/** Connected, nothing announced yet. */
const ready = run([connected()]).state;
const up = run([read(MAIN)], ready).state;

describe('membership: announcing', () => {
  it('publishes joined (start) with the facts read from FreeSWITCH', () => {
    expect(MAIN.facts).toEqual({ nodeId: MAIN_CORE_UUID, sipUri: 'sip:127.0.0.1:5080', hostname: 'vm', capacity: 1000, blockers: [] });
    expect(run([read(MAIN)], ready).actions).toEqual([{ kind: 'publish-joined', node: MAIN.facts, sessions: 0, reason: 'start' }]);
  });

  it('publishes a heartbeat for each successful probe, and nothing before the node is announced', () => {
    expect(run([probeOk()], ready).actions).toEqual([{ kind: 'discover' }]);
    expect(run([probeOk(), probeOk()], up).actions).toEqual([
      { kind: 'publish-heartbeat', node: MAIN.facts, sessions: 0 },
      { kind: 'publish-heartbeat', node: MAIN.facts, sessions: 0 },
    ]);
  });

  it('heartbeats carry the sessions tracked from the real call events, matching FreeSWITCH at each of its HEARTBEATs', () => {
    const published: Array<[ours: number, theirs: number]> = [];
    let state = up;
    for (const headers of jsonEvents('json-events-calls')) {
      const input = fsInput(headers);
      if (!input || input.kind === 'fs-readiness-command') continue;
      if (input.kind === 'fs-heartbeat') {
        // What the agent would publish just before FreeSWITCH's own count arrives.
        const beat = decide(state, probeOk(), policy).actions[0];
        published.push([beat?.kind === 'publish-heartbeat' ? beat.sessions : -1, input.sessions]);
      }
      state = decide(state, input, policy).state;
    }
    expect(published).toEqual([
      [3, 3],
      [2, 2],
      [0, 0],
    ]);
    expect(state.phase).toBe('up');
  });

  it('counts calls that were up before the agent started from the status output', () => {
    const { actions, state } = run([read({ ...MAIN, sessions: 2 }), probeOk()], ready);
    expect(actions.map((a) => ('sessions' in a ? a.sessions : undefined))).toEqual([2, 2]);
    expect(state.phase).toBe('up');
  });

  it('takes capacity and sessions from the periodic status re-check and from FreeSWITCH HEARTBEAT', () => {
    const afterStatus = run([{ kind: 'status-read', sessions: 5, maxSessions: 800 }, probeOk()], up).actions;
    expect(afterStatus).toEqual([{ kind: 'publish-heartbeat', node: { ...MAIN.facts, capacity: 800 }, sessions: 5 }]);
    const beat = { kind: 'fs-heartbeat', coreUuid: MAIN_CORE_UUID, sessions: 7, maxSessions: 900 } as const;
    expect(run([beat, probeOk()], up).actions).toEqual([{ kind: 'publish-heartbeat', node: { ...MAIN.facts, capacity: 900 }, sessions: 7 }]);
  });

  it('a same-node re-read refreshes silently and recounts', () => {
    const { actions } = run([{ kind: 'facts-read', facts: { ...MAIN.facts, hostname: 'vm2' }, sessions: 4, connection: 1 }, probeOk()], up);
    expect(actions).toEqual([{ kind: 'publish-heartbeat', node: { ...MAIN.facts, hostname: 'vm2' }, sessions: 4 }]);
  });
});

describe('membership: reannounce', () => {
  it('answers a reannounce request with joined (reannounce) at once while the node is up', () => {
    expect(run([{ kind: 'reannounce' }], up).actions).toEqual([
      { kind: 'publish-joined', node: MAIN.facts, sessions: 0, reason: 'reannounce' },
      { kind: 'read-session-limit', nodeId: MAIN_CORE_UUID },
    ]);
  });

  it('ignores it when no node is announced', () => {
    expect(decide(ready, { kind: 'reannounce' }, policy)).toMatchObject({ actions: [], note: 'no node to reannounce' });
  });
});

describe('membership: losing FreeSWITCH', () => {
  it('a failed probe stops heartbeats and publishes left (esl-lost) exactly once', () => {
    const { actions, state } = run([{ kind: 'probe-failed' }, { kind: 'probe-failed' }, { kind: 'reannounce' }], up);
    expect(actions).toEqual([{ kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'esl-lost' }]);
    expect(state).toEqual({ phase: 'unannounced', retired: [], esl: { connected: true, connection: 1 } });
  });

  it('with a tolerance of two, one failure only skips the heartbeat and a success resets the count', () => {
    const tolerant = { failedProbesBeforeLost: 2 };
    const { actions } = run([{ kind: 'probe-failed' }, probeOk(), { kind: 'probe-failed' }, { kind: 'probe-failed' }], up, tolerant);
    expect(actions).toEqual([
      { kind: 'publish-heartbeat', node: MAIN.facts, sessions: 0 },
      { kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'esl-lost' },
    ]);
  });

  it('the same FreeSWITCH answering again after esl-lost is announced again (the process never died)', () => {
    const { actions, state } = run([{ kind: 'probe-failed' }, probeOk(), read(MAIN)], up);
    expect(actions).toEqual([
      { kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'esl-lost' },
      { kind: 'discover' },
      { kind: 'publish-joined', node: MAIN.facts, sessions: 0, reason: 'start' },
    ]);
    expect(state.phase).toBe('up');
  });

  it('a restarted FreeSWITCH found after esl-lost is a new node: joined, no second left', () => {
    const { actions } = run([{ kind: 'probe-failed' }, probeOk(RESTARTED_CORE_UUID), read(RESTARTED)], up);
    expect(actions).toEqual([
      { kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'esl-lost' },
      { kind: 'discover' },
      { kind: 'publish-joined', node: { ...MAIN.facts, nodeId: RESTARTED_CORE_UUID }, sessions: 0, reason: 'start' },
    ]);
  });
});

describe('membership: the event socket', () => {
  it('nothing is read or announced before the socket is up; connecting asks for discovery', () => {
    expect(decide(INITIAL_MEMBERSHIP, read(MAIN), policy)).toMatchObject({ actions: [] });
    expect(decide(INITIAL_MEMBERSHIP, probeOk(), policy)).toMatchObject({ actions: [] });
    expect(decide(INITIAL_MEMBERSHIP, connected(), policy)).toEqual({
      state: { phase: 'unannounced', retired: [], esl: { connected: true, connection: 1 } },
      actions: [{ kind: 'discover' }],
    });
  });

  it('a closed socket is left (esl-lost) at once, whatever the probe tolerance, and only once', () => {
    const tolerant = { failedProbesBeforeLost: 10 };
    const { actions, state } = run([disconnected(), { kind: 'probe-failed' }, disconnected(), probeOk()], up, tolerant);
    expect(actions).toEqual([{ kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'esl-lost' }]);
    expect(state).toEqual({ phase: 'unannounced', retired: [], esl: { connected: false, connection: 1 } });
  });

  it('the same FreeSWITCH on the next connection is discovered and joined again with the same Core-UUID', () => {
    const { actions, state } = run([disconnected(1), connected(2), read(MAIN, 2), probeOk()], up);
    expect(actions).toEqual([
      { kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'esl-lost' },
      { kind: 'discover' },
      { kind: 'publish-joined', node: MAIN.facts, sessions: 0, reason: 'start' },
      { kind: 'publish-heartbeat', node: MAIN.facts, sessions: 0 },
    ]);
    expect(state.phase === 'up' && state.esl).toEqual({ connected: true, connection: 2 });
  });

  it('a restarted FreeSWITCH on the next connection (real captures): joined for the new Core-UUID, no second left', () => {
    const { actions } = run([disconnected(1), connected(2), read(RESTARTED, 2)], up);
    expect(actions).toEqual([
      { kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'esl-lost' },
      { kind: 'discover' },
      { kind: 'publish-joined', node: RESTARTED.facts, sessions: 0, reason: 'start' },
    ]);
  });

  it('facts read on a connection that has closed since are not announced', () => {
    const whileDown = run([disconnected(1), read(MAIN, 1)], up);
    expect(whileDown.actions).toEqual([{ kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'esl-lost' }]);
    const afterReconnect = run([read(MAIN, 1)], run([disconnected(1), connected(2)], up).state);
    expect(afterReconnect.actions).toEqual([]);
    expect(afterReconnect.state.phase).toBe('unannounced');
  });

  it('while the socket is down, probe answers and late events ask for nothing', () => {
    const down = run([disconnected(1)], up).state;
    const beat = { kind: 'fs-heartbeat', coreUuid: MAIN_CORE_UUID, sessions: 0, maxSessions: 1000 } as const;
    expect(run([probeOk(), beat, { kind: 'probe-failed' }], down).actions).toEqual([]);
  });

  it('a failed connect attempt, or the end of an older connection, changes nothing', () => {
    expect(decide(INITIAL_MEMBERSHIP, disconnected(0), policy)).toMatchObject({ state: INITIAL_MEMBERSHIP, actions: [] });
    const onSecond = run([disconnected(1), connected(2), read(MAIN, 2)], up).state;
    expect(decide(onSecond, disconnected(1), policy)).toMatchObject({ state: onSecond, actions: [] });
  });

  it('a new connection while a node is up (a socket replaced unseen) re-reads the facts', () => {
    const { actions, state } = run([connected(2), read(MAIN, 2)], up);
    expect(actions).toEqual([{ kind: 'discover' }]);
    expect(state.phase).toBe('up');
  });
});

describe('membership: FreeSWITCH shutdown and restart', () => {
  const shutdown = fsInput(plainEvents('plain-events-shutdown').find((e) => e['Event-Name'] === 'SHUTDOWN'));
  const restartedBeat = fsInput(plainEvents('plain-events-after-restart').find((e) => e['Event-Name'] === 'HEARTBEAT'));

  it('the real SHUTDOWN event publishes left (freeswitch-shutdown) at once', () => {
    if (!shutdown) throw new Error('no SHUTDOWN in capture');
    expect(run([shutdown], up).actions).toEqual([{ kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'freeswitch-shutdown' }]);
  });

  it('a dying FreeSWITCH that still answers with its old id is not announced again', () => {
    if (!shutdown) throw new Error('no SHUTDOWN in capture');
    const { actions, state } = run([shutdown, probeOk(MAIN_CORE_UUID), read(MAIN)], up);
    expect(actions).toEqual([{ kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'freeswitch-shutdown' }]);
    expect(state).toEqual({ phase: 'unannounced', retired: [MAIN_CORE_UUID], esl: { connected: true, connection: 1 } });
  });

  it('after the shutdown, the restarted FreeSWITCH (new Core-UUID, real capture) joins without another left', () => {
    if (!shutdown || !restartedBeat) throw new Error('capture did not parse');
    const { actions } = run([shutdown, restartedBeat, read(RESTARTED)], up);
    expect(actions).toEqual([
      { kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'freeswitch-shutdown' },
      { kind: 'discover' },
      // The new process's first HEARTBEAT (Idle-CPU 98.100000, Session-Per-Sec-Last 0) goes out with its joined.
      { kind: 'publish-joined', node: { ...RESTARTED.facts, idleCpuPercent: 98.1, sessionsPerSecond: 0 }, sessions: 0, reason: 'start' },
    ]);
  });

  it('a restart the agent did not see go down: an event with the new Core-UUID means left (core-uuid-changed), then joined', () => {
    if (!restartedBeat) throw new Error('capture did not parse');
    const { actions } = run([restartedBeat, read(RESTARTED), probeOk(RESTARTED_CORE_UUID)], up);
    // The HEARTBEAT that told of the restart is the new node's: its load goes out with it.
    const node = { ...RESTARTED.facts, idleCpuPercent: 98.1, sessionsPerSecond: 0 };
    expect(actions).toEqual([
      { kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'core-uuid-changed' },
      { kind: 'discover' },
      { kind: 'publish-joined', node, sessions: 0, reason: 'start' },
      { kind: 'publish-heartbeat', node, sessions: 0 },
    ]);
  });

  it('the probe seeing the new Core-UUID does the same', () => {
    expect(run([probeOk(RESTARTED_CORE_UUID)], up).actions).toEqual([
      { kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'core-uuid-changed' },
      { kind: 'discover' },
    ]);
  });

  it('facts of a new node read while the old one is up: left for the old, joined for the new, in that order', () => {
    expect(run([read(RESTARTED)], up).actions).toEqual([
      { kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'core-uuid-changed' },
      { kind: 'publish-joined', node: RESTARTED.facts, sessions: 0, reason: 'start' },
    ]);
  });

  it('a late event from the retired process changes nothing for the new node', () => {
    const late = fsInput(jsonEvents('json-events-calls').find((e) => e['Event-Name'] === 'CHANNEL_DESTROY'));
    if (!late) throw new Error('capture did not parse');
    const { state: newUp } = run([read(RESTARTED)], up);
    expect(run([late, probeOk(RESTARTED_CORE_UUID)], newUp).actions).toEqual([
      { kind: 'publish-heartbeat', node: RESTARTED.facts, sessions: 0 },
    ]);
  });

  it('remembers only the last few retired ids', () => {
    let state: MembershipState = ready;
    for (let i = 0; i < 20; i++) {
      const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      state = decide(state, { kind: 'fs-shutdown', coreUuid: id }, policy).state;
    }
    expect(state.phase === 'unannounced' && state.retired.length).toBe(8);
  });
});

describe('membership: stopping', () => {
  it('publishes left (agent-stopping) and then nothing more', () => {
    const { actions, state } = run([{ kind: 'stop' }, probeOk(), { kind: 'reannounce' }, read(MAIN), { kind: 'stop' }], up);
    expect(actions).toEqual([{ kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'agent-stopping' }]);
    expect(state).toEqual({ phase: 'stopped' });
  });

  it('publishes nothing when no node is announced (its left was already sent)', () => {
    expect(run([{ kind: 'probe-failed' }, { kind: 'stop' }], up).actions).toEqual([
      { kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'esl-lost' },
    ]);
  });
});

describe('membership: blockers', () => {
  const PROFILE = apiOutput('api-replies', 'sofia status profile internal');
  const PAUSED = apiOutput('api-replies', 'fsctl pause_check inbound', 0);
  const RESUMED = apiOutput('api-replies', 'fsctl pause_check inbound', 1);
  // No capture holds a stopped profile: this is mod_sofia's text for one (and the stand-in's).
  const STOPPED = 'Invalid Profile!\n';

  /** A probe answered with real outputs, read by the probe's own parser. */
  function probed(profile: string, pause: string, trigger: 'tick' | 'event' = 'tick'): MembershipInput {
    const r = readProbe(
      {
        coreUuid: { ok: true, output: apiOutput('api-replies', 'global_getvar core_uuid') },
        profile: { ok: true, output: profile },
        inboundPaused: { ok: true, output: pause },
      },
      undefined,
    );
    if (!r.ok) throw new Error(r.detail);
    return { kind: 'probe-ok', coreUuid: r.coreUuid, blockers: r.blockers, sipUri: r.sipUri, trigger };
  }
  const heartbeat = (node: NodeFacts): MembershipAction => ({ kind: 'publish-heartbeat', node, sessions: 0 });

  it('every tick heartbeat says what the probe found: paused, stopped, both, then clear again', () => {
    const { actions } = run(
      [probed(PROFILE, PAUSED), probed(STOPPED, PAUSED), probed(STOPPED, RESUMED), probed(PROFILE, RESUMED)],
      up,
    );
    expect(actions).toEqual([
      heartbeat({ ...MAIN.facts, blockers: ['inbound-paused'] }),
      heartbeat({ ...MAIN.facts, blockers: ['sip-profile-down', 'inbound-paused'] }),
      heartbeat({ ...MAIN.facts, blockers: ['sip-profile-down'] }),
      heartbeat(MAIN.facts),
    ]);
  });

  it('the real `fsctl pause inbound` API event asks for a probe at once', () => {
    const pause = fsInput(jsonEvents('json-events-calls').find((e) => e['API-Command-Argument'] === 'pause inbound'));
    expect(pause).toEqual({ kind: 'fs-readiness-command', coreUuid: MAIN_CORE_UUID, command: 'fsctl pause inbound' });
    if (!pause) throw new Error('no API event');
    expect(decide(up, pause, policy).actions).toEqual([{ kind: 'probe' }]);
  });

  it('an event probe that finds a change is published at once (an extra heartbeat); one that finds none publishes nothing', () => {
    const { actions, state } = run([probed(PROFILE, PAUSED, 'event'), probed(PROFILE, PAUSED, 'event')], up);
    expect(actions).toEqual([heartbeat({ ...MAIN.facts, blockers: ['inbound-paused'] })]);
    expect(state.phase === 'up' && state.node.blockers).toEqual(['inbound-paused']);
  });

  it('a profile that comes back at another address moves the node: the next heartbeat has the new sipUri', () => {
    const moved = PROFILE.replaceAll('127.0.0.1', '10.0.0.7').replace(':5080', ':5070');
    const { actions } = run([probed(STOPPED, RESUMED), probed(moved, RESUMED, 'event')], up);
    expect(actions).toEqual([
      heartbeat({ ...MAIN.facts, blockers: ['sip-profile-down'] }),
      heartbeat({ ...MAIN.facts, sipUri: 'sip:10.0.0.7:5070' }),
    ]);
  });

  it('blockers found at discovery go out with joined, and with a reannounce', () => {
    const paused = { ...MAIN, facts: { ...MAIN.facts, blockers: ['inbound-paused'] as const } };
    expect(run([read(paused), { kind: 'reannounce' }], ready).actions).toEqual([
      { kind: 'publish-joined', node: paused.facts, sessions: 0, reason: 'start' },
      { kind: 'publish-joined', node: paused.facts, sessions: 0, reason: 'reannounce' },
      { kind: 'read-session-limit', nodeId: MAIN_CORE_UUID },
    ]);
  });

  it('with no node announced (say its profile was down at start), a readiness command asks for discovery', () => {
    const start = { kind: 'fs-readiness-command', coreUuid: MAIN_CORE_UUID, command: 'sofia profile internal start' } as const;
    expect(decide(ready, start, policy).actions).toEqual([{ kind: 'discover' }]);
  });
});

describe('membership: FreeSWITCH load', () => {
  const beatInput = (capture: string, nth: number, receivedAt: number): MembershipInput => {
    const input = fsInput(plainEvents(capture).filter((e) => e['Event-Name'] === 'HEARTBEAT')[nth]);
    if (input?.kind !== 'fs-heartbeat') throw new Error('capture did not parse');
    return { ...input, receivedAt };
  };
  const rescheduled = fsInput(plainEvents('plain-events-calls').find((e) => e['Event-Name'] === 'RE_SCHEDULE' && e['Task-Desc'] === 'heartbeat'));
  if (!rescheduled) throw new Error('capture did not parse');
  const withLimit = { ...MAIN, facts: { ...MAIN.facts, sessionsPerSecondLimit: 30 } };
  const upWithLimit = run([read(withLimit)], ready).state;

  it('the last HEARTBEAT (and its RE_SCHEDULE) goes into the next heartbeat, with the limit read at discovery', () => {
    const { actions } = run([beatInput('plain-events-calls', 0, 1_000), rescheduled, probeOk()], upWithLimit);
    expect(actions).toEqual([
      {
        kind: 'publish-heartbeat',
        node: { ...withLimit.facts, idleCpuPercent: 99, sessionsPerSecond: 0, heartbeatEventAt: 1_000, heartbeatEventIntervalMs: 20_000 },
        sessions: 3,
      },
    ]);
  });

  it('each HEARTBEAT replaces the last; none at all: no load field in any message', () => {
    const { actions } = run([beatInput('plain-events-calls', 0, 1_000), beatInput('plain-events-calls', 1, 21_000), probeOk()], up);
    expect(actions).toEqual([
      { kind: 'publish-heartbeat', node: { ...MAIN.facts, idleCpuPercent: 95.766667, sessionsPerSecond: 0, heartbeatEventAt: 21_000 }, sessions: 2 },
    ]);
    expect(run([probeOk(), { kind: 'reannounce' }], up).actions.filter((a) => 'node' in a).map((a) => 'node' in a && a.node)).toEqual([MAIN.facts, MAIN.facts]);
  });

  it('a HEARTBEAT before the node is announced goes out with its joined; one of a retired process does not', () => {
    const beat = beatInput('plain-events-after-restart', 0, 5_000);
    const early = run([beat, read(RESTARTED)], ready);
    expect(early.actions).toEqual([
      { kind: 'discover' },
      { kind: 'publish-joined', node: { ...RESTARTED.facts, idleCpuPercent: 98.1, sessionsPerSecond: 0, heartbeatEventAt: 5_000 }, sessions: 0, reason: 'start' },
    ]);
    const retired = run([{ kind: 'fs-shutdown', coreUuid: RESTARTED_CORE_UUID }, beat], ready).state;
    expect(retired.phase === 'unannounced' && retired.heartbeat).toBeUndefined();
  });

  it('another process’s HEARTBEAT never lends its load to the announced node', () => {
    const other = { kind: 'fs-heartbeat-rescheduled', coreUuid: RESTARTED_CORE_UUID, intervalMs: 1000 } as const;
    const { state } = run([beatInput('plain-events-calls', 0, 1_000)], ready);
    // The facts read are of RESTARTED, the HEARTBEAT was MAIN's: nothing of it goes out.
    expect(run([read(RESTARTED)], state).actions).toEqual([{ kind: 'publish-joined', node: RESTARTED.facts, sessions: 0, reason: 'start' }]);
    expect(run([other], up).actions).toEqual([
      { kind: 'publish-left', nodeId: MAIN_CORE_UUID, reason: 'core-uuid-changed' },
      { kind: 'discover' },
    ]);
  });

  it('a reannounce re-reads the limit; a new answer lands in the next heartbeat, a failed one keeps the last', () => {
    const reannounce = run([{ kind: 'reannounce' }], upWithLimit);
    expect(reannounce.actions.at(-1)).toEqual({ kind: 'read-session-limit', nodeId: MAIN_CORE_UUID });
    const changed = run([{ kind: 'session-limit-read', nodeId: MAIN_CORE_UUID, limit: 50 }, probeOk()], upWithLimit);
    expect(changed.actions).toEqual([{ kind: 'publish-heartbeat', node: { ...MAIN.facts, sessionsPerSecondLimit: 50 }, sessions: 0 }]);
    const failed = run([{ kind: 'session-limit-read', nodeId: MAIN_CORE_UUID, limit: undefined }, probeOk()], upWithLimit);
    expect(failed.actions).toEqual([{ kind: 'publish-heartbeat', node: withLimit.facts, sessions: 0 }]);
    const stale = decide(upWithLimit, { kind: 'session-limit-read', nodeId: RESTARTED_CORE_UUID, limit: 50 }, policy);
    expect(stale).toMatchObject({ state: upWithLimit, actions: [] });
  });

  it('the same node re-read on a new connection keeps its limit when `fsctl sps` failed this time', () => {
    // A new connection seen before the old one's end: discovery again, while the node stays up.
    const { actions } = run([connected(2), read(MAIN, 2), probeOk()], upWithLimit);
    expect(actions.at(-1)).toEqual({ kind: 'publish-heartbeat', node: withLimit.facts, sessions: 0 });
  });
});
