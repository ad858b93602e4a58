import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

/**
 * A loopback port that is free for both TCP and UDP right now (SIP listens on both).
 * Racy by nature, like every free-port helper; callers retry start-up on EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const sock = createSocket('udp4');
      sock.once('error', () => resolve(false));
      sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
    });
    if (port > 0 && udpFree) return port;
  }
  throw new Error('no free loopback port found after 20 attempts');
}
