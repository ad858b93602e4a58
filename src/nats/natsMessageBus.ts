import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { BusSubscription, MessageBus } from '../ports/messageBus.js';

/** The MessageBus port on a NATS connection. */
export function natsMessageBus(nats: NatsConnection, logger: Logger): MessageBus {
  return {
    publish: (subject, data) => nats.publish(subject, data),
    consume(subject, options, handle): BusSubscription {
      const sub = nats.subscribe(subject, options.queue === undefined ? {} : { queue: options.queue });
      // One message at a time, in order: the handler's registry writes are per-node CAS
      // loops, and ordering keeps one node's seq checks cheap.
      const done = (async () => {
        for await (const m of sub) {
          try {
            await handle({ subject: m.subject, data: m.data });
          } catch (err) {
            logger.error({ err, subject: m.subject }, 'message handler failed');
          }
        }
      })();
      return {
        async drain() {
          if (!sub.isClosed()) await sub.drain();
          await done;
        },
      };
    },
  };
}
