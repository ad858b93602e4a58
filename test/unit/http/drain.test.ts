import { afterEach, describe, expect, it } from 'vitest';
import type { DrainEffect } from '../../../src/http/routes/drains.js';
import type { OperationEntry } from '../../../src/ports/operationLog.js';
import { CALLS_NOW, fakes, testApp, type TestApp } from './harness.js';

const node1 = '00000000-0000-4000-8000-000000000001';
const node2 = '00000000-0000-4000-8000-000000000002';
const json = { 'content-type': 'application/json' };

/** What the routes asked of the reconciler. */
const effect = (applied = true) => {
  const calls = { changed: 0, waited: [] as number[] };
  const e: DrainEffect = {
    changed: () => void (calls.changed += 1),
    applied: (ms) => {
      calls.waited.push(ms);
      return Promise.resolve(applied);
    },
    defaultDeadlineMs: 3_600_000,
  };
  return { e, calls };
};

describe('POST /v1/nodes/{id}/drain, /undrain', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.app.close();
    t = undefined;
  });

  it('drain writes the intent on the node\'s machine, has the leader apply it, and answers after its pass', async () => {
    const f = await fakes();
    const { e, calls } = effect();
    t = await testApp({ drains: e }, f);
    const res = await t.app.inject({ method: 'POST', url: `/v1/nodes/${node1}/drain`, headers: json, payload: { deadline: '2026-12-02T06:00:00Z' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ node: { nodeId: node1, machineId: '10.0.0.1:5080' }, drain: { deadline: '2026-12-02T06:00:00.000Z' }, remainingCalls: 0, applied: true });
    expect(await f.registry.getMachine('10.0.0.1:5080')).toMatchObject({ machineId: '10.0.0.1:5080', slot: 1, nodeId: node1, drain: { deadline: Date.UTC(2026, 11, 2, 6) } });
    expect(calls).toEqual({ changed: 1, waited: [5000] });
  });

  it('without a deadline the default one; an empty body is one too', async () => {
    const f = await fakes();
    t = await testApp({ drains: effect().e }, f);
    const res = await t.app.inject({ method: 'POST', url: `/v1/nodes/${node1}/drain`, headers: json, payload: {} });
    expect(res.json<{ drain: { deadline: string } }>().drain.deadline).toBe(new Date(CALLS_NOW + 3_600_000).toISOString());
  });

  it('undrain lifts it and keeps the rest of the machine\'s intent (its slot, a cordon)', async () => {
    const f = await fakes();
    await f.registry.putMachine({ machineId: '10.0.0.1:5080', slot: 1, nodeId: node1, cordoned: true, drain: { deadline: CALLS_NOW + 1000 }, rev: 3 }, undefined);
    t = await testApp({ drains: effect().e }, f);
    const res = await t.app.inject({ method: 'POST', url: `/v1/nodes/${node1}/undrain` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ drain: null, applied: true });
    expect(await f.registry.getMachine('10.0.0.1:5080')).toEqual({ machineId: '10.0.0.1:5080', slot: 1, nodeId: node1, cordoned: true, rev: 4 });
  });

  it('a follower writes the intent and says it is not applied yet', async () => {
    t = await testApp({ drains: effect(false).e });
    const res = await t.app.inject({ method: 'POST', url: `/v1/nodes/${node1}/drain`, headers: json, payload: {} });
    expect(res.json()).toMatchObject({ applied: false });
  });

  it('404 for an unknown node, 409 for a gone one, 400 for a deadline in the past or an unknown field', async () => {
    t = await testApp({ drains: effect().e });
    const post = async (id: string, payload: object) => {
      const r = await t!.app.inject({ method: 'POST', url: `/v1/nodes/${id}/drain`, headers: json, payload });
      return [r.statusCode, r.json<{ error: string }>().error];
    };
    expect(await post('00000000-0000-4000-8000-0000000000ff', {})).toEqual([404, 'not-found']);
    expect(await post(node2, {})).toEqual([409, 'conflict']);
    expect(await post(node1, { deadline: '2026-12-01T00:00:00Z' })).toEqual([400, 'bad-request']);
    expect(await post(node1, { deadline: 'tomorrow' })).toEqual([400, 'bad-request']);
    expect(await post(node1, { onDeadline: 'cut' })).toEqual([400, 'bad-request']);
    expect(await post(node1, { hangupCause: 'MANAGER_REQUEST' })).toEqual([400, 'bad-request']);
    expect(await post(node1, { onDeadline: 'hangup', hangupCause: 'NORMAL_CLEARING; fsctl shutdown' })).toEqual([400, 'bad-request']);
    expect(await post(node1, { extra: 1 })).toEqual([400, 'bad-request']);
    expect(await post('no-such-machine', {})).toEqual([404, 'not-found']);
  });

  it('addressed by machine id (what a preStop hook knows): the machine\'s live node is drained, with onDeadline and its cause, and the call is audited', async () => {
    const f = await fakes();
    t = await testApp({ drains: effect().e }, f);
    const audit = (): OperationEntry[] => f.operations.rows.map(({ id: _id, ...e }) => e);
    const res = await t.app.inject({ method: 'POST', url: '/v1/nodes/10.0.0.1:5080/drain', headers: json, payload: { deadline: '2026-12-02T06:00:00Z', onDeadline: 'hangup', hangupCause: 'SYSTEM_SHUTDOWN' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      node: { nodeId: node1 },
      drain: { deadline: '2026-12-02T06:00:00.000Z', onDeadline: 'hangup', hangupCause: 'SYSTEM_SHUTDOWN', since: new Date(CALLS_NOW).toISOString(), by: 'operator' },
      remainingRooms: [],
      pinnedRooms: 0,
      inboundPaused: false,
    });
    expect((await f.registry.getMachine('10.0.0.1:5080'))?.drain).toEqual({ deadline: Date.UTC(2026, 11, 2, 6), onDeadline: 'hangup', hangupCause: 'SYSTEM_SHUTDOWN', since: CALLS_NOW, startSessions: 0, by: 'operator' });
    expect(audit()).toEqual([{ kind: 'drain', actor: 'api:127.0.0.1', target: node1, outcome: 'requested', at: CALLS_NOW, detail: { machineId: '10.0.0.1:5080', deadline: '2026-12-02T06:00:00.000Z', onDeadline: 'hangup', hangupCause: 'SYSTEM_SHUTDOWN' } }]);
    const undrain = await t.app.inject({ method: 'POST', url: '/v1/nodes/10.0.0.1:5080/undrain' });
    expect(undrain.json()).toMatchObject({ drain: null });
    expect(audit().map((a) => a.kind)).toEqual(['drain', 'undrain']);
    const listed = await t.app.inject({ method: 'GET', url: '/v1/operations?target=' + node1 });
    expect(listed.json<{ operations: { kind: string }[] }>().operations.map((o) => o.kind)).toEqual(['undrain', 'drain']);
  });

  it('asked again while draining: the new terms, but it began when it first did (the estimate keeps its start)', async () => {
    const f = await fakes();
    await f.registry.putMachine({ machineId: '10.0.0.1:5080', slot: 1, nodeId: node1, drain: { deadline: CALLS_NOW + 1000, since: CALLS_NOW - 60_000, startSessions: 40 }, rev: 1 }, undefined);
    t = await testApp({ drains: effect().e }, f);
    await t.app.inject({ method: 'POST', url: `/v1/nodes/${node1}/drain`, headers: json, payload: { deadline: '2026-12-02T06:00:00Z' } });
    expect((await f.registry.getMachine('10.0.0.1:5080'))?.drain).toMatchObject({ deadline: Date.UTC(2026, 11, 2, 6), since: CALLS_NOW - 60_000, startSessions: 40 });
  });
});

