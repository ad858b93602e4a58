import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { consumeMembershipNotices, publishMembershipNotice } from '../../../src/nats/membershipNotices.js';
import { FakeMessageBus } from '../../fakes/fakeMessageBus.js';
import { silentLogger } from '../../fakes/silentLogger.js';

const SUBJECT = 'sbc.control.membership';

describe('membership notices between replicas', () => {
  it('every replica hears each notice (no queue group), urgent or not; anything else is refused and counted', async () => {
    const bus = new FakeMessageBus();
    const metrics = createMetrics();
    const heard: string[] = [];
    const subs = ['a', 'b'].map((r) => consumeMembershipNotices(bus, SUBJECT, (urgent) => heard.push(`${r} ${urgent}`), { metrics, logger: silentLogger }));
    publishMembershipNotice(bus, SUBJECT, true);
    publishMembershipNotice(bus, SUBJECT, false);
    bus.publish(SUBJECT, new TextEncoder().encode('{"urgent":true}'));
    bus.publish(SUBJECT, new Uint8Array(1024 * 1024));
    await Promise.all(subs.map((s) => s.drain()));
    expect(heard.sort()).toEqual(['a false', 'a true', 'b false', 'b true']);
    const rejected = (await metrics.registry.getSingleMetric('sbc_nats_messages_rejected_total')?.get())?.values.map((v) => [v.labels.reason, v.value]);
    expect(rejected).toEqual([['schema', 4]]);
  });
});
