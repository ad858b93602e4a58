import { describe, expect, it } from 'vitest';
import { instrumented } from '../../../src/kamailio/instrumented.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { FakeStore } from '../../fakes/fakeDispatcherStore.js';
import { FakeKamailio } from '../../fakes/fakeKamailio.js';

const values = async (m: ReturnType<typeof createMetrics>, name: string) =>
  ((await m.registry.getSingleMetric(name)?.get())?.values ?? []).map((v) => ({
    method: String(v.labels.method),
    outcome: String(v.labels.outcome),
    value: v.value,
    metric: (v as { metricName?: string }).metricName,
  }));

describe('instrumented Kamailio RPC: every call counted by outcome and timed', () => {
  it('counts each port operation under the JSON-RPC method it sends, with its outcome', async () => {
    const metrics = createMetrics();
    const fake = new FakeKamailio('http://k1/RPC', new FakeStore(new Set([1])), 1000, () => performance.now());
    const k = instrumented(fake, metrics);
    await k.list();
    await k.reload();
    await expect(k.reload()).rejects.toThrow(/Ongoing reload/);
    await k.setState('i', 1, 'sip:10.0.0.1:5080');
    await k.htableSet('cascade', '3000', 3);
    await k.htableSet('cascade', '3001', '2');
    await k.htableDump('cascade');
    expect(await k.htableDelete('cascade', 'none')).toBe(false);
    await expect(k.htableDump('nosuch')).rejects.toThrow(/No such htable/);
    await expect(k.call('dispatcher.nosuch')).rejects.toThrow(/Method Not Found/);
    fake.down = true;
    await expect(k.list()).rejects.toThrow(/ECONNREFUSED/);
    await expect(k.listSockets()).rejects.toThrow(/ECONNREFUSED/);

    const counted = (await values(metrics, 'sbc_kamailio_rpc_total')).map((v) => `${v.method} ${v.outcome} ${v.value}`).sort();
    expect(counted).toEqual(
      [
        'corex.list_sockets unreachable 1',
        'dispatcher.list ok 1',
        'dispatcher.list unreachable 1',
        'dispatcher.nosuch error 1',
        'dispatcher.reload ok 1',
        'dispatcher.reload pending 1',
        'dispatcher.set_state ok 1',
        'htable.delete ok 1',
        'htable.dump error 1',
        'htable.dump ok 1',
        'htable.seti ok 1',
        'htable.sets ok 1',
      ].sort(),
    );
    const timed = (await values(metrics, 'sbc_kamailio_rpc_duration_seconds'))
      .filter((v) => v.metric === 'sbc_kamailio_rpc_duration_seconds_count')
      .map((v) => `${v.method} ${v.value}`)
      .sort();
    expect(timed).toContain('dispatcher.reload 2');
    expect(timed).toContain('dispatcher.list 2');
    expect(timed).toHaveLength(9);
    expect(fake.calls).toContain('htable.delete cascade none');
  });
});
