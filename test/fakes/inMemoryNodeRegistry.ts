import type { MachineIntent } from '../../src/core/machine.js';
import type { NodeRecord } from '../../src/core/node.js';
import { FencedOutError } from '../../src/leader/fencedOut.js';
import type { NodeRegistry } from '../../src/ports/nodeRegistry.js';

/** The registry port in memory, with the same compare-and-set rule as Redis. */
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
  /** The highest epoch a fenced write showed (Redis: `{prefix}leader:epoch`). */
  epoch = 0;
  put(record: NodeRecord, expectedRev: number | undefined, _ttlMs?: number, _previous?: NodeRecord, fenceEpoch?: number): Promise<boolean> {
    if (fenceEpoch !== undefined) {
      if (fenceEpoch < this.epoch) return Promise.reject(new FencedOutError('redis', fenceEpoch, this.epoch));
      this.epoch = fenceEpoch;
    }
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
