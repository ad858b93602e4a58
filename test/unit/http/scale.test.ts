import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryScaleTargetStore } from '../../fakes/inMemoryScaleTargetStore.js';
import { CALLS_NOW, fakes, testApp, type TestApp } from './harness.js';

const json = { 'content-type': 'application/json' };

describe('POST/GET /v1/scale', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.app.close();
    t = undefined;
  });

  const scaleDeps = (provisioner: 'none' | 'command' = 'command') => {
    const targets = new InMemoryScaleTargetStore();
    const seen = { changed: 0 };
    return { targets, seen, deps: { targets, provisioner, minReplicas: 1, maxReplicas: 10, changed: () => void (seen.changed += 1) } };
  };

  it('sets the target, has the leader reconcile, audits it and answers 202 with the pool', async () => {
    const f = await fakes();
    const s = scaleDeps();
    t = await testApp({ scale: s.deps }, f);
    const res = await t.app.inject({ method: 'POST', url: '/v1/scale', headers: json, payload: { replicas: 4 } });
    expect(res.statusCode).toBe(202);
    const body = res.json<{ target: unknown; provisioner: string; serving: number; nodes: unknown[]; settled: boolean; lastProvision: unknown }>();
    expect(body).toMatchObject({ target: { replicas: 4, requestedAt: new Date(CALLS_NOW).toISOString(), by: 'api:127.0.0.1' }, provisioner: 'command', settled: false, lastProvision: null });
    expect(body.nodes.length).toBe(body.serving);
    expect(s.targets.target).toEqual({ replicas: 4, requestedAt: CALLS_NOW, by: 'api:127.0.0.1' });
    expect(s.seen.changed).toBe(1);
    // A second request is merged: the latest target wins, the previous one is in the audit.
    await t.app.inject({ method: 'POST', url: '/v1/scale', headers: json, payload: { replicas: 2 } });
    expect(s.targets.target?.replicas).toBe(2);
    expect(f.operations.rows.map((o) => [o.kind, o.target, o.outcome, o.detail])).toEqual([
      ['scale', 'pool', 'requested', { replicas: 4 }],
      ['scale', 'pool', 'requested', { replicas: 2, previous: 4 }],
    ]);
  });

  it('400 outside SBC_SCALE_MIN/MAX_REPLICAS or for a bad body; 409 without scaling, or up without a provisioner', async () => {
    const f = await fakes();
    const s = scaleDeps('none');
    t = await testApp({ scale: s.deps }, f);
    const post = async (payload: unknown) => {
      const r = await t!.app.inject({ method: 'POST', url: '/v1/scale', headers: json, payload: payload as object });
      return [r.statusCode, r.json<{ error: string }>().error];
    };
    expect(await post({ replicas: 0 })).toEqual([400, 'bad-request']);
    expect(await post({ replicas: 11 })).toEqual([400, 'bad-request']);
    expect(await post({ replicas: 2.5 })).toEqual([400, 'bad-request']);
    expect(await post({ replicas: 2, force: true })).toEqual([400, 'bad-request']);
    expect(await post({ replicas: 9 })).toEqual([409, 'conflict']);
    expect(s.targets.target).toBeUndefined();
    expect(await post({ replicas: 1 })).toEqual([202, undefined]);
    await t.app.close();
    t = await testApp({}, f);
    expect(await post({ replicas: 1 })).toEqual([409, 'conflict']);
  });

  it('GET shows the last provisioner request from the audit log', async () => {
    const f = await fakes();
    await f.operations.record({ kind: 'provision', actor: 'leader:cp-a', target: 'pool', outcome: 'failed', detail: { provisioner: 'command', error: 'exit 4' }, at: CALLS_NOW - 1000 });
    t = await testApp({ scale: scaleDeps().deps }, f);
    const res = await t.app.inject('/v1/scale');
    expect(res.json()).toMatchObject({ target: null, settled: true, lastProvision: { at: new Date(CALLS_NOW - 1000).toISOString(), outcome: 'failed', detail: { error: 'exit 4' } } });
  });
});
