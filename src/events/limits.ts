import type { AgentMessageKind } from './subjects.js';

/**
 * Every kind of message on the bus: the node messages (membership and conference), the control
 * plane's request, and the agent's channel events (`{prefix}.calls.node.{nodeId}.channel`).
 */
export type MessageKind = AgentMessageKind | 'reannounce' | 'channel';

/**
 * Largest payload each kind may have, in bytes, checked before any JSON parsing, so a flood
 * of huge messages costs one length comparison each. Every field of every schema is
 * bounded; each limit is at least four times the largest valid v1 message of its kind
 * (joined/heartbeat about 850 bytes, left and reannounce about 200), which leaves room for
 * optional fields a newer writer adds. test/unit/events/evolution.test.ts builds those
 * largest messages and keeps the margin: a new field must be bounded and added there.
 * Raising a limit is a reader change, deployed before any writer relies on it.
 */
export const MAX_MESSAGE_BYTES: Readonly<Record<MessageKind, number>> = Object.freeze({
  joined: 4096,
  heartbeat: 4096,
  left: 1024,
  // A conference edge is about 700 bytes at most; a rooms snapshot of its 500 largest rooms about
  // 254 KB: 1 MiB keeps the four-fold margin and is within NATS's default max_payload (1 MB).
  conference: 4096,
  rooms: 1_048_576,
  reannounce: 1024,
  // A channel event is about 8.7 KB at most (two free-text fields of 1024 UTF-16 units at three
  // bytes each, a 1024-character Call-ID and room): 64 KiB keeps the four-fold margin.
  channel: 65_536,
});

/**
 * The same for agent commands (src/events/commands.ts): a request (v1 or v2; a v2 `link` is about 800 bytes at most, so 4 KiB, raised from v1's 1 KiB), a v1 reply (a
 * status result), and a v2 reply (at most a rooms list, as large as a rooms message).
 */
export const MAX_COMMAND_BYTES = Object.freeze({ request: 4096, reply: 4096, conferenceReply: 1_048_576 });
