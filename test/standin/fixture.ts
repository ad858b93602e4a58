import { afterEach } from 'vitest';
import { startStandin, type Standin, type StandinOptions } from './standin.js';

/** For tests that do not care about start-up or shutdown timing (lifecycle.test.ts does). */
export const QUICK: StandinOptions = { toneMs: 200, eslReadyDelayMs: 0, shutdownDelayMs: 0 };

/**
 * Stand-ins and client sockets for one test file, all stopped after each test.
 * Call once at the top level of the file.
 */
export function useStandins(defaults: StandinOptions = QUICK) {
  const running: Standin[] = [];
  const closers: { close(): void }[] = [];
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
    closeLater: <T extends { close(): void }>(c: T): T => {
      closers.push(c);
      return c;
    },
  };
}
