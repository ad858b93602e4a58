/**
 * How a dispatcher row says whose it is, in one place: the `description` column of the
 * table (`sbc:<nodeId>`) and the `attrs` Kamailio holds in memory (`duid=<nodeId>;...;
 * mid=<machineId>`; Kamailio ignores `mid`, which lets a lost machine's slot be recovered).
 * Rows whose description lacks the prefix belong to someone else and are never touched by
 * node logic. Kamailio's routing.lua reads `duid` (the node a call went to) and `weight`.
 */

const DESCRIPTION_PREFIX = 'sbc:';

/** Identity of a dispatcher entry: Kamailio holds one destination once per set. */
export function rowKey(setId: number, destination: string): string {
  return `${setId}\u0000${destination}`;
}

export function rowDescription(nodeId: string): string {
  return `${DESCRIPTION_PREFIX}${nodeId}`;
}

/** The node a table row belongs to, or undefined for a row the control plane did not write. */
export function nodeIdOfDescription(description: string): string | undefined {
  return description.startsWith(DESCRIPTION_PREFIX) ? description.slice(DESCRIPTION_PREFIX.length) : undefined;
}

export interface RowAttrs {
  readonly nodeId: string;
  /** maxload: the node's capacity in calls. */
  readonly capacity: number;
  /** Kamailio's weight share, 1 to 100. */
  readonly weight: number;
  /** The machine the node runs on (core/machine.ts): its pattern holds no `;`, `=` or space. */
  readonly machineId: string;
}

export function rowAttrs(a: RowAttrs): string {
  return `duid=${a.nodeId};maxload=${a.capacity};weight=${a.weight};mid=${a.machineId}`;
}

/** The node id in a destination's `duid` attribute, as Kamailio reports it. */
export function nodeIdOfAttrs(attrs: string): string | undefined {
  return /(?:^|;)duid=([^;]+)/.exec(attrs)?.[1];
}

/** The machine in a row's `mid` attribute; rows written before machines have none. */
export function machineIdOfAttrs(attrs: string): string | undefined {
  return /(?:^|;)mid=([^;]+)/.exec(attrs)?.[1];
}
