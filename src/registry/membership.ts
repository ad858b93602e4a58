import { applyNodeMessage, claimAddress, holdsAddress, markGone, type IngestOutcome, type LifecyclePolicy } from '../core/lifecycle.js';
import { nodeIdOfDescription } from '../core/rowIdentity.js';
import type { DispatcherStore } from '../ports/dispatcherStore.js';
import { chooseSlot, lastNodeOn, machineInTable, type MachineIntent } from '../core/machine.js';
import { acceptsCalls, type NodeRecord } from '../core/node.js';
import type { NodeMessage } from '../events/schemas.js';
import { RegistryConflictError, type NodeRegistry } from '../ports/nodeRegistry.js';

export interface MembershipPolicy extends LifecyclePolicy {
  /** How long a gone node's record is kept for the API before Redis forgets it. */
  readonly goneRetentionMs: number;
}

const MAX_CAS_ATTEMPTS = 8;

/** Where slots come from when the registry's machines do not give one. */
export interface SlotSource {
  /**
   * The slot this node, or else its machine, still has in the dispatcher table, and the node
   * that holds it there: what a registry that lost them (Redis restarted without persistence)
   * recovers, since a new slot would change the priority and so remap hashed rooms.
   */
  recovered(node: Pick<NodeRecord, 'nodeId' | 'machineId'>): Promise<{ slot: number; nodeId: string } | undefined>;
  /** A slot never handed out, above every slot in use. */
  fresh(): Promise<number>;
}

/** Slots from the registry's counter alone (tests, and a registry that never loses data). */
export function registrySlots(registry: NodeRegistry): SlotSource {
  return { recovered: () => Promise.resolve(undefined), fresh: () => registry.allocateSlot() };
}

/**
 * Slots come back from the dispatcher table when the registry lost a node it still routes
 * to: by the node's own rows, else by its machine's (a FreeSWITCH that restarted while the
 * registry was away). A slot never seen is above every priority in the table, so slots stay
 * unique.
 */
export function slotsRecoveredFrom(
  store: Pick<DispatcherStore, 'rowsForSlotOf' | 'maxSlot'>,
  registry: NodeRegistry,
): SlotSource {
  return {
    async recovered(node) {
      const rows = await store.rowsForSlotOf(node.nodeId, node.machineId);
      const own = rows.filter((r) => nodeIdOfDescription(r.description) === node.nodeId).map((r) => r.priority);
      if (own.length > 0) return { slot: Math.max(...own), nodeId: node.nodeId };
      return machineInTable(rows, node.machineId);
    },
    async fresh() {
      await registry.ensureSlotAtLeast(await store.maxSlot());
      return registry.allocateSlot();
    },
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
  slots: SlotSource = registrySlots(registry),
): Promise<Ingested> {
  // A fresh slot is kept across attempts, so a race costs no more than one.
  const spare = { slot: undefined as number | undefined };
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
    // A node entering routing (new, or revived) takes its slot on its machine.
    const entering = current === undefined || (current.state === 'gone' && probe.next.state !== 'gone');
    const slot = entering ? await takeSlot(registry, probe.next, current, vacated, slots, spare) : undefined;
    if (entering && slot === undefined) continue;
    const { outcome, next } = entering ? applyNodeMessage(current, message, t, policy, slot) : probe;
    if (!next) return { outcome, record: current, previous: current, superseded: [] };
    if (await registry.put(next, current?.rev, ttlFor(next, t, policy), current)) {
      const superseded = await supersede(registry, vacated, next.sipUri, now, policy);
      return { outcome, record: next, previous: current, superseded };
    }
  }
  throw new RegistryConflictError(message.msg.nodeId, MAX_CAS_ATTEMPTS);
}

/**
 * The slot `node` takes on its machine, with the machine record claimed for it first (so two
 * nodes racing for one machine cannot both take its slot); undefined when another writer
 * changed the machine meanwhile (try again). A machine the registry lacks is made from what
 * priorMachine finds, else around a fresh slot.
 */
async function takeSlot(
  registry: NodeRegistry,
  node: NodeRecord,
  current: NodeRecord | undefined,
  vacated: readonly NodeRecord[],
  slots: SlotSource,
  spare: { slot: number | undefined },
): Promise<number | undefined> {
  const stored = await registry.getMachine(node.machineId);
  const prior = stored ?? (await priorMachine(registry, node, current, slots));
  const holder = prior && prior.nodeId !== node.nodeId ? await registry.get(prior.nodeId) : undefined;
  const choice = chooseSlot(node.nodeId, prior, holder, new Set(vacated.map((n) => n.nodeId)));
  const fresh = async () => (spare.slot ??= await slots.fresh());
  let slot: number;
  let write: MachineIntent | undefined;
  if (choice.kind === 'machine') {
    slot = choice.slot;
    write = prior && (prior.nodeId !== node.nodeId || !stored) ? { ...prior, nodeId: node.nodeId, rev: (stored?.rev ?? 0) + 1 } : undefined;
  } else if (choice.kind === 'fresh') {
    // The machine stays with the live node that holds it; a recovered one is stored as such.
    slot = await fresh();
    write = prior && !stored ? { ...prior, rev: 1 } : undefined;
  } else {
    slot = await fresh();
    write = { machineId: node.machineId, slot, nodeId: node.nodeId, rev: 1 };
  }
  if (write && !(await registry.putMachine(write, stored?.rev))) return undefined;
  return slot;
}

/**
 * The machine as something else knew it, not yet stored: the node's own record (revived), the
 * last node on it at this address (a record from before machines), or the dispatcher table.
 */
async function priorMachine(
  registry: NodeRegistry,
  node: NodeRecord,
  current: NodeRecord | undefined,
  slots: SlotSource,
): Promise<MachineIntent | undefined> {
  const held = current
    ? { slot: current.slot, nodeId: current.nodeId }
    : (lastNodeOn(node.machineId, await registry.atAddress(node.sipUri), node.nodeId) ?? (await slots.recovered(node)));
  return held && { machineId: node.machineId, ...held, rev: 0 };
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
  fenceEpoch?: number,
): Promise<NodeRecord | undefined> {
  for (let attempt = 1; attempt <= MAX_CAS_ATTEMPTS; attempt++) {
    const current = await registry.get(nodeId);
    if (!current) return undefined;
    const t = now();
    const next = change(current, t);
    if (!next) return current;
    if (await registry.put(next, current.rev, ttlFor(next, t, policy), current, fenceEpoch)) return next;
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
