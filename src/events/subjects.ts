/**
 * NATS subject layout. Every node message carries its node id as a subject token, so that
 * NATS authorization can tell node messages apart by subject (src/nats/auth.ts; confining
 * each agent to its own node id's subjects is still to come, README "Authorization").
 * Each kind has its own subject: a new kind gets a new last token, which a reader that
 * does not know it refuses as `unknown-kind` without reading the payload.
 *
 *   {prefix}.node.{nodeId}.joined      agent -> control plane
 *   {prefix}.node.{nodeId}.heartbeat   agent -> control plane
 *   {prefix}.node.{nodeId}.left        agent -> control plane
 *   {prefix}.node.{nodeId}.conference  agent -> control plane (a conference edge)
 *   {prefix}.node.{nodeId}.rooms       agent -> control plane (every conference, level-triggered)
 *   {prefix}.kamailio.pins             Kamailio -> control plane and other Kamailios (room pins)
 *   {prefix}.control.reannounce        control plane -> every agent
 *   {prefix}.control.membership        control plane replica -> every replica (the leader reconciles)
 *   {prefix}.cmd.{nodeId}              control plane -> one agent (request/reply)
 *   {prefix}.calls.node.{nodeId}.channel          agent -> calls stream (a channel edge, JetStream with ack)
 *   {prefix}.calls.kamailio.{kamailioId}.route    Kamailio -> calls stream (a routing decision)
 *   {prefix}.calls.>                               the calls stream's subjects (src/nats/callsStream.ts)
 *
 * Commands are not under `{prefix}.node.`: agents may publish `{prefix}.node.*.*`, so a
 * command there could be sent by any agent to any other, and the control plane, which
 * listens on that wildcard, would take every command for a node message. Call events are not
 * under it either, for the same reason in reverse: they go into a JetStream stream, not to the
 * control plane's node-message subscription.
 */
export type NodeMessageKind = 'joined' | 'heartbeat' | 'left';

/** The membership kinds: what the registry ingests (seq, liveness, routing). */
export const NODE_MESSAGE_KINDS: readonly NodeMessageKind[] = ['joined', 'heartbeat', 'left'];

/**
 * The conference kinds, on the same `{prefix}.node.{nodeId}.{kind}` subjects and from the same
 * seq counter (one node's messages are totally ordered), but no membership fact: a reader routes
 * them apart (decodeAgentMessage's `family`), never into the registry's seq bookkeeping.
 */
export type ConferenceMessageKind = 'conference' | 'rooms';
export const CONFERENCE_MESSAGE_KINDS: readonly ConferenceMessageKind[] = ['conference', 'rooms'];

/** Every kind an agent publishes on `{prefix}.node.{nodeId}.{kind}`. */
export type AgentMessageKind = NodeMessageKind | ConferenceMessageKind;

/** A Kamailio id as a subject token (kamailio.cfg's SBC_KAMAILIO_ID). */
export const KAMAILIO_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const PREFIX_SHAPE = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;

export function isValidSubjectPrefix(prefix: string): boolean {
  return PREFIX_SHAPE.test(prefix) && prefix.length <= 64;
}