describe('GET /v1/nodes/{id}/drain', () => {
  it('shows the calls and rooms left, the pins to it and the estimated end', async () => {
    const f = await fakes();
    const n = (await f.registry.get(node1))!;
    await f.registry.put({ ...n, state: 'draining', sessions: 30, rev: n.rev + 1 }, n.rev);
    // 40 calls when it began 60 s ago, 30 now: one every 6 s, 180 s to go.
    await f.registry.putMachine({ machineId: '10.0.0.1:5080', slot: 1, nodeId: node1, drain: { deadline: CALLS_NOW + 3_600_000, since: CALLS_NOW - 60_000, startSessions: 40 }, inboundPaused: true, rev: 1 }, undefined);
    const half = (nodeId: string, members: number) => ({ nodeId, conferenceUuid: '11111111-2222-4333-8444-555555555555', members, links: 0, seq: 1, at: CALLS_NOW });
    await f.rooms.recordHalf('3001', half(node1, 4));
    await f.rooms.recordHalf('3002', half(node2, 2));
    await f.rooms.recordHalf('3000', half(node1, 1));
    await f.rooms.recordPin('3001', { key: '3001', uri: 'sip:10.0.0.1:5080', at: CALLS_NOW, by: 'k1' });
    await f.rooms.recordPin('3002', { key: '3002', uri: 'sip:10.0.0.2:5080', at: CALLS_NOW, by: 'k1' });
    const t = await testApp({ drains: effect().e }, f);
    const res = await t.app.inject({ method: 'GET', url: `/v1/nodes/${node1}/drain` });
    await t.app.close();
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      node: { state: 'draining' },
      drain: { onDeadline: 'keep' },
      remainingCalls: 30,
      remainingRooms: ['3000', '3001'],
      pinnedRooms: 1,
      inboundPaused: true,
      estimatedEnd: new Date(CALLS_NOW + 180_000).toISOString(),
      applied: true,
    });
  });
});

describe('POST /v1/nodes/{id}/drain without a body', () => {
  it('takes the default deadline', async () => {
    const t = await testApp({ drains: effect().e });
    const res = await t.app.inject({ method: 'POST', url: `/v1/nodes/${node1}/drain` });
    await t.app.close();
    expect([res.statusCode, res.json<{ drain: unknown }>().drain]).toEqual([200, { deadline: new Date(CALLS_NOW + 3_600_000).toISOString(), onDeadline: 'keep', since: new Date(CALLS_NOW).toISOString(), by: 'operator' }]);
  });
});
