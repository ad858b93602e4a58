import { connect, type Authenticator, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';

/** The agent's narrow view of the message bus. */
export interface AgentBus {
  /** Queues one message; the client buffers it through a reconnect. Throws once closed. */
  publish(subject: string, data: Uint8Array): void;
  /** `reply` is the request's reply subject, when the sender asked for an answer. */
  subscribe(subject: string, onMessage: (data: Uint8Array, reply: string | undefined) => void): { unsubscribe(): void };
  /** Waits until the server has everything published so far; false on timeout or error. */
  flush(timeoutMs: number): Promise<boolean>;
}

export function natsBus(nc: NatsConnection): AgentBus {
  return {
    publish: (subject, data) => nc.publish(subject, data),
    subscribe(subject, onMessage) {
      const sub = nc.subscribe(subject, {
        callback: (err, msg) => {
          if (!err) onMessage(msg.data, msg.reply || undefined);
        },
      });
      return { unsubscribe: () => sub.unsubscribe() };
    },
    flush: (timeoutMs) => withTimeout(nc.flush(), timeoutMs),
  };
}

/** Resolves true when `work` settles in time without error, false otherwise; never rejects. */
export async function withTimeout(work: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([work.then(() => true, () => false), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reconnect delay that grows with the length of the outage (a blip retries quickly, a long
 * outage does not hammer the server) and is capped; jitter spreads a fleet of agents.
 */
export function reconnectDelay(outageMs: number, random: number, capMs = 5000): number {
  const base = Math.min(capMs, Math.max(250, outageMs / 2));
  return Math.round(base * (0.8 + 0.4 * random));
}

/**
 * Connects for good: waits for the first connection however long it takes, then
 * reconnects forever. Disconnects and reconnects are logged.
 */
export async function connectNats(url: string, name: string, logger: Logger, authenticator?: Authenticator, opts: { readonly inboxPrefix?: string } = {}): Promise<NatsConnection> {
  let outageSince = Date.now();
  const nc = await connect({
    servers: url,
    name,
    ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
    ...(authenticator ? { authenticator } : {}),
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    reconnectDelayHandler: () => reconnectDelay(Date.now() - outageSince, Math.random()),
    timeout: 5000,
    pingInterval: 10_000,
    maxPingOut: 2,
  });
  logger.info({ server: nc.getServer() }, 'NATS connected');
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        outageSince = Date.now();
        logger.warn({ server: s.server }, 'NATS disconnected; reconnecting');
      } else if (s.type === 'reconnect') {
        logger.info({ server: s.server, outageMs: Date.now() - outageSince }, 'NATS reconnected');
      } else if (s.type === 'error') {
        logger.error({ err: s.error }, 'NATS error');
      }
    }
  })().catch((err: unknown) => logger.error({ err }, 'NATS status watcher failed'));
  return nc;
}

/** Drains (flushes publishes, ends subscriptions) within a bound, then closes regardless. */
export async function closeNats(nc: NatsConnection, timeoutMs: number, logger: Logger): Promise<void> {
  if (nc.isClosed()) return;
  const drained = await withTimeout(nc.drain(), timeoutMs);
  if (!drained) {
    logger.warn({ timeoutMs }, 'NATS drain did not finish in time; closing');
    await withTimeout(nc.close(), 1000);
  }
}
