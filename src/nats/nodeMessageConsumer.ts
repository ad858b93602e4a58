import type { Logger } from 'pino';
import { decodeAgentMessage, encodeChecked, type RejectReason } from '../events/codec.js';
import { SCHEMA_VERSION, type ConferenceNodeMessage, type ReannounceRequest } from '../events/schemas.js';
import type { Subjects } from '../events/subjects.js';
import type { Metrics } from '../metrics/metrics.js';
import { callsEnded } from '../core/transitions.js';
import { affectsRouting, ingestNodeMessage, removesFromRouting, type MembershipPolicy, type SlotSource } from '../registry/membership.js';
import type { BusSubscription, MessageBus } from '../ports/messageBus.js';
import type { NodeRegistry } from '../ports/nodeRegistry.js';
import type { RoomRegistry } from '../ports/roomRegistry.js';
import { ingestConferenceMessage } from '../registry/conferences.js';
import { QUEUE_GROUP } from './queueGroup.js';

export interface ConsumerDeps {
  readonly bus: MessageBus;
  readonly subjects: Subjects;
  readonly registry: NodeRegistry;
  readonly membership: MembershipPolicy;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly instanceId: string;
  /** Slots for nodes the registry does not know; default: a fresh one from the registry. */
  readonly slotFor?: SlotSource;
  /**
   * Called after every accepted message that changed what Kamailio must hold; `urgent`
   * when something must stop receiving new calls (it cannot wait for a reload window).
   */
  readonly onMembershipChange: (urgent: boolean) => void;
  /** Whether a SIP URI is one of the Kamailios' own addresses (those are refused as nodes). */
  readonly isKamailioAddress?: (sipUri: string) => boolean;
  readonly now?: () => number;
  /**
   * Where the agents' conference messages go (the room table), and what to do once one was
   * recorded (the leader's next pass decides pins and splits from it). Without it they are
   * counted and dropped.
   */
  readonly conferences?: { readonly rooms: RoomRegistry; readonly onRecorded: () => void };
}

export { QUEUE_GROUP };

/**
 * Logs a rejection at most `perWindow` times per reason and window, so a flood of bad
 * messages cannot flood the log too; the metric still counts every one.
 */
function rejectionLogger(logger: Logger, perWindow = 20, windowMs = 60_000) {
  const seen = new Map<string, { start: number; count: number }>();
  return (reason: string, fields: Record<string, unknown>) => {
    const now = Date.now();
    const s = seen.get(reason);
    if (!s || now - s.start > windowMs) {
      if (s && s.count > perWindow) logger.warn({ reason, suppressed: s.count - perWindow }, 'suppressed rejection logs');
      seen.set(reason, { start: now, count: 1 });
    } else {
      s.count++;
      if (s.count > perWindow) return;
    }
    logger.warn({ reason, ...fields }, 'node message rejected');
  };
}

export class NodeMessageConsumer {
  private sub: BusSubscription | undefined;
  private readonly logRejection: ReturnType<typeof rejectionLogger>;

  constructor(private readonly deps: ConsumerDeps) {
    this.logRejection = rejectionLogger(deps.logger);
  }

  start(): void {
    const { bus, subjects } = this.deps;
    this.sub = bus.consume(subjects.allNodeMessages, { queue: QUEUE_GROUP }, (m) => this.handle(m.subject, m.data));
  }

  /** Asks every agent to publish `joined` now, so a fresh control plane learns the pool at once. */
  requestReannounce(): void {
    const req: ReannounceRequest = { v: SCHEMA_VERSION, requestedAt: Date.now(), requester: this.deps.instanceId };
    // Checked like the agent's messages: a request the agents would refuse must not go out.
    const checked = encodeChecked('reannounce', req);
    if (!checked.ok) {
      this.deps.logger.error({ detail: checked.detail }, 'reannounce request not sent: it does not match its schema');
      return;
    }
    this.deps.bus.publish(this.deps.subjects.reannounce, checked.data);
  }

  /** Stops taking messages; the ones already received are finished first. */
  async stop(): Promise<void> {
    await this.sub?.drain();
  }

