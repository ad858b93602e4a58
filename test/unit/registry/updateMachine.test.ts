import { describe, expect, it } from 'vitest';
import type { MachineIntent } from '../../../src/core/machine.js';
import { MachineConflictError, updateMachine } from '../../../src/registry/machines.js';
import { InMemoryNodeRegistry } from '../../fakes/inMemoryNodeRegistry.js';

const base: MachineIntent = { machineId: 'fs-a', slot: 3, nodeId: 'n1', rev: 1 };

/** A registry where another writer bumps the machine just before each of our first `races` writes. */
class RacingRegistry extends InMemoryNodeRegistry {
  puts = 0;
  races = 0;
  override async putMachine(machine: MachineIntent, expectedRev: number | undefined): Promise<boolean> {
    this.puts++;
    if (this.races > 0) {
      this.races--;
      const now = await this.getMachine(machine.machineId);
      if (now) await super.putMachine({ ...now, weightOverride: 10 + this.races, rev: now.rev + 1 }, now.rev);
    }
    return super.putMachine(machine, expectedRev);
  }
}

describe('updateMachine', () => {
  it('writes the change with the next rev, creating the machine when none is stored', async () => {
    const r = new InMemoryNodeRegistry();
    const created = await updateMachine(r, 'fs-a', (cur) => (cur ? undefined : { machineId: 'fs-a', slot: 3, nodeId: 'n1', cordoned: true }));
    expect(created).toEqual({ machineId: 'fs-a', slot: 3, nodeId: 'n1', cordoned: true, rev: 1 });
    expect(await r.getMachine('fs-a')).toEqual(created);
  });

  it('no write when the change wants none', async () => {
    const r = new InMemoryNodeRegistry();
    await r.putMachine(base, undefined);
    expect(await updateMachine(r, 'fs-a', () => undefined)).toBeUndefined();
    expect(await r.getMachine('fs-a')).toEqual(base);
  });

  it('on a lost race re-reads and re-applies the change to what won, keeping the other writer’s field', async () => {
    const r = new RacingRegistry();
    await r.putMachine(base, undefined);
    r.races = 2;
    r.puts = 0;
    const seen: (number | undefined)[] = [];
    const written = await updateMachine(r, 'fs-a', (cur) => {
      seen.push(cur?.rev);
      return cur && { ...cur, inboundPaused: true };
    });
    expect(seen).toEqual([1, 2, 3]);
    expect(written).toMatchObject({ inboundPaused: true, weightOverride: 10, rev: 4 });
    expect(await r.getMachine('fs-a')).toEqual(written);
  });

  it('gives up with MachineConflictError after the attempts, leaving the winner’s record', async () => {
    const r = new RacingRegistry();
    await r.putMachine(base, undefined);
    r.races = 10;
    r.puts = 0;
    await expect(updateMachine(r, 'fs-a', (cur) => cur && { ...cur, cordoned: true }, 3)).rejects.toBeInstanceOf(MachineConflictError);
    expect(r.puts).toBe(3);
    expect((await r.getMachine('fs-a'))?.cordoned).toBeUndefined();
  });
});
