import type { Logger } from 'pino';
import type { Metrics } from '../metrics/metrics.js';
import type { BusSubscription, MessageBus } from '../ports/messageBus.js';

/**
 * `{prefix}.control.membership`: a replica that applied a membership change tells every
 * replica (no queue group), because the queue group hands each node message to one
 * replica, most often a follower, and only the leader reconciles. The body is the whole
 * message: `urgent` (something must leave routing) or `change`. It only triggers a pass,
 * which reads the real state itself, so a stray notice costs at most one pass; anything
 * else is refused (`schema`), counted and logged. Only control planes may publish here
 * (src/nats/auth.ts).
 */
const URGENT = 'urgent';
const CHANGE = 'change';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function publishMembershipNotice(bus: MessageBus, subject: string, urgent: boolean): void {
  bus.publish(subject, encoder.encode(urgent ? URGENT : CHANGE));
}

export function consumeMembershipNotices(
  bus: MessageBus,
  subject: string,
  onNotice: (urgent: boolean) => void,
  deps: { readonly metrics: Pick<Metrics, 'natsRejected'>; readonly logger: Logger },
): BusSubscription {
  return bus.consume(subject, {}, (m) => {
    const body = m.data.byteLength <= 16 ? decoder.decode(m.data) : '';
    if (body === URGENT || body === CHANGE) onNotice(body === URGENT);
    else {
      deps.metrics.natsRejected.inc({ reason: 'schema' });
      deps.logger.warn({ subject: m.subject, bytes: m.data.byteLength }, 'membership notice refused: its body is neither "urgent" nor "change"');
    }
    return Promise.resolve();
  });
}
