import type { MachineIntent } from '../core/machine.js';
import type { NodeRecord } from '../core/node.js';

/**
 * The live membership store, and the operator's intent per machine beside it. Adapter:
 * redis/redisNodeRegistry.ts; fake: test/fakes/inMemoryNodeRegistry.ts.
 */
export interface NodeRegistry {
  list(): Promise<NodeRecord[]>;
  get(nodeId: string): Promise<NodeRecord | undefined>;
  /**
   * Compare-and-set: writes only if the stored revision equals `expectedRev`
   * (`undefined`: only if no record exists). Returns false when someone wrote first.
   * `previous` is the record read for `expectedRev` (it keeps the address index right when
   * the address changes). With `fenceEpoch` (the leader's transitions), the same atomic write
   * first checks the leader's epoch and rejects with FencedOutError, writing nothing, once a
   * newer leader has published a higher one.
   */
  put(record: NodeRecord, expectedRev: number | undefined, ttlMs: number, previous?: NodeRecord, fenceEpoch?: number): Promise<boolean>;
  /** Every record (any state) stored at this SIP address: what a claim on it must look at. */
  atAddress(sipUri: string): Promise<NodeRecord[]>;
  /** A new, never reused slot number (the node's dispatcher priority). */
  allocateSlot(): Promise<number>;
  /** Raises the slot counter to at least `slot`, so allocateSlot never hands it out. */
  ensureSlotAtLeast(slot: number): Promise<void>;
  /** Machines are kept until removed: an operator's wish outlives every node on the machine. */
  listMachines(): Promise<MachineIntent[]>;
  getMachine(machineId: string): Promise<MachineIntent | undefined>;
  /** Compare-and-set on the machine's `rev`, like `put` (`undefined`: only if none exists). */
  putMachine(machine: MachineIntent, expectedRev: number | undefined): Promise<boolean>;
  ping(): Promise<void>;
}

export class RegistryConflictError extends Error {
  override readonly name = 'RegistryConflictError';
  constructor(nodeId: string, attempts: number) {
    super(`node ${nodeId}: ${attempts} concurrent writes in a row, giving up`);
  }
}
