import { createHash } from 'node:crypto';
import { MAX_MACHINE_ID_LENGTH } from '../events/schemas.js';
import { parseSipUri } from '../events/sipUri.js';
import type { HangupCause } from '../events/commands.js';
import type { DispatcherRow } from './dispatcher.js';
import type { DrainDeadlineAction } from './drain.js';
import type { NodeRecord } from './node.js';
import { machineIdOfAttrs, nodeIdOfAttrs } from './rowIdentity.js';

/**
 * What an operator wants of one machine, kept apart from the nodes that run on it: a node
 * is one FreeSWITCH lifetime (its Core-UUID), and a FreeSWITCH restarted on a drained machine
 * must come back drained, at the dispatcher priority it had. So the slot lives here too: a
 * restart with a new Core-UUID takes its machine's slot, keeping every hashed room in place
 * (measured with a real FreeSWITCH: a new, highest slot moved the restarted node to the front
 * of Kamailio's list and remapped 30 of 30 rooms, those of the untouched nodes included).
 */
export interface MachineIntent {
  readonly machineId: string;
  /** The dispatcher priority of the node on this machine; handed on across restarts. */
  readonly slot: number;
  /** The node that took the slot last: a node may take it only once this one is gone. */
  readonly nodeId: string;
  /** No new calls and no new rooms; the node's calls go on. */
  readonly cordoned?: boolean;
  /** Draining: like cordoned; the node's calls go on until they end, or until the deadline (core/drain.ts). */
  readonly drain?: MachineDrain;
  /** The leader paused this machine's FreeSWITCH inbound for a drain; it resumes it (and clears this) once the drain is lifted. */
  readonly inboundPaused?: boolean;
  /** Replaces the capacity-derived dispatcher weight (1..100). */
  readonly weightOverride?: number;
  /** Record revision for compare-and-set writes. */
  readonly rev: number;
}

export interface MachineDrain {
  /** Wall-clock ms. */
  readonly deadline: number;
  /** At the deadline: end the remaining calls (`hangup`) or leave it draining, overdue (`keep`). Absent: keep. */
  readonly onDeadline?: DrainDeadlineAction;
  /** The cause `hangup` states (absent: MANAGER_REQUEST). */
  readonly hangupCause?: HangupCause;
  /** When the drain was asked, and the node's calls then: the estimate of its end. */
  readonly since?: number;
  readonly startSessions?: number;
  /** Who drains it: an operator, or a scale-down (whose machine the provisioner removes once drained). */
  readonly by?: 'operator' | 'scale';
}

/** Every machine id is at most this long, derived ones included (see MAX_MACHINE_ID_LENGTH). */
const HASHED_HOST_CHARS = 31;

/**
 * The machine of a node whose agent names none (a v1 agent, or no SBC_MACHINE_ID): its SIP
 * address without scheme and transport, `host:port`, one machine per FreeSWITCH address. A
 * hostname too long for a machine id keeps its start and gets a hash of the whole address, so
 * it stays readable and unique.
 */
export function machineIdFromSipUri(sipUri: string): string {
  const parsed = parseSipUri(sipUri);
  if (!parsed.ok) throw new Error(`machine id of an invalid SIP URI: ${parsed.reason}`);
  const { host, port } = parsed.value;
  const id = `${host}:${port}`;
  if (id.length <= MAX_MACHINE_ID_LENGTH) return id;
  const digest = createHash('sha256').update(id).digest('hex');
  return `${host.slice(0, HASHED_HOST_CHARS)}-${digest.slice(0, MAX_MACHINE_ID_LENGTH - HASHED_HOST_CHARS - 1)}`;
}

/** The one place a node's machine is decided: the id its agent sent, else its address's. */
export function machineIdOf(facts: { readonly machineId?: string; readonly sipUri: string }): string {
  return facts.machineId ?? machineIdFromSipUri(facts.sipUri);
}

/** Whether the operator lets this machine's node take new calls and rooms. */
export function machineTakesNewCalls(intent: MachineIntent | undefined): boolean {
  return intent === undefined || (intent.cordoned !== true && intent.drain === undefined);
}

export type SlotChoice =
  /** The machine's slot: the node takes it over (a restart keeps its priority). */
  | { readonly kind: 'machine'; readonly slot: number }
  /** Another live node on this machine holds its slot: a fresh one, so slots stay unique. */
  | { readonly kind: 'fresh' }
  /** The registry knows no such machine: the slot comes from elsewhere, and makes the machine. */
  | { readonly kind: 'new-machine' };

/**
 * Pure: which slot a node entering routing (new, or revived) takes on its machine. The
 * machine's last node keeps the slot while it is live, unless it is being superseded by this
 * very node (`leaving`): two live nodes never share a slot, so never a priority.
 */
export function chooseSlot(
  nodeId: string,
  machine: MachineIntent | undefined,
  holder: NodeRecord | undefined,
  leaving: ReadonlySet<string>,
): SlotChoice {
  if (!machine) return { kind: 'new-machine' };
  const held = machine.nodeId !== nodeId && holder !== undefined && holder.state !== 'gone' && !leaving.has(holder.nodeId);
  return held ? { kind: 'fresh' } : { kind: 'machine', slot: machine.slot };
}

/** Pure: the slot of the node that joined `machineId` last among `nodes`, besides `except`. */
export function lastNodeOn(
  machineId: string,
  nodes: readonly NodeRecord[],
  except: string,
): { readonly slot: number; readonly nodeId: string } | undefined {
  const last = nodes
    .filter((n) => n.machineId === machineId && n.nodeId !== except)
    .reduce<NodeRecord | undefined>((a, b) => (!a || b.joinedAt > a.joinedAt || (b.joinedAt === a.joinedAt && b.slot > a.slot) ? b : a), undefined);
  return last && { slot: last.slot, nodeId: last.nodeId };
}

/** A row's machine: the one its attrs name, else (a row written before machines) its address's. */
function machineOfRow(row: Pick<DispatcherRow, 'attrs' | 'destination'>): string | undefined {
  const named = machineIdOfAttrs(row.attrs);
  if (named !== undefined) return named;
  return parseSipUri(row.destination).ok ? machineIdFromSipUri(row.destination) : undefined;
}

/**
 * Pure: the slot a machine had in the dispatcher table, and the node (`duid`) that held it,
 * for a registry that lost the machine (Redis restarted empty) or never had it (records
 * from before machines). The highest priority wins if rows disagree.
 */
export function machineInTable(
  rows: readonly Pick<DispatcherRow, 'attrs' | 'destination' | 'priority'>[],
  machineId: string,
): { readonly slot: number; readonly nodeId: string } | undefined {
  let found: { slot: number; nodeId: string } | undefined;
  for (const row of rows) {
    const nodeId = nodeIdOfAttrs(row.attrs);
    if (nodeId === undefined || machineOfRow(row) !== machineId) continue;
    if (!found || row.priority > found.slot) found = { slot: row.priority, nodeId };
  }
  return found;
}
