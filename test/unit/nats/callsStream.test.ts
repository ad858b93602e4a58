import { describe, expect, it } from 'vitest';
import { callsStreamConfig, callsStreamName, ensureCallsStream, streamConfigDrift, type JetStreamRequests } from '../../../src/nats/callsStream.js';

/** Records each JetStream API request and answers from a one-stream fake server. */
function fakeJs(existing?: Record<string, unknown>) {
  const calls: string[] = [];
  let config = existing;
  const js: JetStreamRequests = {
    request(subject, data) {
      calls.push(subject);
      const body = data.byteLength ? (JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>) : undefined;
      const answer = (o: object) => Promise.resolve(new TextEncoder().encode(JSON.stringify(o)));
      if (subject.startsWith('$JS.API.STREAM.INFO.')) return config ? answer({ config, state: { messages: 0 } }) : answer({ error: { code: 404, err_code: 10059, description: 'stream not found' } });
      config = body;
      return answer({ config });
    },
  };
  return { js, calls };
}

describe('the calls stream', () => {
  it('is named after the prefix and takes everything under {prefix}.calls.', () => {
    expect(callsStreamName('sbc')).toBe('SBC_CALLS');
    expect(callsStreamName('acme.sbc-eu')).toBe('ACME_SBC-EU_CALLS');
    expect(callsStreamConfig('acme.sbc')).toMatchObject({ name: 'ACME_SBC_CALLS', subjects: ['acme.sbc.calls.>'], storage: 'file', retention: 'limits', duplicate_window: 120_000_000_000 });
    expect(() => callsStreamConfig('sbc', { maxAgeMs: 1000, duplicateWindowMs: 2000 })).toThrow(/duplicateWindowMs/);
  });

  it('ensureCallsStream creates it when missing, does nothing when it matches, updates only what drifted', async () => {
    const fresh = fakeJs();
    expect(await ensureCallsStream(fresh.js, 'sbc')).toMatchObject({ action: 'created', name: 'SBC_CALLS' });
    expect(fresh.calls).toEqual(['$JS.API.STREAM.INFO.SBC_CALLS', '$JS.API.STREAM.CREATE.SBC_CALLS']);

    const same = fakeJs({ ...callsStreamConfig('sbc'), max_bytes: -1, sealed: false });
    expect(await ensureCallsStream(same.js, 'sbc')).toMatchObject({ action: 'unchanged' });
    expect(same.calls).toEqual(['$JS.API.STREAM.INFO.SBC_CALLS']);

    const old = fakeJs({ ...callsStreamConfig('sbc', { maxAgeMs: 3_600_000 }), max_bytes: 1e9 });
    expect(await ensureCallsStream(old.js, 'sbc')).toMatchObject({ action: 'updated', changed: ['max_age'] });
    expect(old.calls).toEqual(['$JS.API.STREAM.INFO.SBC_CALLS', '$JS.API.STREAM.UPDATE.SBC_CALLS']);
    expect(streamConfigDrift(callsStreamConfig('sbc'), { ...callsStreamConfig('sbc') })).toEqual([]);
  });
});
