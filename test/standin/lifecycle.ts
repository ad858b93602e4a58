import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

/**
 * Timing facts of a real FreeSWITCH's start and stop (measured on 1.11.3, see the README), and
 * the port reservation that lets the stand-in name its ports before it listens on them.
 */

/** The event socket refuses connections for about 2 s after the process starts (mod_event_socket's
 * listener runs once every module is loaded); the restart capture connected about 2 s after start. */
export const ESL_READY_DELAY_MS = 2000;

/**
 * `fsctl shutdown` only sets runtime.running = 0; switch_core_runtime_loop() sleeps in 1 s steps
 * and notices on its next wake-up, then switch_core_destroy() fires SHUTDOWN. Measured: SHUTDOWN
 * 0.2 to 1.05 s after the command (the capture: 240 ms between the API event and SHUTDOWN).
 */
export const SHUTDOWN_DELAY_RANGE_MS: readonly [min: number, max: number] = [200, 1050];

/** mulberry32: a small seedable generator, so a test can replay the same shutdown delays. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One delay between `fsctl shutdown` and SHUTDOWN, uniform over the measured range. */
export function drawShutdownDelayMs(random: () => number): number {
  const [min, max] = SHUTDOWN_DELAY_RANGE_MS;
  return Math.round(min + random() * (max - min));
}

/**
 * A loopback port for a listener that opens later: the given one, or (for 0) one the OS hands out
 * now and that is released at once. Between release and listen another process could take it.
 * That race is accepted here: the stand-in runs on loopback in tests, the OS does not hand the same
 * ephemeral port out again straight away, and a lost race shows up as EADDRINUSE from `ready`,
 * not as a silent misroute.
 */
export async function reservePort(kind: 'tcp' | 'udp', port: number, host = '127.0.0.1'): Promise<number> {
  if (port !== 0) return port;
  if (kind === 'tcp') {
    return new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, host, () => {
        const addr = srv.address();
        srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
      });
    });
  }
  return new Promise<number>((resolve, reject) => {
    const sock = createSocket('udp4');
    sock.once('error', reject);
    sock.bind(0, host, () => {
      const p = sock.address().port;
      sock.close(() => resolve(p));
    });
  });
}