  /** Public for tests: one message exactly as NATS delivered it. */
  private async conference(message: ConferenceNodeMessage): Promise<void> {
    const { metrics, logger } = this.deps;
    const c = this.deps.conferences;
    if (!c) {
      metrics.conferenceMessages.inc({ kind: message.kind, outcome: 'unknown-node' });
      return;
    }
    try {
      const outcome = await ingestConferenceMessage(c.rooms, this.deps.registry, message, this.deps.now ?? Date.now);
      metrics.conferenceMessages.inc({ kind: message.kind, outcome });
      if (outcome === 'recorded') {
        if (message.kind === 'conference') {
          logger.debug({ nodeId: message.msg.nodeId, room: message.msg.room, event: message.msg.event, members: message.msg.members }, 'conference event recorded');
        }
        c.onRecorded();
      } else logger.info({ nodeId: message.msg.nodeId, kind: message.kind }, 'conference message of a node the registry does not know (dropped)');
    } catch (err) {
      metrics.conferenceMessages.inc({ kind: message.kind, outcome: 'registry-error' });
      logger.error({ err, nodeId: message.msg.nodeId, kind: message.kind }, 'could not record a conference message');
    }
  }

  async handle(subject: string, data: Uint8Array): Promise<void> {
    const { registry, membership, metrics } = this.deps;
    const decoded = decodeAgentMessage(this.deps.subjects, subject, data);
    if (!decoded.ok) {
      this.reject(decoded.reason, { subject, detail: decoded.detail, bytes: data.byteLength });
      return;
    }
    if (decoded.value.family === 'conference') {
      await this.conference(decoded.value.message);
      return;
    }
    const message = decoded.value.message;
    if ('sipUri' in message.msg && this.deps.isKamailioAddress?.(message.msg.sipUri)) {
      // A node at a Kamailio's own address would make Kamailio relay calls to itself.
      this.reject('kamailio-address', { subject, sipUri: message.msg.sipUri });
      return;
    }
    try {
      const { outcome, record, previous, holder, superseded } = await ingestNodeMessage(
        registry,
        message,
        this.deps.now ?? Date.now,
        membership,
        this.deps.slotFor,
      );
      if (outcome === 'stale' || outcome === 'seq-ahead') {
        this.reject(outcome, { subject, seq: message.msg.seq, ...(outcome === 'seq-ahead' ? { ourClock: (this.deps.now ?? Date.now)() } : {}) });
        return;
      }
      if (outcome === 'address-in-use') {
        this.reject(outcome, { subject, sipUri: record?.sipUri ?? ('sipUri' in message.msg ? message.msg.sipUri : undefined), heldBy: holder?.nodeId });
        return;
      }
      metrics.natsMessages.inc({ kind: message.kind, outcome });
      if (outcome !== 'updated' || message.kind !== 'heartbeat') {
        const level = outcome === 'resynced' ? 'warn' : 'info';
        this.deps.logger[level](
          { nodeId: message.msg.nodeId, kind: message.kind, outcome },
          outcome === 'resynced' ? 'node message applied: its live stream was below a stored seq (a forged message?)' : 'node message applied',
        );
      }
      for (const old of superseded) {
        metrics.nodeTransitions.inc({ to: 'gone', reason: 'superseded' });
        this.deps.logger.warn({ nodeId: old.nodeId, sipUri: old.sipUri, by: message.msg.nodeId }, 'node superseded: a new node took its address after it missed a heartbeat');
      }
      // Most heartbeats only move a deadline, which the reconciler already schedules on;
      // a full pass per heartbeat would cost O(nodes) work per node per interval.
      if (superseded.length > 0) this.deps.onMembershipChange(true);
      else if (affectsRouting(previous, record)) this.deps.onMembershipChange(removesFromRouting(previous, record));
      // A draining node's first report of no calls: drained in the pass this asks for, not at the next resync.
      else if (record?.state === 'draining' && callsEnded(record) && !(previous && callsEnded(previous))) this.deps.onMembershipChange(false);
    } catch (err) {
      // Registry unreachable: the message is lost, but the agent repeats its facts every
      // heartbeat, so the next one restores them. Counted and logged, never thrown.
      metrics.natsRejected.inc({ reason: 'registry-error' });
      this.deps.logger.error({ err, subject }, 'could not store node message');
    }
  }

  private reject(reason: RejectReason | 'stale' | 'seq-ahead' | 'address-in-use' | 'kamailio-address', fields: Record<string, unknown>): void {
    this.deps.metrics.natsRejected.inc({ reason });
    this.logRejection(reason, fields);
  }
}
