import type { MachineIntent } from '../core/machine.js';
import type { NodeRegistry } from '../ports/nodeRegistry.js';

/** Another writer changed the machine's intent on every attempt. */
export class MachineConflictError extends Error {
  override readonly name = 'MachineConflictError';
  constructor(
    readonly machineId: string,
    attempts: number,
  ) {
    super(`machine ${machineId}: ${attempts} concurrent writes in a row, giving up`);
  }
}

/** What a change returns: the intent to store (its `rev` is set here), or undefined for no write. */
export type MachineChange = (current: MachineIntent | undefined) => Omit<MachineIntent, 'rev'> | undefined;

/**
 * Writes a machine's intent by compare-and-set on its `rev`: reads it, applies `change`, and
 * stores the result only if nobody wrote in between, re-reading and re-applying on a miss.
 * The one way drains, scale drains and the inbound-pause flag change a machine, so every
 * writer re-decides on what is stored now rather than on a view a pass or a request read.
 *
 * Returns the intent written, or undefined when `change` wanted no write. Throws
 * MachineConflictError when another writer won `attempts` times in a row.
 */
export async function updateMachine(registry: NodeRegistry, machineId: string, change: MachineChange, attempts = 5): Promise<MachineIntent | undefined> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const current = await registry.getMachine(machineId);
    const wanted = change(current);
    if (!wanted) return undefined;
    const next: MachineIntent = { ...wanted, machineId, rev: (current?.rev ?? 0) + 1 };
    if (await registry.putMachine(next, current?.rev)) return next;
  }
  throw new MachineConflictError(machineId, attempts);
}
