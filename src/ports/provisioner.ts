/**
 * What starts and stops FreeSWITCH machines (each a FreeSWITCH with its agent beside it), for
 * `POST /v1/scale` and the autoscaler. Adapters: provisioners/docker.ts (Docker Engine API),
 * provisioners/kubernetes.ts (StatefulSet or Deployment), provisioners/command.ts (a
 * configured command), provisioners/none.ts (drain only; another orchestrator does the rest).
 *
 * The call is declarative, like the rest of the control plane: "the pool is to hold
 * `replicas` machines, and these drained ones are the ones to go". The scale step calls it
 * again with the same request until the pool matches, so an adapter must make a repeated
 * request a no-op (a removed machine already gone, a pool already at its size).
 *
 * A machine is named by the id its agent announces (`SBC_MACHINE_ID`): the container name,
 * the pod name, or whatever the command's orchestrator sets. New machines join the normal
 * way (their agent's `joined`); the provisioner never writes the registry.
 */
export type ProvisionerKind = 'docker' | 'kubernetes' | 'command' | 'none';

/** One machine of the pool, as the control plane knows it. */
export interface MachineRef {
  /** The machine id its agent announced (SBC_MACHINE_ID). */
  readonly machineId: string;
  /** The node (FreeSWITCH Core-UUID) last seen on it. */
  readonly nodeId: string;
  readonly hostname: string;
  readonly sipUri: string;
}

export interface ScaleRequest {
  /** How many machines the pool is to hold once this request is done. */
  readonly replicas: number;
  /** Machines to remove: drained ones (no calls, no rooms left). Never others. */
  readonly remove: readonly MachineRef[];
}

/** One machine as the provisioner sees it (its orchestrator's truth, not the registry's). */
export interface ProvisionedMachine {
  /** The id its agent announces (container name, pod name). */
  readonly machineId: string;
  /** starting: created, not yet running; running; stopping: being removed. */
  readonly phase: 'starting' | 'running' | 'stopping';
}

export interface ScaleOutcome {
  /** Machines asked for and created by this call (their ids, where known). */
  readonly created: readonly string[];
  /** Machines removed by this call. */
  readonly removed: readonly string[];
  /** Free text for the audit log: what was asked of the orchestrator. */
  readonly detail: string;
}

/**
 * Which machines a scale-down may remove. `any`: the scale core picks (fewest calls and
 * pinned rooms, then the youngest). `exactly`: the orchestrator removes these and no others
 * (a StatefulSet scaled down removes its highest ordinals), so those are the ones drained.
 */
export type RemovalChoice = { readonly kind: 'any' } | { readonly kind: 'exactly'; readonly machineIds: readonly string[] };

export interface Provisioner {
  readonly kind: ProvisionerKind;
  /** The machines the orchestrator runs now; undefined when it cannot tell (command, none). */
  list(): Promise<readonly ProvisionedMachine[] | undefined>;
  /** Which machines going down by `count` from the current pool may remove (see RemovalChoice). */
  removalChoice(count: number): Promise<RemovalChoice>;
  /** Brings the pool to the request (idempotent). Throws ProvisionerError when the orchestrator refuses. */
  apply(request: ScaleRequest): Promise<ScaleOutcome>;
}

/** The orchestrator refused or could not be reached; `cause` has its answer. */
export class ProvisionerError extends Error {
  override readonly name = 'ProvisionerError';
  constructor(
    readonly provisioner: ProvisionerKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${provisioner} provisioner: ${message}`, options);
  }
}
