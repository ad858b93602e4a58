import type { Redis } from 'ioredis';
import { NODE_HEALTH, NODE_STATES, type NodeRecord } from '../core/node.js';
import type { NodeRegistry } from '../registry/nodeRegistry.js';

/**
 * Keys: `{prefix}node:{id}` (JSON record, with a TTL so forgotten nodes vanish),
 * `{prefix}nodes` (set of ids), `{prefix}slot` (counter for unique priorities).
 */
const CAS_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, decoded = pcall(cjson.decode, cur)
  local rev = ok and decoded and decoded['rev'] or nil
  if tostring(rev) ~= ARGV[1] then return 0 end
elseif ARGV[1] ~= '' then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
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

  async put(record: NodeRecord, expectedRev: number | undefined, ttlMs: number): Promise<boolean> {
    const res = await this.redis.eval(
      CAS_SCRIPT,
      2,
      this.nodeKey(record.nodeId),
      this.indexKey,
      expectedRev === undefined ? '' : String(expectedRev),
      JSON.stringify(record),
      String(Math.max(1, Math.ceil(ttlMs))),
      record.nodeId,
    );
    return res === 1;
  }

  async allocateSlot(): Promise<number> {
    return this.redis.incr(`${this.prefix}slot`);
  }

  async ensureSlotAtLeast(slot: number): Promise<void> {
    await this.redis.eval(RAISE_SCRIPT, 1, `${this.prefix}slot`, String(slot));
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  private decode(id: string, raw: string): NodeRecord | undefined {
    try {
      const r = JSON.parse(raw) as NodeRecord;
      const valid =
        r.nodeId === id &&
        typeof r.sipUri === 'string' &&
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
}
