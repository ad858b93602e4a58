import type { DispatcherRow } from '../core/dispatcher.js';
import type { HealthReport } from '../core/health.js';
import type { KamailioDrift, KamailioSnapshot } from '../core/kamailioView.js';
import type { MachineIntent } from '../core/machine.js';
import type { NodeRecord, NodeState } from '../core/node.js';
import type { Change } from '../core/planChanges.js';
import type { Pin } from '../core/pins.js';
import type { StoredLink } from '../core/rooms.js';

/** A stored node state change made in a pass. */
export interface AppliedTransition {
  readonly nodeId: string;
  readonly to: NodeState;
  readonly reason: string;
}

/** What one Kamailio's dispatcher step did and saw in a pass. */
export interface KamailioOutcome {
  readonly kamailio: string;
  readonly inSync: boolean;
  readonly reloaded: boolean;
  /** Destinations taken out of selection with dispatcher.set_state this pass. */
  readonly deselected: number;
  /** Set when the reload window is closed: how long until the next reload may run. */
  readonly waitMs?: number;
  readonly error?: string;
}

/** A destination Kamailio marked inactive itself (a failed call), respected until `until`. */
export interface HeldMark {
  readonly setId: number;
  readonly uri: string;
  /** The node whose destination it is (its `duid`), when it is one of ours. */
  readonly nodeId: string | undefined;
  /** Wall-clock ms at which the control plane first saw the mark, and at which it clears it. */
  readonly since: number;
  readonly until: number;
}

/** The latest `dispatcher.list` of one Kamailio and how it compared, with its time. */
export interface KamailioObservation {
  readonly kamailio: string;
  /** Wall-clock ms of the answer (or of the failure). */
  readonly at: number;
  readonly snapshot?: KamailioSnapshot;
  readonly drift?: KamailioDrift;
  /** Kamailio's own marks being respected after this observation. */
  readonly marks?: readonly HeldMark[];
  readonly error?: string;
}

/**
 * What the steps of one dispatcher pass hand each other, in step order: the nodes
 * (transitions), the rows wanted and written (table), each Kamailio's outcome (one step per
 * Kamailio), and the promotions at the end.
 */
export interface DispatcherPass {
  /** The leader's epoch this pass writes under (undefined: no election, a single control plane). */
  epoch?: number;
  nodes: NodeRecord[];
  /** Each machine's intent (cordoned, draining, weight override) and slot, read with the nodes. */
  machines: readonly MachineIntent[];
  readonly transitions: AppliedTransition[];
  /** The rows the table holds after the table step (including rows kept for unknown nodes). */
  desired: readonly DispatcherRow[];
  /** Rows kept for nodes the registry has no record of (registry lost?). */
  keptForUnknownNodes: number;
  rowChanges: readonly Change[];
  /** Set when the table could not be written: Kamailios may then only take nodes out. */
  tableError?: Error;
  readonly kamailios: KamailioOutcome[];
  readonly observations: KamailioObservation[];
  /** Set by the health step (before the table): each live node's latest health report. */
  health?: ReadonlyMap<string, HealthReport>;
  /** Set by the rooms step: the pins every Kamailio must hold, and the keys whose pin ended this pass. */
  rooms?: RoomsOutcome;
}

/** One room's hosting nodes and links, for the link step. */
export interface RoomLinkWork {
  readonly room: string;
  /** Live nodes whose conference of the room has participants, with their link member counts. */
  readonly hosts: readonly { readonly nodeId: string; readonly participants: number; readonly links: number }[];
  /** The node callers are pinned to: the tree's root. */
  readonly root: string | undefined;
  readonly links: readonly StoredLink[];
}

/** What the rooms step decided, for the pin sync of each Kamailio. */
export interface RoomsOutcome {
  /** key -> pin */
  readonly pins: ReadonlyMap<string, Pin>;
  /** Keys whose pin ended in this pass: removed from every Kamailio. */
  readonly ended: ReadonlySet<string>;
  /** Keys the table knows (pinned or not): a Kamailio pin outside them is adopted, never deleted. */
  readonly known: ReadonlySet<string>;
  /** Rooms hosted by several nodes (cascaded or split) or with links: what the link step works on. */
  readonly linked: readonly RoomLinkWork[];
  /** Cascaded rooms and their shard counts: every Kamailio's `cascade` htable. */
  readonly cascade: ReadonlyMap<string, number>;
  readonly error?: string;
}

export function newDispatcherPass(): DispatcherPass {
  return { nodes: [], machines: [], transitions: [], desired: [], keptForUnknownNodes: 0, rowChanges: [], kamailios: [], observations: [] };
}
