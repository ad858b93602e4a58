import { acceptsCalls, inRouting } from '../../core/node.js';
import { placeShards } from '../../core/shards.js';
import { decideRooms, participants, type RoomDecision, type RoomRecord } from '../../core/rooms.js';
import type { Leadership } from '../../leader/leadership.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { RoomPolicyStore } from '../../ports/roomPolicyStore.js';
import type { RoomRegistry } from '../../ports/roomRegistry.js';
import type { DispatcherPass, RoomLinkWork } from '../dispatcherPass.js';
import type { ReconcileStep } from '../runner.js';
import { refusedByFence } from './leadership.js';

export interface RoomsStepDeps {
  readonly rooms: RoomRegistry;
  /** Operators' room policies (cascaded rooms); without it no room is cascaded. */
  readonly policies?: RoomPolicyStore;
  /** How long a pin may wait for its conference (SBC_ROOM_PIN_GRACE_MS). */
  readonly pinGraceMs: number;
  /** Participants per node at which a room spills over to another node (SBC_ROOM_MAX_MEMBERS_PER_NODE); undefined: never. */
  readonly maxMembersPerNode?: number;
  readonly metrics: Pick<Metrics, 'rooms' | 'roomPinsEnded' | 'roomSplits' | 'roomSpills' | 'fencedWrites'>;
  readonly now: () => number;
  readonly leadership?: Leadership;
}

const changed = (r: RoomRecord, d: RoomDecision): boolean =>
  d.ended !== undefined ||
  (d.spilled === true && !r.spilled) ||
  d.split !== undefined ||
  r.pin?.uri !== d.pin?.uri ||
  r.pin?.at !== d.pin?.at ||
  r.confirmedAt !== d.confirmedAt;

/**
 * The room table's pass (after node transitions, so gone nodes are known): decides every
 * room's pin (core/rooms.ts), saves what changed under the leader's epoch, and hands the
 * pins to each Kamailio's pin sync. Never fails the pass: routing of ordinary calls must not
 * wait on the room table; a failure leaves `rooms.error` and the pin syncs stand still.
 */
export function roomsStep(deps: RoomsStepDeps): ReconcileStep<DispatcherPass> {
  const leader = deps.leadership ? { leadership: deps.leadership } : {};
  return {
    name: 'rooms',
    async run(pass, ctx) {
      try {
        for (const t of pass.transitions) if (t.to === 'gone') await deps.rooms.forgetNode(t.nodeId);
        const [all, policies] = await Promise.all([deps.rooms.list(), deps.policies?.list() ?? []]);
        const now = deps.now();
        const nodes = pass.nodes.filter((n) => inRouting(n.state)).map((n) => ({ nodeId: n.nodeId, uri: n.sipUri }));
        const cordoned = new Set(pass.machines.filter((m) => m.cordoned).map((m) => m.machineId));
        const accepting = pass.nodes.filter((n) => acceptsCalls(n) && !cordoned.has(n.machineId ?? '')).map((n) => ({ nodeId: n.nodeId, uri: n.sipUri }));
        const cascade = new Map(policies.map((p) => [p.room, p.shards]));
        // Shard pins ("<room>-<shard>") of cascaded rooms are placed here, not decided as rooms.
        const shardOf = (key: string) => {
          const m = /^(.*)-(\d{1,2})$/.exec(key);
          return m && cascade.has(m[1] as string) ? { room: m[1] as string, shard: Number(m[2]) } : undefined;
        };
        const records = all.filter((r) => !shardOf(r.room)).map((r) => (cascade.has(r.room) ? { ...r, cascaded: true } : r));
        // A node with 90 % of its sessions in use spills its rooms and takes no spilled callers.
        const nearlyFull = new Set(pass.nodes.filter((n) => n.capacity > 0 && n.sessions >= 0.9 * n.capacity).map((n) => n.nodeId));
        const spill = deps.maxMembersPerNode !== undefined ? { spill: { maxMembersPerNode: deps.maxMembersPerNode, accepting, nearlyFull } } : {};
        const decisions = decideRooms({ rooms: records, nodes, now, pinGraceMs: deps.pinGraceMs, ...spill });
        const pins = new Map<string, NonNullable<RoomDecision['pin']>>();
        const ended = new Set<string>();
        const shardPins = new Map(all.filter((r) => shardOf(r.room) && r.pin).map((r) => [r.room, r.pin as NonNullable<RoomDecision['pin']>]));
        for (const r of all) {
          const s = shardOf(r.room);
          if (s && s.shard >= (cascade.get(s.room) ?? 0) && r.pin) {
            await deps.rooms.saveDecision({ room: r.room, pin: undefined, confirmedAt: undefined, ended: 'destroyed' }, pass.epoch);
            ended.add(r.room);
          }
        }
        for (const p of policies) {
          const plan = placeShards(p.room, p.shards, shardPins, nodes, accepting, now);
          for (const [key, pin] of plan.pins) {
            pins.set(key, pin);
            if (plan.changed.includes(key)) await deps.rooms.saveDecision({ room: key, pin, confirmedAt: now }, pass.epoch);
          }
        }
        let splits = 0;
        const linked: RoomLinkWork[] = [];
        const uriOf = new Map(nodes.map((n) => [n.uri, n.nodeId]));
        const liveIds = new Set(nodes.map((n) => n.nodeId));
        for (const [i, d] of decisions.entries()) {
          const r = records[i] as RoomRecord;
          const hosts = r.halves
            .filter((h) => liveIds.has(h.nodeId) && participants(h) > 0)
            .map((h) => ({ nodeId: h.nodeId, participants: participants(h), links: h.links }));
          if (hosts.length > 1 || (r.links?.length ?? 0) > 0) {
            linked.push({ room: r.room, hosts, root: d.pin ? uriOf.get(d.pin.uri) : undefined, links: r.links ?? [] });
          }
          if (changed(r, d)) await deps.rooms.saveDecision(d, pass.epoch);
          if (d.pin) pins.set(d.pin.key, d.pin);
          if (d.ended) {
            deps.metrics.roomPinsEnded.inc({ reason: d.ended });
            ctx.logger.info({ room: d.room, reason: d.ended, uri: r.pin?.uri }, 'room pin ended');
            if (r.pin && !d.pin) ended.add(r.pin.key);
          }
          if (d.spilled && !r.spilled) {
            deps.metrics.roomSpills.inc();
            ctx.logger.info({ room: d.room, to: d.pin?.uri }, 'room outgrew its node: new callers go to another node, linked');
          }
          if (d.split) {
            splits++;
            if (!r.splitsRepaired || r.pin?.uri !== d.pin?.uri) {
              deps.metrics.roomSplits.inc();
              ctx.logger.warn({ room: d.room, nodes: d.split, pin: d.pin?.uri }, 'room split across nodes: pin points at the larger half');
            }
          }
        }
        deps.metrics.rooms.set({ kind: 'pinned' }, pins.size);
        deps.metrics.rooms.set({ kind: 'split' }, splits);
        pass.rooms = { pins, ended, cascade, linked, known: new Set(all.flatMap((r) => [r.room, ...(r.pin ? [r.pin.key] : [])])) };
      } catch (err) {
        if (refusedByFence(err, { ...leader, metrics: deps.metrics }, ctx, 'room decision')) throw err;
        ctx.logger.error({ err }, 'room table pass failed; pins stay as they are');
        pass.rooms = { pins: new Map(), ended: new Set(), known: new Set(), cascade: new Map(), linked: [], error: (err as Error).message };
      }
    },
  };
}
