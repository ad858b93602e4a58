import type { ConferenceNodeMessage } from '../events/schemas.js';
import type { NodeRegistry } from '../ports/nodeRegistry.js';
import type { HalfReport, RoomRegistry } from '../ports/roomRegistry.js';

export type ConferenceOutcome = 'recorded' | 'unknown-node';

/**
 * What a node's conference messages do to the room table: `conference` (an edge: create,
 * add-member, del-member, destroy) records that node's half of the room; `rooms` (the
 * level-triggered snapshot) replaces everything the node hosts, unless it says it left rooms
 * out. Only a node the registry knows and has not given up on may report conferences: a
 * message for another is dropped (`unknown-node`); its agent's next snapshot, once it joined,
 * says the same again. The seq orders one node's reports (a late edge never undoes a newer one).
 */
export async function ingestConferenceMessage(
  rooms: RoomRegistry,
  nodes: Pick<NodeRegistry, 'get'>,
  message: ConferenceNodeMessage,
  now: () => number,
): Promise<ConferenceOutcome> {
  const { nodeId, seq } = message.msg;
  const node = await nodes.get(nodeId);
  if (!node || node.state === 'gone') return 'unknown-node';
  const at = now();
  if (message.kind === 'conference') {
    const m = message.msg;
    await rooms.recordHalf(m.room, { nodeId, conferenceUuid: m.conferenceUuid, members: m.event === 'destroy' ? 0 : m.members, links: m.event === 'destroy' ? 0 : m.links, seq, at });
    return 'recorded';
  }
  const halves = new Map<string, HalfReport>(
    message.msg.rooms.map((r) => [r.room, { nodeId, conferenceUuid: r.conferenceUuid, members: r.members, links: r.links, seq, at }]),
  );
  if (message.msg.omitted !== undefined) {
    // A bounded snapshot: what it left out may still be hosted; record, remove nothing.
    for (const [room, h] of halves) await rooms.recordHalf(room, h);
  } else {
    await rooms.replaceNodeHalves(nodeId, halves, seq);
  }
  return 'recorded';
}
