import { randomBytes } from 'node:crypto';
import { planLinks, type CascadeLink } from '../../core/cascadeTree.js';
import type { StoredLink } from '../../core/rooms.js';
import { NotLeaderError, type Leadership } from '../../leader/leadership.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { LinkCommands } from '../../nats/agentCommands.js';
import type { RoomRegistry } from '../../ports/roomRegistry.js';
import type { DispatcherPass, RoomLinkWork } from '../dispatcherPass.js';
import type { ReconcileStep, StepContext } from '../runner.js';
import { refusedByFence, stillLeading } from './leadership.js';

export interface RoomLinksDeps {
  readonly rooms: RoomRegistry;
  readonly links: LinkCommands;
  /** The Kamailio SIP URI links are dialed through (learned from its sockets); undefined: none known yet. */
  readonly via: () => string | undefined;
  /** How long a new link may take to show in both nodes' conferences before it counts as failed. */
  readonly setupGraceMs: number;
  /** `media_timeout` of every link leg: the second guard when a far node dies silently. */
  readonly mediaTimeoutMs: number;
  readonly metrics: Pick<Metrics, 'roomLinks' | 'fencedWrites'>;
  readonly now: () => number;
  readonly leadership?: Leadership;
}

const newLinkId = () => `l${randomBytes(6).toString('hex')}`;

/**
 * Keeps the cascade links of every room hosted by several nodes a tree (core/cascadeTree.ts):
 * a cascaded room's shards, and a split room's halves (two Kamailios placed it at once, a pin
 * was lost), so every participant hears every other. Links are asked of the agents over the
 * command channel (`link`: the root's conference dials the other node's through Kamailio;
 * `unlink`: the link member is hung up) and recorded in the room table under the leader's
 * epoch. A link to a node that is gone is dropped in the first pass that sees it gone (a
 * surviving FreeSWITCH notices nothing by itself); a link that does not show in both
 * conferences after `setupGraceMs`, or that later vanishes from one, is dropped and made
 * again. Drops run before makes, so the graph never holds a cycle. Failures are logged and
 * counted, never fail the pass; the next pass tries again.
 */
export function roomLinksStep(deps: RoomLinksDeps): ReconcileStep<DispatcherPass> {
  const leader = deps.leadership ? { leadership: deps.leadership } : {};
  return {
    name: 'room-links',
    async run(pass, ctx) {
      const work = pass.rooms?.linked ?? [];
      if (pass.rooms?.error !== undefined || work.length === 0) return;
      const uris = new Map(pass.nodes.filter((n) => n.state !== 'gone').map((n) => [n.nodeId, n.sipUri]));
      for (const w of work) {
        try {
          await reconcileRoom(w, uris, pass, ctx);
        } catch (err) {
          if (err instanceof NotLeaderError || refusedByFence(err, { ...leader, metrics: deps.metrics }, ctx, 'room link')) throw err;
          ctx.logger.error({ err, room: w.room }, 'cascade links of a room could not be reconciled; next pass retries');
        }
      }
    },
  };

  async function reconcileRoom(w: RoomLinkWork, uris: ReadonlyMap<string, string>, pass: DispatcherPass, ctx: StepContext): Promise<void> {
    const now = deps.now();
    const hostLinks = new Map(w.hosts.map((h) => [h.nodeId, h.links]));
    const expected = new Map<string, number>();
    for (const l of w.links) for (const end of [l.from, l.to]) expected.set(end, (expected.get(end) ?? 0) + 1);
    // Old enough to have shown, yet one end has fewer link members than links recorded there.
    const broken = new Set(
      w.links
        .filter((l) => now - l.at > deps.setupGraceMs)
        .filter((l) => [l.from, l.to].some((end) => hostLinks.has(end) && (hostLinks.get(end) ?? 0) < (expected.get(end) ?? 0)))
        .map((l) => l.linkId),
    );
    const existing: CascadeLink[] = w.links.filter((l) => !broken.has(l.linkId));
    const plan = planLinks(w.hosts, existing, w.root);
    const drops: StoredLink[] = [...w.links.filter((l) => broken.has(l.linkId)), ...plan.drop.map((d) => w.links.find((l) => l.linkId === d.linkId) as StoredLink)];
    for (const l of drops) {
      stillLeading(deps.leadership, pass, `unlink ${l.linkId}`);
      for (const end of [l.from, l.to]) {
        if (!uris.has(end)) continue;
        try {
          await deps.links.unlink(end, { room: w.room, linkId: l.linkId });
        } catch (err) {
          ctx.logger.warn({ room: w.room, linkId: l.linkId, nodeId: end, err: (err as Error).message }, 'unlink failed (the link member ends with its peer or its media timeout)');
        }
      }
      await deps.rooms.deleteLink(w.room, l.linkId, pass.epoch);
      deps.metrics.roomLinks.inc({ op: 'drop', outcome: broken.has(l.linkId) ? 'broken' : 'ok' });
      ctx.logger.info({ room: w.room, linkId: l.linkId, from: l.from, to: l.to, broken: broken.has(l.linkId) }, 'cascade link dropped');
    }
    if (plan.make.length === 0) return;
    const via = deps.via();
    if (via === undefined) {
      ctx.logger.warn({ room: w.room }, 'cascade links wanted but no Kamailio SIP address is known yet');
      return;
    }
    for (const m of plan.make) {
      const target = uris.get(m.to);
      if (target === undefined) continue;
      const linkId = newLinkId();
      stillLeading(deps.leadership, pass, `link ${linkId}`);
      try {
        await deps.links.link(m.from, { room: w.room, linkId, target, via, mediaTimeoutMs: deps.mediaTimeoutMs });
      } catch (err) {
        deps.metrics.roomLinks.inc({ op: 'make', outcome: 'error' });
        ctx.logger.warn({ room: w.room, from: m.from, to: m.to, err: (err as Error).message }, 'cascade link could not be made; next pass retries');
        continue;
      }
      await deps.rooms.putLink(w.room, { linkId, from: m.from, to: m.to, at: now }, pass.epoch);
      deps.metrics.roomLinks.inc({ op: 'make', outcome: 'ok' });
      ctx.logger.info({ room: w.room, linkId, from: m.from, to: m.to }, 'cascade link made');
    }
  }
}
