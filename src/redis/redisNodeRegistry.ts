import { HANGUP_CAUSES } from '../events/commands.js';
import type { Redis } from 'ioredis';
import { machineIdOf, type MachineIntent } from '../core/machine.js';
import { NODE_HEALTH, NODE_STATES, type NodeRecord } from '../core/node.js';
import type { NodeRegistry } from '../ports/nodeRegistry.js';
import { evalFenced, withEpochFence } from './epochFence.js';

/** Compare-and-set on KEYS[1]: ARGV[1] is the expected `rev` ('' for "none stored"). */
const REVISION_CHECK = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, decoded = pcall(cjson.decode, cur)
  local rev = ok and decoded and decoded['rev'] or nil
  if tostring(rev) ~= ARGV[1] then return 0 end
elseif ARGV[1] ~= '' then
  return 0
end
`;

/**
 * Keys: `{prefix}node:{id}` (JSON record, with a TTL so forgotten nodes vanish),
 * `{prefix}nodes` (set of ids), `{prefix}uri:{sipUri}` (ids of the nodes recorded at that
 * address, so a claim on an address reads those few records, not the whole registry),
 * `{prefix}slot` (counter for unique priorities), `{prefix}machine:{id}` (JSON machine
 * intent, no TTL: an operator's wish outlives the nodes) and `{prefix}machines` (their ids).
 *
 * KEYS[3] is the record's address index, KEYS[4] the index of the address it had (equal
 * when unchanged): the caller's expected revision proves it read the stored record.
 */
const CAS_SCRIPT = `${REVISION_CHECK}redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
if KEYS[4] ~= KEYS[3] then redis.call('SREM', KEYS[4], ARGV[4]) end
redis.call('SADD', KEYS[3], ARGV[4])
return 1
`;

/** CAS_SCRIPT behind the leader's epoch fence (the epoch key and epoch are appended last). */
const FENCED_CAS_SCRIPT = withEpochFence(CAS_SCRIPT);

/** KEYS[1] the machine, KEYS[2] the machine index. */
const MACHINE_CAS_SCRIPT = `${REVISION_CHECK}redis.call('SET', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
`;

const RAISE_SCRIPT = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`;

export class RedisNodeRegistry implements NodeRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly onCorrupt: (nodeId: string, reason: string) => void = () => {},
  ) {}

  private nodeKey(id: string): string {
    return `${this.prefix}node:${id}`;
  }
  private get indexKey(): string {
    return `${this.prefix}nodes`;
  }

  async list(): Promise<NodeRecord[]> {
    const ids = await this.redis.smembers(this.indexKey);
    const out: NodeRecord[] = [];
    const vanished: string[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const values = await this.redis.mget(chunk.map((id) => this.nodeKey(id)));
      values.forEach((v, j) => {
        const id = chunk[j] as string;
        if (v === null) {
          vanished.push(id);
          return;
        }
        const rec = this.decode(id, v);
        if (rec) out.push(rec);
      });
    }
    // Records expire on their own; drop their ids from the index as we come across them.
    if (vanished.length > 0) await this.redis.srem(this.indexKey, ...vanished);
    return out;
  }

  async get(nodeId: string): Promise<NodeRecord | undefined> {
    const v = await this.redis.get(this.nodeKey(nodeId));
    return v === null ? undefined : this.decode(nodeId, v);
  }

  private uriKey(sipUri: string): string {
    return `${this.prefix}uri:${sipUri}`;
  }

  async atAddress(sipUri: string): Promise<NodeRecord[]> {
    const ids = await this.redis.smembers(this.uriKey(sipUri));
    if (ids.length === 0) return [];
    const values = await this.redis.mget(ids.map((id) => this.nodeKey(id)));
    const out: NodeRecord[] = [];
    const moved: string[] = [];
    values.forEach((v, i) => {
      const rec = v === null ? undefined : this.decode(ids[i] as string, v);
      if (rec?.sipUri === sipUri) out.push(rec);
      else moved.push(ids[i] as string);
    });
    // Expired records and nodes that moved elsewhere leave their id behind; drop it here.
    if (moved.length > 0) await this.redis.srem(this.uriKey(sipUri), ...moved);
    return out;
  }

  async put(record: NodeRecord, expectedRev: number | undefined, ttlMs: number, previous?: NodeRecord, fenceEpoch?: number): Promise<boolean> {
    const keys = [this.nodeKey(record.nodeId), this.indexKey, this.uriKey(record.sipUri), this.uriKey(previous?.sipUri ?? record.sipUri)];
    const args = [expectedRev === undefined ? '' : String(expectedRev), JSON.stringify(record), String(Math.max(1, Math.ceil(ttlMs))), record.nodeId];
    // The leader's transitions carry its epoch: the same script refuses them once a newer leader published its own.
    const res = fenceEpoch === undefined
      ? await this.redis.eval(CAS_SCRIPT, keys.length, ...keys, ...args)
      : await evalFenced(this.redis, this.prefix, FENCED_CAS_SCRIPT, keys, args, fenceEpoch);
    return res === 1;
  }

  async allocateSlot(): Promise<number> {
    return this.redis.incr(`${this.prefix}slot`);
  }

  async ensureSlotAtLeast(slot: number): Promise<void> {
    await this.redis.eval(RAISE_SCRIPT, 1, `${this.prefix}slot`, String(slot));
  }

  private machineKey(machineId: string): string {
    return `${this.prefix}machine:${machineId}`;
  }

  async listMachines(): Promise<MachineIntent[]> {
    const ids = await this.redis.smembers(`${this.prefix}machines`);
    const out: MachineIntent[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const values = await this.redis.mget(chunk.map((id) => this.machineKey(id)));
      values.forEach((v, j) => {
        const machine = v === null ? undefined : this.decodeMachine(chunk[j] as string, v);
        if (machine) out.push(machine);
      });
    }
    return out;
  }

  async getMachine(machineId: string): Promise<MachineIntent | undefined> {
    const v = await this.redis.get(this.machineKey(machineId));
    return v === null ? undefined : this.decodeMachine(machineId, v);
  }

  async putMachine(machine: MachineIntent, expectedRev: number | undefined): Promise<boolean> {
    const res = await this.redis.eval(
      MACHINE_CAS_SCRIPT,
      2,
      this.machineKey(machine.machineId),
      `${this.prefix}machines`,
      expectedRev === undefined ? '' : String(expectedRev),
      JSON.stringify(machine),
      machine.machineId,
    );
    return res === 1;
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  private decode(id: string, raw: string): NodeRecord | undefined {
    try {
      const stored = JSON.parse(raw) as Omit<NodeRecord, 'machineId'> & { machineId?: unknown };
      // A record written before machines names none: its machine is its address's.
      const r = (typeof stored.sipUri === 'string' && stored.machineId === undefined
        ? { ...stored, machineId: machineIdOf({ sipUri: stored.sipUri }) }
        : stored) as NodeRecord;
      const valid =
        r.nodeId === id &&
        typeof r.sipUri === 'string' &&
        typeof r.machineId === 'string' &&
        Number.isInteger(r.slot) &&
        Number.isInteger(r.rev) &&
        Number.isFinite(r.expiresAt) &&
        (NODE_STATES as readonly string[]).includes(r.state) &&
        (NODE_HEALTH as readonly string[]).includes(r.health);
      if (valid) return r;
      this.onCorrupt(id, 'record does not have the expected shape');
    } catch (err) {
      this.onCorrupt(id, (err as Error).message);
    }
    return undefined;
  }

  private decodeMachine(id: string, raw: string): MachineIntent | undefined {
    try {
      const m = JSON.parse(raw) as MachineIntent;
      const valid =
        m.machineId === id &&
        Number.isInteger(m.slot) &&
        typeof m.nodeId === 'string' &&
        Number.isInteger(m.rev) &&
        (m.cordoned === undefined || typeof m.cordoned === 'boolean') &&
        (m.drain === undefined || (Number.isFinite(m.drain.deadline) && (m.drain.onDeadline === undefined || m.drain.onDeadline === 'hangup' || m.drain.onDeadline === 'keep') && (m.drain.hangupCause === undefined || (HANGUP_CAUSES as readonly string[]).includes(m.drain.hangupCause)))) &&
        (m.inboundPaused === undefined || typeof m.inboundPaused === 'boolean') &&
        (m.weightOverride === undefined || Number.isInteger(m.weightOverride));
      if (valid) return m;
      this.onCorrupt(`machine:${id}`, 'machine record does not have the expected shape');
    } catch (err) {
      this.onCorrupt(`machine:${id}`, (err as Error).message);
    }
    return undefined;
  }
}
