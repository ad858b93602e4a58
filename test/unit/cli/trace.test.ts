import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../../src/cli/run.js';
import { bridgedCall, CALL_ID, DECISION, LEG_A, LEG_B } from '../calls/fixtures.js';
import { CALLS_NOW, fakes, testApp, type TestApp } from '../http/harness.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.app.close();
  t = undefined;
});

async function sbcctl(argv: readonly string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env: {} });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/** The real API over fakes, listening, holding the bridged call of the fixtures 60 s before now. */
async function world(): Promise<string> {
  const f = await fakes();
  await f.calls.append(bridgedCall((CALLS_NOW - 60_000) * 1000));
  t = await testApp({}, f);
  return t.app.listen({ port: 0, host: '127.0.0.1' });
}

describe('sbcctl trace <id>', () => {
  it('prints the call as a timeline: routing attempts, then legs as rows with times after the first event, nodes and causes', async () => {
    const url = await world();
    const r = await sbcctl(['trace', CALL_ID, '--url', url]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      `call ${CALL_ID}: 2 legs on 1 node, 1 routing decision, 0.009 s from 2026-12-02T04:59:00.000000Z`,
      '',
      'routing:',
      'AT      KAMAILIO  DECISION                       KIND     PIN   WHAT',
      `+0.000  kam-a     ${DECISION}  general  none  attempt 1  set 1 alg 4  -> sip:10.0.0.2:5060`,
      `+0.001  kam-a     ${DECISION}  general  none  attempt 2  after 503  set 1 alg 4  -> sip:10.0.0.1:5060`,
      '',
      'legs:',
      'LEG       NODE      DIR  CALL-ID                               FROM  TO    ROOM  START   ANSWER  BRIDGE  END     CAUSE',
      `a0000000  f1000000  in   ${CALL_ID}                           1000  8000  -     +0.001  +0.005  +0.005  +0.009  NORMAL_CLEARING (200)`,
      `b0000000  f1000000  out  ${LEG_B}  1000  8000  -     +0.002  +0.005  -       +0.009  NORMAL_CLEARING (200)`,
      '',
      'joined by:',
      '  a0000000 - b0000000: call-uuid, other-leg',
      '',
    ]);
  });

  it('--json prints the API\'s answer; an unknown id is the API\'s 404, exit 1', async () => {
    const url = await world();
    const r = await sbcctl(['--json', 'trace', LEG_A, '--url', url]);
    expect(JSON.parse(r.stdout)).toEqual((await t!.app.inject(`/v1/calls/${LEG_A}`)).json());
    const missing = await sbcctl(['trace', 'nobody@nowhere', '--url', url]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no call event names nobody@nowhere');
  });

  it('calls: recent legs, newest first', async () => {
    const url = await world();
    const r = await sbcctl(['calls', '--url', url]);
    expect(r.stdout.split('\n').slice(0, 3)).toEqual([
      'STARTED                      LEG       NODE      DIR  CALL-ID                               FROM  TO    ROOM  CAUSE',
      `2026-12-02T04:59:00.002000Z  b0000000  f1000000  out  ${LEG_B}  1000  8000  -     NORMAL_CLEARING`,
      `2026-12-02T04:59:00.001000Z  a0000000  f1000000  in   ${CALL_ID}                           1000  8000  -     NORMAL_CLEARING`,
    ]);
  });
});
