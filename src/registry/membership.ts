import { applyNodeMessage, claimAddress, holdsAddress, markGone, type IngestOutcome, type LifecyclePolicy } from '../core/lifecycle.js';
import { acceptsCalls, type NodeRecord } from '../core/node.js';
import type { NodeMessage } from '../events/schemas.js';
import { RegistryConflictError, type NodeRegistry } from '../ports/nodeRegistry.js';

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

export type IngestResultOutcome = IngestOutcome | 'address-in-use';

export interface Ingested {
  readonly outcome: IngestResultOutcome;
  readonly record: NodeRecord | undefined;
  readonly previous: NodeRecord | undefined;
  /** Set when the claim was refused: the live node that holds the address. */
  readonly holder?: NodeRecord;
  /** Nodes that had stopped holding this address and were superseded by this message. */
  readonly superseded: readonly NodeRecord[];
}

/** Whether storing `next` makes it claim an address it did not have in routing before. */
function claimsAddress(previous: NodeRecord | undefined, next: NodeRecord): boolean {
  if (next.state === 'gone') return false;
  return !previous || previous.state === 'gone' || previous.sipUri !== next.sipUri;
}

/**
 * Stores what one validated message means, retrying when another writer raced us. A
 * message that would put its node at an address another live node holds is refused
 * (`address-in-use`, nothing stored); one that finds the other nodes there silent
 * supersedes them.
 */
export async function ingestNodeMessage(
  registry: NodeRegistry,
  message: NodeMessage,
  now: () => number,
  policy: MembershipPolicy,
  slotFor: SlotSource = () => registry.allocateSlot(),
): Promise<Ingested> {
  let slot: number | undefined;
  for (let attempt = 1; attempt <= MAX_CAS_ATTEMPTS; attempt++) {
    const current = await registry.get(message.msg.nodeId);
    const t = now();
    // Cheap checks first: a refused message must not cost a slot or a registry scan.
    const probe = applyNodeMessage(current, message, t, policy, current ? undefined : 0);
    if (!probe.next) return { outcome: probe.outcome, record: current, previous: current, superseded: [] };
    let vacated: readonly NodeRecord[] = [];
    if (claimsAddress(current, probe.next)) {
      const claim = claimAddress(message.msg.nodeId, probe.next.sipUri, await registry.atAddress(probe.next.sipUri), t);
      if (claim.verdict === 'held') {
        return { outcome: 'address-in-use', record: current, previous: current, holder: claim.holder, superseded: [] };
      }
      if (claim.verdict === 'vacated') vacated = claim.previous;
    }
    if (!current && slot === undefined) slot = await slotFor(message.msg.nodeId);
    const { outcome, next } = current ? probe : applyNodeMessage(current, message, t, policy, slot);
    if (!next) return { outcome, record: current, previous: current, superseded: [] };
    if (await registry.put(next, current?.rev, ttlFor(next, t, policy), current)) {
      const superseded = await supersede(registry, vacated, next.sipUri, now, policy);
      return { outcome, record: next, previous: current, superseded };
    }
  }
  throw new RegistryConflictError(message.msg.nodeId, MAX_CAS_ATTEMPTS);
}

/** Declares gone the nodes that gave an address up, re-checked on their latest records. */
async function supersede(
  registry: NodeRegistry,
  vacated: readonly NodeRecord[],
  sipUri: string,
  now: () => number,
  policy: MembershipPolicy,
): Promise<NodeRecord[]> {
  const done: NodeRecord[] = [];
  for (const old of vacated) {
    const next = await transitionNode(
      registry,
      old.nodeId,
      (cur, t) => (cur.state !== 'gone' && cur.sipUri === sipUri && !holdsAddress(cur, t) ? markGone(cur, 'superseded', t) : undefined),
      now,
      policy,
    );
    if (next?.state === 'gone' && next.goneReason === 'superseded' && next.rev !== old.rev) done.push(next);
  }
  return done;
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
    if (await registry.put(next, current.rev, ttlFor(next, t, policy), current)) return next;
  }
  throw new RegistryConflictError(nodeId, MAX_CAS_ATTEMPTS);
}

/** Whether the change means some destination must stop receiving new calls. */
export function removesFromRouting(previous: NodeRecord | undefined, next: NodeRecord | undefined): boolean {
  if (!previous) return false;
  if (!next || !acceptsCalls(next)) return acceptsCalls(previous);
  return previous.sipUri !== next.sipUri;
}

/** Whether a stored change can alter the dispatcher rows (and so needs a reconcile). */
export function affectsRouting(previous: NodeRecord | undefined, next: NodeRecord | undefined): boolean {
  if (!previous || !next) return previous !== next;
  return (
    previous.state !== next.state ||
    previous.sipUri !== next.sipUri ||
    previous.capacity !== next.capacity ||
    acceptsCalls(previous) !== acceptsCalls(next)
  );
}
