import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  encodeMessage,
  SCHEMA_VERSION,
  type NodeHeartbeat,
  type NodeJoined,
  type NodeLeft,
  type Subjects,
} from '../src/events/index.js';

/**
 * Simulated agents: no FreeSWITCH, no agent process. The bench publishes exactly the
 * messages an agent publishes (src/events/schemas.ts), on the same subjects, with the same
 * rules: a unique Core-UUID-shaped node id, a unique SIP URI, `seq` starting at the start-up
 * time in ms and rising by one per message, heartbeats every `heartbeatIntervalMs`.
 * Kamailio never contacts the URIs (probing is off in kamailio.cfg).
 */

export const AGENT_DEFAULT_HEARTBEAT_MS = 2000;

export const SIMULATION_NOTE =
  'agents: SIMULATED - the bench publishes the joined/heartbeat/left messages an agent publishes (no FreeSWITCH, no agent process)';

/** A distinct loopback URI per index: 127.0.1.1, ..., 127.0.1.250, 127.0.2.1, ... port 5080. */
export function simulatedSipUri(index: number): string {
  return `sip:127.0.${1 + Math.floor(index / 250)}.${1 + (index % 250)}:5080`;
}

export class SimulatedNode {
  readonly nodeId = randomUUID();
  readonly hostname: string;
  private seq = Date.now() - 1;
  private timer: NodeJS.Timeout | undefined;
  /** performance.now() just before the latest joined or heartbeat was published. */
  lastAliveAt: number | undefined;
  heartbeatsSent = 0;

  constructor(
    private readonly nats: NatsConnection,
    private readonly subjects: Subjects,
    readonly index: number,
    readonly sipUri: string,
    readonly heartbeatIntervalMs: number,
  ) {
    this.hostname = `bench-node-${index}`;
  }

  /** Publishes `joined` and (by default) starts heartbeating; returns the publish instant. */
  join(heartbeats = true): number {
    const msg: NodeJoined = { ...this.facts(), reason: 'start' };
    const at = this.publish('joined', msg);
    this.lastAliveAt = at;
    if (heartbeats) this.startHeartbeats();
    return at;
  }

  /** Heartbeats on a fixed schedule from now (drift does not accumulate). */
  startHeartbeats(): void {
    this.stopHeartbeats();
    const first = performance.now();
    let n = 0;
    const tick = () => {
      this.lastAliveAt = this.publish('heartbeat', this.facts() satisfies NodeHeartbeat);
      this.heartbeatsSent++;
      n++;
      this.timer = setTimeout(tick, Math.max(0, first + (n + 1) * this.heartbeatIntervalMs - performance.now()));
    };
    this.timer = setTimeout(tick, this.heartbeatIntervalMs);
  }

  /** Silence without a word: what a crashed FreeSWITCH + agent looks like on the bus. */
  stopHeartbeats(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Publishes `left` (agent stopping) and stops heartbeating; returns the publish instant. */
  leave(): number {
    this.stopHeartbeats();
    const msg: NodeLeft = { v: SCHEMA_VERSION, nodeId: this.nodeId, seq: this.nextSeq(), sentAt: Date.now(), reason: 'agent-stopping' };
    return this.publish('left', msg);
  }

  private facts(): NodeHeartbeat {
    return {
      v: SCHEMA_VERSION,
      nodeId: this.nodeId,
      seq: this.nextSeq(),
      sentAt: Date.now(),
      sipUri: this.sipUri,
      hostname: this.hostname,
      capacity: 1000,
      sessions: 0,
      agentVersion: '0.1.0-bench',
      heartbeatIntervalMs: this.heartbeatIntervalMs,
    };
  }

  private nextSeq(): number {
    this.seq += 1;
    return this.seq;
  }

  private publish(kind: 'joined' | 'heartbeat' | 'left', msg: object): number {
    const at = performance.now();
    this.nats.publish(this.subjects.node(this.nodeId, kind), encodeMessage(msg));
    return at;
  }
}

/** All simulated nodes of one bench; stopAll() silences every timer (used by cleanup). */
export class SimulatedFleet {
  readonly nodes: SimulatedNode[] = [];

  constructor(
    private readonly nats: NatsConnection,
    private readonly subjects: Subjects,
    private readonly heartbeatIntervalMs = AGENT_DEFAULT_HEARTBEAT_MS,
  ) {}

  create(): SimulatedNode {
    const index = this.nodes.length;
    const node = new SimulatedNode(this.nats, this.subjects, index, simulatedSipUri(index), this.heartbeatIntervalMs);
    this.nodes.push(node);
    return node;
  }

  heartbeatsSent(): number {
    return this.nodes.reduce((s, n) => s + n.heartbeatsSent, 0);
  }

  stopAll(): void {
    for (const n of this.nodes) n.stopHeartbeats();
  }
}
