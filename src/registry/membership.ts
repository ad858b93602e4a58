import { applyNodeMessage, type IngestOutcome, type LifecyclePolicy } from '../core/lifecycle.js';
import { takesNewCalls, type NodeRecord } from '../core/node.js';
import type { NodeMessage } from '../events/schemas.js';
import { RegistryConflictError, type NodeRegistry } from './nodeRegistry.js';

export interface MembershipPolicy extends LifecyclePolicy {
  /** How long a gone node's record is kept for the API before Redis forgets it. */
  readonly goneRetentionMs: number;
}

const MAX_CAS_ATTEMPTS = 8;

/** Where a node that the registry does not know gets its slot from. */
export type SlotSource = (nodeId: string) => Promise<number>;

/**
 * Slots come back from the dispatcher table when the registry lost a node it still routes
 * to (Redis restarted without persistence): a new slot would change the node's priority
 * and so remap every hashed conference room. A node never seen gets a fresh slot above
 * every priority in the table, so slots stay unique.
 */
export function slotsRecoveredFrom(
  store: { slotOf(nodeId: string): Promise<number | undefined>; maxSlot(): Promise<number> },
  registry: NodeRegistry,
): SlotSource {
  return async (nodeId) => {
    const prior = await store.slotOf(nodeId);
    if (prior !== undefined) return prior;
    await registry.ensureSlotAtLeast(await store.maxSlot());
    return registry.allocateSlot();
  };
}

export function ttlFor(record: NodeRecord, now: number, policy: MembershipPolicy): number {
  const live = record.state === 'gone' ? 0 : Math.max(0, record.expiresAt - now);
  return live + Math.max(1000, policy.goneRetentionMs);
}

/** Stores what one validated message means, retrying when another writer raced us. */
export async function ingestNodeMessage(
  registry: NodeRegistry,
  message: NodeMessage,
  now: () => number,
  policy: MembershipPolicy,
  slotFor: SlotSource = () => registry.allocateSlot(),
): Promise<{ outcome: IngestOutcome; record: NodeRecord | undefined; previous: NodeRecord | undefined }> {
  let slot: number | undefined;
  for (let attempt = 1; attempt <= MAX_CAS_ATTEMPTS; attempt++) {
    const current = await registry.get(message.msg.nodeId);
    if (!current && message.kind !== 'left' && slot === undefined) slot = await slotFor(message.msg.nodeId);
    const t = now();
    const { outcome, next } = applyNodeMessage(current, message, t, policy, slot);
    if (!next) return { outcome, record: current, previous: current };
    if (await registry.put(next, current?.rev, ttlFor(next, t, policy))) return { outcome, record: next, previous: current };
  }
  throw new RegistryConflictError(message.msg.nodeId, MAX_CAS_ATTEMPTS);
}

/**
 * Applies a stored-state transition decided elsewhere (reconciler housekeeping,
 * promotion). `change` sees the latest record and returns undefined to do nothing.
 */
export async function transitionNode(
  registry: NodeRegistry,
  nodeId: string,
  change: (current: NodeRecord, now: number) => NodeRecord | undefined,
  now: () => number,
  policy: MembershipPolicy,
): Promise<NodeRecord | undefined> {
  for (let attempt = 1; attempt <= MAX_CAS_ATTEMPTS; attempt++) {
    const current = await registry.get(nodeId);
    if (!current) return undefined;
    const t = now();
    const next = change(current, t);
    if (!next) return current;
    if (await registry.put(next, current.rev, ttlFor(next, t, policy))) return next;
  }
  throw new RegistryConflictError(nodeId, MAX_CAS_ATTEMPTS);
}

/** Whether the change means some destination must stop receiving new calls. */
export function removesFromRouting(previous: NodeRecord | undefined, next: NodeRecord | undefined): boolean {
  if (!previous) return false;
  if (!next || !takesNewCalls(next.state)) return takesNewCalls(previous.state);
  return previous.sipUri !== next.sipUri;
}

/** Whether a stored change can alter the dispatcher rows (and so needs a reconcile). */
export function affectsRouting(previous: NodeRecord | undefined, next: NodeRecord | undefined): boolean {
  if (!previous || !next) return previous !== next;
  return previous.state !== next.state || previous.sipUri !== next.sipUri || previous.capacity !== next.capacity;
}
