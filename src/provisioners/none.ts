import type { Provisioner, ScaleOutcome, ScaleRequest } from '../ports/provisioner.js';

/**
 * No provisioner: scaling down drains the machines to go and stops there (another
 * orchestrator removes them, seeing them `drained` in GET /v1/nodes or /v1/scale); scaling
 * up cannot start anything, so POST /v1/scale refuses a target above the pool (409).
 */
export class NoProvisioner implements Provisioner {
  readonly kind = 'none' as const;

  list(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  removalChoice(): Promise<{ kind: 'any' }> {
    return Promise.resolve({ kind: 'any' });
  }

  apply(request: ScaleRequest): Promise<ScaleOutcome> {
    const drained = request.remove.map((m) => m.machineId);
    return Promise.resolve({ created: [], removed: [], detail: drained.length > 0 ? `drained, left to the orchestrator: ${drained.join(', ')}` : 'nothing to do without a provisioner' });
  }
}
