import { describe, expect, it } from 'vitest';
import { checkReloadDelta, reloadDeltaFromDefines, type KamailioDefines } from '../../../src/config/kamailioReloadDelta.js';

/** Part of a real Kamailio 5.6.3 answer to core.ppdefines_full (kamailio.cfg, SBC_DS_RELOAD_DELTA=3). */
const answer = (value: string) => [
  { name: 'KAMAILIO_5_6_3', type: 0, value: 'none' },
  { name: 'RPC_PORT', type: 0, value: '38057' },
  { name: 'DB_URL', type: 0, value: '"postgres://postgres@127.0.0.1:5432/sbc"' },
  { name: 'RELOAD_DELTA', type: 0, value },
  { name: 'MOD_dispatcher', type: 0, value: 'none' },
];

const kamailio = (name: string, answerOrError: unknown): KamailioDefines => ({
  name,
  call: (method) => {
    if (method !== 'core.ppdefines_full') return Promise.reject(new Error(`unexpected ${method}`));
    return answerOrError instanceof Error ? Promise.reject(answerOrError) : Promise.resolve(answerOrError);
  },
});

describe('reading reload_delta from a Kamailio', () => {
  it('reads the RELOAD_DELTA define, in whole seconds', () => {
    expect(reloadDeltaFromDefines(answer('3'))).toBe(3);
    expect(reloadDeltaFromDefines(answer('0'))).toBe(0);
    expect(reloadDeltaFromDefines(answer('3').filter((d) => d.name !== 'RELOAD_DELTA'))).toBeUndefined();
  });

  it('refuses to guess at an answer of another shape', () => {
    expect(() => reloadDeltaFromDefines({ RELOAD_DELTA: '3' })).toThrow(/not a list/);
    expect(() => reloadDeltaFromDefines(answer('1.5'))).toThrow(/RELOAD_DELTA="1.5" is not a whole number/);
    expect(() => reloadDeltaFromDefines(answer('"2"'))).toThrow(/not a whole number/);
  });
});

describe('checkReloadDelta', () => {
  it('a Kamailio whose window is longer than SBC_RELOAD_DELTA_MS is a problem naming it and the fix; equal or shorter is fine', async () => {
    const r = await checkReloadDelta([kamailio('http://a/RPC', answer('1')), kamailio('http://b/RPC', answer('3')), kamailio('http://c/RPC', answer('2'))], 2000);
    expect(r.problems).toEqual([
      'SBC_RELOAD_DELTA_MS (2000) is shorter than the dispatcher reload_delta of the Kamailio at http://b/RPC (3 s, its SBC_DS_RELOAD_DELTA): set SBC_RELOAD_DELTA_MS to at least 3000, or lower that Kamailio\'s',
    ]);
    expect(r.unverified).toEqual([]);
  });

  it('lists every Kamailio that disagrees, in the configured order', async () => {
    const slowFirst: KamailioDefines = { name: 'http://a/RPC', call: () => new Promise((resolve) => setImmediate(() => resolve(answer('5')))) };
    const r = await checkReloadDelta([slowFirst, kamailio('http://b/RPC', answer('4'))], 1000);
    expect(r.problems.map((p) => /at (\S+)/.exec(p)?.[1])).toEqual(['http://a/RPC', 'http://b/RPC']);
  });

  it('a Kamailio that cannot be asked, or defines no RELOAD_DELTA, is unverified, not a reason to refuse', async () => {
    const r = await checkReloadDelta([kamailio('http://down/RPC', new Error('no answer: ECONNREFUSED')), kamailio('http://custom/RPC', answer('1').slice(0, 2))], 1000);
    expect(r.problems).toEqual([]);
    expect(r.unverified).toEqual([
      { kamailio: 'http://down/RPC', why: 'no answer: ECONNREFUSED' },
      { kamailio: 'http://custom/RPC', why: 'its configuration defines no RELOAD_DELTA' },
    ]);
  });
});
