import type { Logger } from 'pino';
import { decodePinMessage } from '../events/pins.js';
import type { Metrics } from '../metrics/metrics.js';
import type { BusSubscription, MessageBus } from '../ports/messageBus.js';
import type { RoomRegistry } from '../ports/roomRegistry.js';
import { QUEUE_GROUP } from './queueGroup.js';

/**
 * Pins Kamailio made (`{prefix}.kamailio.pins`, events/pins.ts: a batch per message), each
 * recorded in the room table by one replica of the queue group. A pin is a fact: the leader decides from it in its
 * next pass (confirmed by a conference, or dropped after the grace), so this only asks for
 * a pass that need not hurry. Anything malformed is refused, counted
 * (`sbc_pin_messages_total{outcome="rejected-<reason>"}`, once per message; taken and kept
 * once per pin) and logged.
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
    let anyTaken = false;
    for (const heard of d.pins) {
      try {
        const taken = await deps.rooms.recordPin(heard.pin.key, heard.pin);
        deps.metrics.pinMessages.inc({ outcome: taken ? 'taken' : 'kept' });
        deps.logger.debug({ room: heard.room, key: heard.pin.key, uri: heard.pin.uri, by: heard.pin.by, taken }, 'pin heard');
        anyTaken ||= taken;
      } catch (err) {
        deps.metrics.pinMessages.inc({ outcome: 'rejected-registry-error' });
        deps.logger.error({ err, key: heard.pin.key }, 'could not record a pin');
      }
    }
    if (anyTaken) deps.onPin();
  });
}