export interface Subjects {
  readonly prefix: string;
  node(nodeId: string, kind: AgentMessageKind): string;
  /** Wildcard the control plane subscribes to for every node message. */
  readonly allNodeMessages: string;
  readonly reannounce: string;
  /**
   * A replica that applied a membership change tells every replica (no queue group): the
   * message may have reached a follower, and only the leader reconciles. Agents cannot publish it.
   */
  readonly membershipChanged: string;
  /** Where one node's agent takes commands (requests with a reply subject). */
  command(nodeId: string): string;
  /** Wildcard over every node's command subject (for permissions). */
  readonly allCommands: string;
  /** Room pins: Kamailio -> control plane and other Kamailios (schema: not declared here). */
  readonly kamailioPins: string;
  /** Where one node's agent publishes its channel events (into the calls stream). */
  channel(nodeId: string): string;
  /** Where one Kamailio publishes its routing decisions (into the calls stream); throws on an id that is no subject token. */
  kamailioRoute(kamailioId: string): string;
  /** Every node's channel subject (for permissions). */
  readonly allChannels: string;
  /** Every Kamailio's route subject (for permissions). */
  readonly allKamailioRoutes: string;
  /** Everything under `{prefix}.calls.`: the calls stream's subjects. */
  readonly allCalls: string;
  /** The node id of a channel event subject; undefined when it is not one. */
  parseChannelSubject(subject: string): string | undefined;
  /** The Kamailio id of a route subject; undefined when it is not one. */
  parseKamailioRouteSubject(subject: string): string | undefined;
  /** Splits a node message subject of a membership kind; undefined when it is not one (a conference kind included). */
  parseNodeSubject(subject: string): { nodeId: string; kind: NodeMessageKind } | undefined;
  /** Splits anything shaped like a node message subject, whatever its last token. */
  splitNodeSubject(subject: string): { nodeId: string; kind: string } | undefined;
}

export function isNodeMessageKind(kind: string): kind is NodeMessageKind {
  return (NODE_MESSAGE_KINDS as readonly string[]).includes(kind);
}

export function isConferenceMessageKind(kind: string): kind is ConferenceMessageKind {
  return (CONFERENCE_MESSAGE_KINDS as readonly string[]).includes(kind);
}

export function subjects(prefix: string): Subjects {
  if (!isValidSubjectPrefix(prefix)) throw new Error(`invalid NATS subject prefix ${JSON.stringify(prefix)}`);
  const depth = prefix.split('.').length;
  const splitNodeSubject = (subject: string) => {
    const tokens = subject.split('.');
    if (tokens.length !== depth + 3 || tokens.slice(0, depth).join('.') !== prefix || tokens[depth] !== 'node') return undefined;
    return { nodeId: tokens[depth + 1] as string, kind: tokens[depth + 2] as string };
  };
  /** `{prefix}.calls.{source}.{id}.{last}` -> id */
  const callsSubjectId = (subject: string, source: string, last: string): string | undefined => {
    const tokens = subject.split('.');
    if (tokens.length !== depth + 4 || tokens.slice(0, depth).join('.') !== prefix) return undefined;
    if (tokens[depth] !== 'calls' || tokens[depth + 1] !== source || tokens[depth + 3] !== last) return undefined;
    return tokens[depth + 2] === '' ? undefined : tokens[depth + 2];
  };
  return Object.freeze({
    prefix,
    node: (nodeId: string, kind: AgentMessageKind) => `${prefix}.node.${nodeId}.${kind}`,
    allNodeMessages: `${prefix}.node.*.*`,
    reannounce: `${prefix}.control.reannounce`,
    membershipChanged: `${prefix}.control.membership`,
    kamailioPins: `${prefix}.kamailio.pins`,
    splitNodeSubject,
    command: (nodeId: string) => `${prefix}.cmd.${nodeId}`,
    channel: (nodeId: string) => `${prefix}.calls.node.${nodeId}.channel`,
    kamailioRoute(kamailioId: string) {
      if (!KAMAILIO_ID_PATTERN.test(kamailioId)) throw new Error(`invalid Kamailio id ${JSON.stringify(kamailioId)} (a subject token: letters, digits, _ and -)`);
      return `${prefix}.calls.kamailio.${kamailioId}.route`;
    },
    allChannels: `${prefix}.calls.node.*.channel`,
    allKamailioRoutes: `${prefix}.calls.kamailio.*.route`,
    allCalls: `${prefix}.calls.>`,
    parseChannelSubject: (subject: string) => callsSubjectId(subject, 'node', 'channel'),
    parseKamailioRouteSubject: (subject: string) => callsSubjectId(subject, 'kamailio', 'route'),
    allCommands: `${prefix}.cmd.*`,
    parseNodeSubject(subject: string) {
      const split = splitNodeSubject(subject);
      if (!split || !isNodeMessageKind(split.kind)) return undefined;
      return { nodeId: split.nodeId, kind: split.kind };
    },
  });
}
