import type { MachineIntent } from '../core/machine.js';
import type { NodeRecord } from '../core/node.js';

/**
 * The live membership store, and the operator's intent per machine beside it.
 * Implementations: Redis (production), in-memory (unit tests).
 */
export interface NodeRegistry {
  list(): Promise<NodeRecord[]>;
  get(nodeId: string): Promise<NodeRecord | undefined>;
  /**
   * Compare-and-set: writes only if the stored revision equals `expectedRev`
   * (`undefined`: only if no record exists). Returns false when someone wrote first.
   * `previous` is the record read for `expectedRev` (it keeps the address index right when
   * the address changes).
   */
  put(record: NodeRecord, expectedRev: number | undefined, ttlMs: number, previous?: NodeRecord): Promise<boolean>;
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

export class InMemoryNodeRegistry implements NodeRegistry {
  private readonly records = new Map<string, NodeRecord>();
  private readonly machines = new Map<string, MachineIntent>();
  private slot = 0;

  list(): Promise<NodeRecord[]> {
    return Promise.resolve([...this.records.values()]);
  }
  get(nodeId: string): Promise<NodeRecord | undefined> {
    return Promise.resolve(this.records.get(nodeId));
  }
  atAddress(sipUri: string): Promise<NodeRecord[]> {
    return Promise.resolve([...this.records.values()].filter((r) => r.sipUri === sipUri));
  }
  put(record: NodeRecord, expectedRev: number | undefined, _ttlMs?: number): Promise<boolean> {
    const cur = this.records.get(record.nodeId);
    if (cur?.rev !== expectedRev) return Promise.resolve(false);
    this.records.set(record.nodeId, record);
    return Promise.resolve(true);
  }
  allocateSlot(): Promise<number> {
    return Promise.resolve(++this.slot);
  }
  ensureSlotAtLeast(slot: number): Promise<void> {
    this.slot = Math.max(this.slot, slot);
    return Promise.resolve();
  }
  listMachines(): Promise<MachineIntent[]> {
    return Promise.resolve([...this.machines.values()]);
  }
  getMachine(machineId: string): Promise<MachineIntent | undefined> {
    return Promise.resolve(this.machines.get(machineId));
  }
  putMachine(machine: MachineIntent, expectedRev: number | undefined): Promise<boolean> {
    if (this.machines.get(machine.machineId)?.rev !== expectedRev) return Promise.resolve(false);
    this.machines.set(machine.machineId, machine);
    return Promise.resolve(true);
  }
  ping(): Promise<void> {
    return Promise.resolve();
  }
}
