import { afterEach } from 'vitest';
import { startStandin, type Standin, type StandinOptions } from './standin.js';
import { EslTestClient, SipTestUac } from './test-clients.js';

/** The output of one `api` command. */
export const api = async (c: EslTestClient, cmd: string): Promise<string> => (await c.command(`api ${cmd}`, 'api/response')).body.toString();

/** For tests that do not care about start-up or shutdown timing (lifecycle.test.ts does). */
export const QUICK: StandinOptions = { toneMs: 200, eslReadyDelayMs: 0, shutdownDelayMs: 0 };

/**
 * Stand-ins and client sockets for one test file, all stopped after each test.
 * Call once at the top level of the file.
 */
export function useStandins(defaults: StandinOptions = QUICK) {
  const running: Standin[] = [];
  const closers: { close(): void }[] = [];
  const closeLater = <T extends { close(): void }>(c: T): T => {
    closers.push(c);
    return c;
  };
  afterEach(async () => {
    for (const c of closers.splice(0)) c.close();
    for (const s of running.splice(0)) await s.stop();
  });
  return {
    standin: async (opts: StandinOptions = {}): Promise<Standin> => {
      const s = await startStandin({ ...defaults, ...opts });
      running.push(s);
      return s;
    },
    closeLater,
    /** An authenticated ESL client (optionally subscribed), closed after the test. */
    client: async (s: Standin, sub?: string): Promise<EslTestClient> => closeLater(await EslTestClient.ready(s.eslPort, s.password, sub)),
    /** A call to the stand-in that is answered and acknowledged: up until BYE. */
    answeredCall: async (s: Standin): Promise<SipTestUac> => {
      const u = closeLater(await SipTestUac.open(s.sipPort));
      u.invite();
      await u.response(200);
      u.ack();
      return u;
    },
  };
}
