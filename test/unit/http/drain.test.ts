import { afterEach, describe, expect, it } from 'vitest';
import type { DrainEffect } from '../../../src/http/routes/nodes.js';
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
    expect(await post(node1, { onDeadline: 'hangup' })).toEqual([400, 'bad-request']);
  });
});

describe('POST /v1/nodes/{id}/drain without a body', () => {
  it('takes the default deadline', async () => {
    const t = await testApp({ drains: effect().e });
    const res = await t.app.inject({ method: 'POST', url: `/v1/nodes/${node1}/drain` });
    await t.app.close();
    expect([res.statusCode, res.json<{ drain: unknown }>().drain]).toEqual([200, { deadline: new Date(CALLS_NOW + 3_600_000).toISOString() }]);
  });
});
