import type { Logger } from 'pino';
import { decodePinMessage } from '../events/pins.js';
import type { Metrics } from '../metrics/metrics.js';
import type { BusSubscription, MessageBus } from '../ports/messageBus.js';
import type { RoomRegistry } from '../ports/roomRegistry.js';
import { QUEUE_GROUP } from './queueGroup.js';

/**
 * Pins Kamailio made (`{prefix}.kamailio.pins`, events/pins.ts), recorded in the room table
 * by one replica of the queue group. A pin is a fact: the leader decides from it in its
 * next pass (confirmed by a conference, or dropped after the grace), so this only asks for
 * a pass that need not hurry. Anything malformed is refused, counted
 * (`sbc_pin_messages_total{outcome="rejected-<reason>"}`) and logged.
 */
export function consumePinMessages(
  bus: MessageBus,
  subject: string,
  deps: { readonly rooms: RoomRegistry; readonly metrics: Pick<Metrics, 'pinMessages'>; readonly logger: Logger; readonly onPin: () => void },
): BusSubscription {
  return bus.consume(subject, { queue: QUEUE_GROUP }, async (m) => {
    const d = decodePinMessage(m.data);
    if (!d.ok) {
      deps.metrics.pinMessages.inc({ outcome: `rejected-${d.reason}` });
      deps.logger.warn({ subject: m.subject, reason: d.reason, detail: d.detail }, 'pin message refused');
      return;
    }
    try {
      const taken = await deps.rooms.recordPin(d.pin.key, d.pin);
      deps.metrics.pinMessages.inc({ outcome: taken ? 'taken' : 'kept' });
      deps.logger.debug({ room: d.room, key: d.pin.key, uri: d.pin.uri, by: d.pin.by, taken }, 'pin heard');
      if (taken) deps.onPin();
    } catch (err) {
      deps.metrics.pinMessages.inc({ outcome: 'rejected-registry-error' });
      deps.logger.error({ err, key: d.pin.key }, 'could not record a pin');
    }
  });
}
