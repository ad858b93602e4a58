import { beforeEach, describe, expect, it } from 'vitest';
import type { MachineIntent } from '../../../src/core/machine.js';
import type { NodeRecord } from '../../../src/core/node.js';
import { createMetrics, type Metrics } from '../../../src/metrics/metrics.js';
import type { OperationEntry, StoredOperation } from '../../../src/ports/operationLog.js';
import { newDispatcherPass, type DispatcherPass } from '../../../src/reconciler/dispatcherPass.js';
import type { StepContext } from '../../../src/reconciler/runner.js';
import { drainChecksStep, inboundResumeStep } from '../../../src/reconciler/steps/drainChecks.js';
import { FakeNodeAgents } from '../../fakes/fakeNodeAgents.js';
import { InMemoryNodeRegistry } from '../../fakes/inMemoryNodeRegistry.js';
import { silentLogger } from '../../fakes/silentLogger.js';
import { node } from '../core/fixtures.js';

const membership = { heartbeatMisses: 3, goneRetentionMs: 60_000, maxClockSkewMs: 60_000 };

describe('drain checks step', () => {
  let t: number;
  let registry: InMemoryNodeRegistry;
  let agents: FakeNodeAgents;
  let metrics: Metrics;
  let audit: OperationEntry[];
  let wakes: number[];
  const ctx = (): StepContext => ({
    passId: 1, logger: silentLogger, wakeIn: (ms) => wakes.push(ms), holdFor: () => undefined,
    targetFailed: () => ({ failures: 1, retryInMs: 1 }), targetOk: () => undefined, failPass: () => undefined,
  });
  const deps = () => ({
    agents, registry, membership, metrics, now: () => t, everyMs: 10_000,
    operations: { actor: 'leader:cp-1', log: { record: (e: OperationEntry) => (audit.push(e), Promise.resolve({ ...e, id: audit.length } as StoredOperation)) } },
  });
  const step = () => drainChecksStep(deps());
  const resumeStep = () => inboundResumeStep(deps());
  const draining = (n: number, over: Partial<NodeRecord> = {}) => node(n, { state: 'draining', sessions: 3, ...over });
  const machine = (n: number, over: Partial<MachineIntent> = {}): MachineIntent => ({ machineId: `10.0.0.${n}:5080`, slot: n, nodeId: node(n).nodeId, rev: 1, ...over });

  async function passWith(nodes: NodeRecord[], machines: MachineIntent[], pins?: string[] | 'failed'): Promise<DispatcherPass> {
    for (const n of nodes) await registry.put(n, undefined);
    for (const m of machines) await registry.putMachine(m, undefined);
    const pass = newDispatcherPass();
    pass.nodes = nodes;
    pass.machines = machines;
    if (pins !== undefined) {
      pass.rooms = {
        pins: new Map(pins === 'failed' ? [] : pins.map((uri, i) => [`room${i}`, { key: `room${i}`, uri, at: 0, by: 'k1' }])),
        ended: new Set(), known: new Set(), linked: [], cascade: new Map(),
        ...(pins === 'failed' ? { error: 'redis down' } : {}),
      };
    }
    return pass;
  }

  beforeEach(() => {
    t = 1_000_000;
    registry = new InMemoryNodeRegistry();
    agents = new FakeNodeAgents();
    metrics = createMetrics();
    audit = [];
    wakes = [];
  });

  it('pauses inbound once no room is pinned to the node, flags the machine first, and audits it', async () => {
    agents.set(node(1).nodeId, { sessions: 3 });
    const s = step();
    // A room pinned to it: its callers must still get in, so no pause.
    await s.run(await passWith([draining(1)], [machine(1, { drain: { deadline: t + 60_000 } })], ['sip:10.0.0.1:5080']), ctx());
    expect(agents.calls).toEqual([`status ${node(1).nodeId}`]);
    // Ten seconds on, the room has ended.
    t += 10_000;
    await s.run(await passWith([draining(1)], [(await registry.getMachine('10.0.0.1:5080'))!], []), ctx());
    expect(agents.calls.slice(1)).toEqual([`status ${node(1).nodeId}`, `pause-inbound ${node(1).nodeId}`]);
    expect(await registry.getMachine('10.0.0.1:5080')).toMatchObject({ inboundPaused: true, rev: 2 });
    expect(audit).toEqual([{ kind: 'pause', actor: 'leader:cp-1', target: node(1).nodeId, outcome: 'done', detail: { why: 'no-pinned-room', machineId: '10.0.0.1:5080' }, at: t }]);
    expect(wakes).toEqual([10_000, 10_000]);
    // Paused already: the next check only asks.
    t += 10_000;
    await s.run(await passWith([draining(1)], [(await registry.getMachine('10.0.0.1:5080'))!], []), ctx());
    expect(agents.calls.slice(3)).toEqual([`status ${node(1).nodeId}`]);
  });

  it('a failed rooms step pauses nothing (pins not known); rooms off means no pins', async () => {
    agents.set(node(1).nodeId, { sessions: 3 });
    await step().run(await passWith([draining(1)], [machine(1, { drain: { deadline: t + 60_000 } })], 'failed'), ctx());
    expect(agents.calls).toEqual([`status ${node(1).nodeId}`]);
    await step().run(await passWith([draining(1)], [machine(1, { drain: { deadline: t + 60_000 } })]), ctx());
    expect(agents.calls.slice(1)).toEqual([`status ${node(1).nodeId}`, `pause-inbound ${node(1).nodeId}`]);
  });

  it('at the deadline, hangup ends the calls with the drain\'s cause; the next check drains it on FreeSWITCH\'s count', async () => {
    agents.set(node(1).nodeId, { sessions: 3 });
    const s = step();
    const m = machine(1, { drain: { deadline: t, onDeadline: 'hangup', hangupCause: 'SYSTEM_SHUTDOWN' } });
    await s.run(await passWith([draining(1)], [m], ['sip:10.0.0.1:5080']), ctx());
    expect(agents.calls).toEqual([`status ${node(1).nodeId}`, `pause-inbound ${node(1).nodeId}`, `hangup-all SYSTEM_SHUTDOWN ${node(1).nodeId}`]);
    expect(audit.map((a) => `${a.kind} ${a.outcome} ${JSON.stringify(a.detail)}`)).toEqual([
      'pause done {"why":"deadline","machineId":"10.0.0.1:5080"}',
      'hangup done {"cause":"SYSTEM_SHUTDOWN","machineId":"10.0.0.1:5080"}',
    ]);
    t += 10_000;
    const pass = await passWith([draining(1)], [(await registry.getMachine('10.0.0.1:5080'))!], []);
    await s.run(pass, ctx());
    expect(pass.transitions).toEqual([{ nodeId: node(1).nodeId, to: 'drained', reason: 'freeswitch-count' }]);
    expect(await registry.get(node(1).nodeId)).toMatchObject({ state: 'drained', sessions: 0 });
  });

  it('at the deadline, keep cuts nothing and counts the drain in sbc_drains_past_deadline until it ends', async () => {
    agents.set(node(1).nodeId, { sessions: 3 });
    const s = step();
    const m = machine(1, { drain: { deadline: t, onDeadline: 'keep' } });
    await s.run(await passWith([draining(1)], [m], ['sip:10.0.0.1:5080']), ctx());
    expect(agents.calls).toEqual([`status ${node(1).nodeId}`]);
    expect((await metrics.registry.getSingleMetric('sbc_drains_past_deadline')!.get()).values[0]!.value).toBe(1);
    agents.set(node(1).nodeId, { sessions: 0 });
    t += 10_000;
    await s.run(await passWith([draining(1)], [m], []), ctx());
    expect((await metrics.registry.getSingleMetric('sbc_drains_past_deadline')!.get()).values[0]!.value).toBe(0);
  });

  it('a failed command is counted and audited, and tried again at the next check', async () => {
    agents.set(node(1).nodeId, { sessions: 3 });
    const failing = { ...agents, status: agents.status.bind(agents), hangupAll: agents.hangupAll.bind(agents), pauseInbound: () => Promise.reject(new Error('the agent of node x did not answer pause-inbound within 3000 ms')) };
    const s = drainChecksStep({ agents: failing, registry, membership, metrics, now: () => t, everyMs: 10_000, operations: { actor: 'leader:cp-1', log: { record: (e) => (audit.push(e), Promise.resolve({ ...e, id: 1 })) } } });
    await s.run(await passWith([draining(1)], [machine(1, { drain: { deadline: t + 60_000 } })], []), ctx());
    expect(audit.map((a) => `${a.kind} ${a.outcome}`)).toEqual(['pause failed']);
    expect((await metrics.registry.getSingleMetric('sbc_drain_actions_total')!.get()).values).toContainEqual(expect.objectContaining({ labels: { action: 'pause-inbound', outcome: 'failed' }, value: 1 }));
  });

  it('a drain lifted: the node the leader paused is resumed, the flag and the stale blocker cleared in this pass; a gone node\'s flag is only cleared', async () => {
    agents.set(node(1).nodeId, { inboundPaused: true });
    const pass = await passWith([node(1, { blockers: ['inbound-paused'], health: 'critical' }), node(2, { state: 'gone' })], [machine(1, { inboundPaused: true }), machine(2, { inboundPaused: true })]);
    await resumeStep().run(pass, ctx());
    // The table step that follows sees the node unblocked, not its last heartbeat's blocker.
    expect(pass.nodes[0]).toMatchObject({ blockers: [], health: 'healthy', rev: 2 });
    expect(await registry.get(node(1).nodeId)).toMatchObject({ blockers: [], health: 'healthy' });
    expect(agents.calls).toEqual([`resume-inbound ${node(1).nodeId}`]);
    expect(agents.facts(node(1).nodeId).inboundPaused).toBe(false);
    expect((await registry.getMachine('10.0.0.1:5080'))?.inboundPaused).toBeUndefined();
    expect((await registry.getMachine('10.0.0.2:5080'))?.inboundPaused).toBeUndefined();
    expect(audit.map((a) => `${a.kind} ${a.target}`)).toEqual([`resume ${node(1).nodeId}`]);
  });

  it('a resume whose agent is down keeps the flag, so the next pass tries again', async () => {
    agents.set(node(1).nodeId, { inboundPaused: true, silent: true });
    await resumeStep().run(await passWith([node(1)], [machine(1, { inboundPaused: true })]), ctx());
    expect((await registry.getMachine('10.0.0.1:5080'))?.inboundPaused).toBe(true);
    expect(wakes).toEqual([10_000]);
  });
});
