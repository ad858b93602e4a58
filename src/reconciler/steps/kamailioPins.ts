import { parsePin, pinValue } from '../../core/pins.js';
import { NotLeaderError, type Leadership } from '../../leader/leadership.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { KamailioRpc } from '../../ports/kamailioRpc.js';
import type { RoomRegistry } from '../../ports/roomRegistry.js';
import type { DispatcherPass } from '../dispatcherPass.js';
import type { ReconcileStep } from '../runner.js';
import { stillLeading } from './leadership.js';

export const PINS_TABLE = 'pins';
export const CASCADE_TABLE = 'cascade';

export interface KamailioPinsDeps {
  readonly kamailio: KamailioRpc;
  readonly rooms: RoomRegistry;
  readonly metrics: Pick<Metrics, 'kamailioPinWrites' | 'kamailioPinsInSync'>;
  readonly leadership?: Leadership;
}

/**
 * Keeps one Kamailio's `pins` htable equal to the room table: `htable.dump`, then
 * `htable.sets` for every pin missing or pointing elsewhere, `htable.delete` for every pin
 * that ended this pass. A pin the table does not know yet (made by this Kamailio a moment
 * ago, not heard on NATS yet, or NATS is off) is never deleted: it is recorded as a fact and
 * decided from the next pass, like one heard on NATS. So a restarted Kamailio gets every pin
 * back within one pass, and a fresh placement is never undone by a sync that raced it.
 */
export function kamailioPinsStep(deps: KamailioPinsDeps): ReconcileStep<DispatcherPass> {
  const k = deps.kamailio;
  return {
    name: `kamailio-pins:${k.name}`,
    async run(pass, ctx) {
      const rooms = pass.rooms;
      if (!rooms || rooms.error !== undefined) return;
      try {
        const dump = await k.htableDump(PINS_TABLE);
        const have = new Map(dump.map((i) => [i.key, parsePin(i.key, i.value)]));
        let writes = 0;
        for (const [key, pin] of rooms.pins) {
          if (have.get(key)?.uri === pin.uri) continue;
          stillLeading(deps.leadership, pass, `pin ${key} on ${k.name}`);
          await k.htableSet(PINS_TABLE, key, pinValue(pin));
          deps.metrics.kamailioPinWrites.inc({ kamailio: k.name, op: 'set' });
          writes++;
        }
        for (const [key, pin] of have) {
          if (rooms.pins.has(key)) continue;
          if (rooms.ended.has(key) || pin === undefined) {
            stillLeading(deps.leadership, pass, `unpin ${key} on ${k.name}`);
            await k.htableDelete(PINS_TABLE, key);
            deps.metrics.kamailioPinWrites.inc({ kamailio: k.name, op: 'delete' });
            writes++;
          } else if (!rooms.known.has(key)) {
            await deps.rooms.recordPin(key, pin);
            ctx.logger.info({ kamailio: k.name, key, uri: pin.uri, by: pin.by }, 'adopted a pin the room table did not know');
          }
        }
        // Cascaded rooms: the control plane owns the `cascade` htable (policies from the API).
        const policies = new Map((await k.htableDump(CASCADE_TABLE)).map((i) => [i.key, Number(i.value)]));
        for (const [room, shards] of rooms.cascade) {
          if (policies.get(room) === shards) continue;
          stillLeading(deps.leadership, pass, `cascade ${room} on ${k.name}`);
          await k.htableSet(CASCADE_TABLE, room, shards);
          writes++;
        }
        for (const room of policies.keys()) {
          if (rooms.cascade.has(room)) continue;
          stillLeading(deps.leadership, pass, `uncascade ${room} on ${k.name}`);
          await k.htableDelete(CASCADE_TABLE, room);
          writes++;
        }
        deps.metrics.kamailioPinsInSync.set({ kamailio: k.name }, 1);
        if (writes > 0) ctx.logger.info({ kamailio: k.name, writes }, 'pins synced');
        ctx.targetOk(`pins:${k.name}`);
      } catch (err) {
        if (err instanceof NotLeaderError) throw err;
        deps.metrics.kamailioPinsInSync.set({ kamailio: k.name }, 0);
        const { failures } = ctx.targetFailed(`pins:${k.name}`);
        ctx.logger.error({ err, kamailio: k.name, failures }, 'Kamailio pin sync failed; will retry');
      }
    },
  };
}
