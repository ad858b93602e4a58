/**
 * How a dispatcher row says whose it is, in one place: the `description` column of the
 * table (`sbc:<nodeId>`) and the `attrs` Kamailio holds in memory (`duid=<nodeId>;...;
 * mid=<machineId>`; Kamailio ignores `mid`, which lets a lost machine's slot be recovered).
 * Rows whose description lacks the prefix belong to someone else and are never touched by
 * node logic. Kamailio's routing.lua reads `duid` (the node a call went to); the dispatcher
 * reads `maxload` (algorithm 10) and `rweight` (algorithm 11).
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
  /**
   * The node's relative weight, 1 to 100: Kamailio's `rweight`, which algorithm 11 shares new
   * calls by among the destinations that take calls (disabled and inactive ones are left
   * out, and the shares recomputed when one changes state). Not `weight`: algorithm 9 reads
   * that as a percentage of all calls that must sum to 100 over the set, which a pool that
   * grows and shrinks cannot keep.
   */
  readonly weight: number;
  /** The machine the node runs on (core/machine.ts): its pattern holds no `;`, `=` or space. */
  readonly machineId: string;
}

export function rowAttrs(a: RowAttrs): string {
  return `duid=${a.nodeId};maxload=${a.capacity};rweight=${a.weight};mid=${a.machineId}`;
}

/** The node id in a destination's `duid` attribute, as Kamailio reports it. */
export function nodeIdOfAttrs(attrs: string): string | undefined {
  return /(?:^|;)duid=([^;]+)/.exec(attrs)?.[1];
}

/** The machine in a row's `mid` attribute; rows written before machines have none. */
export function machineIdOfAttrs(attrs: string): string | undefined {
  return /(?:^|;)mid=([^;]+)/.exec(attrs)?.[1];
}
