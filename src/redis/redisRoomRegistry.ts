import type { Redis } from 'ioredis';
import { parsePin, type Pin } from '../core/pins.js';
import type { ConferenceHalf, RoomDecision, RoomRecord, StoredLink } from '../core/rooms.js';
import type { HalfReport, RoomRegistry } from '../ports/roomRegistry.js';
import { evalFenced, withEpochFence } from './epochFence.js';

/**
 * The room table in Redis. Keys: `{prefix}room:{room}` (hash: `pin` JSON, `confirmedAt`,
 * `splits` count, `split` the nodes of a split being repaired, `half:{nodeId}` JSON of that
 * node's conference with the seq of the report), `{prefix}rooms` (set of room keys) and
 * `{prefix}noderooms:{nodeId}` (rooms where the node has a conference). No TTL: a room ends
 * by a decision (its pin ends and no conference is left). Every write is one script, so two
 * replicas recording facts at once cannot interleave; decisions carry the leader's epoch.
 */
const RECORD_PIN = `
local cur = redis.call('HGET', KEYS[1], 'pin')
local take = true
if cur then
  local p = cjson.decode(cur)
  if p.by == 'control' or p.uri == ARGV[2] then take = false
  else
    local at, pat = tonumber(ARGV[3]), tonumber(p.at) or 0
    take = at < pat or (at == pat and ARGV[2] < p.uri)
  end
end
if take then
  redis.call('HSET', KEYS[1], 'pin', ARGV[1])
  redis.call('SADD', KEYS[2], ARGV[4])
  return 1
end
return 0
`;

const RECORD_HALF = `
local field = 'half:' .. ARGV[1]
local cur = redis.call('HGET', KEYS[1], field)
if cur and (tonumber(cjson.decode(cur).seq) or 0) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], field, ARGV[2])
redis.call('SADD', KEYS[2], ARGV[4])
if tonumber(ARGV[5]) > 0 then redis.call('SADD', KEYS[3], ARGV[4]) else redis.call('SREM', KEYS[3], ARGV[4]) end
return 1
`;

const REMOVE_HALF_IF_OLDER = `
local field = 'half:' .. ARGV[1]
local cur = redis.call('HGET', KEYS[1], field)
if cur and (tonumber(cjson.decode(cur).seq) or 0) < tonumber(ARGV[2]) then
  redis.call('HDEL', KEYS[1], field)
  redis.call('SREM', KEYS[2], ARGV[3])
  return 1
end
if not cur then redis.call('SREM', KEYS[2], ARGV[3]) end
return 0
`;

const SAVE_DECISION = `
if ARGV[5] == '1' then redis.call('HSET', KEYS[1], 'spill', '1') end
if ARGV[1] == '' then redis.call('HDEL', KEYS[1], 'pin') else redis.call('HSET', KEYS[1], 'pin', ARGV[1]) end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'confirmedAt') else redis.call('HSET', KEYS[1], 'confirmedAt', ARGV[2]) end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], 'split')
else
  if redis.call('HEXISTS', KEYS[1], 'split') == 0 then redis.call('HINCRBY', KEYS[1], 'splits', 1) end
  redis.call('HSET', KEYS[1], 'split', ARGV[3])
end
if ARGV[1] == '' then
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 5) == 'half:' and (tonumber(cjson.decode(all[i + 1]).members) or 0) > 0 then return 1 end
    if string.sub(all[i], 1, 5) == 'link:' then return 1 end
  end
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[4])
end
return 1
`;
const SAVE_DECISION_FENCED = withEpochFence(SAVE_DECISION);

const PUT_LINK = `
redis.call('HSET', KEYS[1], 'link:' .. ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
`;
const DELETE_LINK = `return redis.call('HDEL', KEYS[1], 'link:' .. ARGV[1])`;

interface StoredHalf {
  conferenceUuid: string;
  members: number;
  links: number;
  seq: number;
  at: number;
}

export class RedisRoomRegistry implements RoomRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly onCorrupt: (room: string, reason: string) => void = () => {},
  ) {}

  private roomKey(room: string): string {
    return `${this.prefix}room:${room}`;
  }
  private get roomsKey(): string {
    return `${this.prefix}rooms`;
  }
  private nodeRoomsKey(nodeId: string): string {
    return `${this.prefix}noderooms:${nodeId}`;
  }

  async list(): Promise<RoomRecord[]> {
    const rooms = await this.redis.smembers(this.roomsKey);
    const out: RoomRecord[] = [];
    const vanished: string[] = [];
    for (let i = 0; i < rooms.length; i += 500) {
      const chunk = rooms.slice(i, i + 500);
      const pipe = this.redis.pipeline();
      for (const r of chunk) pipe.hgetall(this.roomKey(r));
      const res = (await pipe.exec()) ?? [];
      res.forEach(([err, fields], j) => {
        if (err) throw err;
        const f = fields as Record<string, string>;
        // A hash whose last field was removed is gone in Redis: drop its key from the set.
        if (Object.keys(f).length === 0) vanished.push(chunk[j] as string);
        const rec = this.decode(chunk[j] as string, f);
        if (rec) out.push(rec);
      });
    }
    if (vanished.length > 0) await this.redis.srem(this.roomsKey, ...vanished);
    return out;
  }

  async get(room: string): Promise<RoomRecord | undefined> {
    const fields = await this.redis.hgetall(this.roomKey(room));
    return Object.keys(fields).length === 0 ? undefined : this.decode(room, fields);
  }

  private decode(room: string, fields: Record<string, string>): RoomRecord | undefined {
    if (Object.keys(fields).length === 0) return undefined;
    try {
      let pin: Pin | undefined;
      if (fields.pin !== undefined) {
        const p = JSON.parse(fields.pin) as { key?: unknown; uri?: unknown; at?: unknown; by?: unknown };
        pin = typeof p.key === 'string' && typeof p.uri === 'string' ? parsePin(p.key, `${p.uri};at=${Number(p.at) || 0};by=${typeof p.by === 'string' ? p.by : ''}`) : undefined;
        if (!pin) this.onCorrupt(room, `unreadable pin ${fields.pin.slice(0, 200)}`);
      }
      const halves: ConferenceHalf[] = [];
      const links: StoredLink[] = [];
      for (const [f, v] of Object.entries(fields)) {
        if (f.startsWith('link:')) {
          const l = JSON.parse(v) as StoredLink;
          if (typeof l.from === 'string' && typeof l.to === 'string') links.push({ linkId: f.slice(5), from: l.from, to: l.to, at: Number(l.at) || 0 });
          continue;
        }
        if (!f.startsWith('half:')) continue;
        const h = JSON.parse(v) as StoredHalf;
        if (h.members > 0) halves.push({ nodeId: f.slice(5), conferenceUuid: h.conferenceUuid, members: h.members, links: h.links, updatedAt: h.at });
      }
      const confirmedAt = fields.confirmedAt !== undefined ? Number(fields.confirmedAt) : undefined;
      return {
        room,
        ...(pin ? { pin } : {}),
        ...(confirmedAt !== undefined && Number.isFinite(confirmedAt) ? { confirmedAt } : {}),
        halves,
        splitsRepaired: Number(fields.splits ?? 0) || 0,
        ...(fields.spill === '1' ? { spilled: true } : {}),
        ...(links.length > 0 ? { links: links.sort((a, b) => (a.linkId < b.linkId ? -1 : 1)) } : {}),
      };
    } catch (err) {
      this.onCorrupt(room, (err as Error).message);
      return undefined;
    }
  }

  async recordPin(room: string, pin: Pin): Promise<boolean> {
    const res = await this.redis.eval(RECORD_PIN, 2, this.roomKey(room), this.roomsKey, JSON.stringify(pin), pin.uri, String(pin.at), room);
    return res === 1;
  }

  async recordHalf(room: string, half: HalfReport): Promise<void> {
    const stored: StoredHalf = { conferenceUuid: half.conferenceUuid, members: half.members, links: half.links, seq: half.seq, at: half.at };
    await this.redis.eval(RECORD_HALF, 3, this.roomKey(room), this.roomsKey, this.nodeRoomsKey(half.nodeId), half.nodeId, JSON.stringify(stored), String(half.seq), room, String(half.members));
  }

  async replaceNodeHalves(nodeId: string, halves: ReadonlyMap<string, HalfReport>, seq: number): Promise<void> {
    for (const [room, h] of halves) await this.recordHalf(room, h);
    const hosted = await this.redis.smembers(this.nodeRoomsKey(nodeId));
    for (const room of hosted) {
      if (halves.has(room)) continue;
      await this.redis.eval(REMOVE_HALF_IF_OLDER, 2, this.roomKey(room), this.nodeRoomsKey(nodeId), nodeId, String(seq), room);
    }
  }

  async forgetNode(nodeId: string): Promise<void> {
    const hosted = await this.redis.smembers(this.nodeRoomsKey(nodeId));
    const pipe = this.redis.pipeline();
    for (const room of hosted) pipe.hdel(this.roomKey(room), `half:${nodeId}`);
    pipe.del(this.nodeRoomsKey(nodeId));
    await pipe.exec();
  }

  async saveDecision(d: RoomDecision, fenceEpoch?: number): Promise<void> {
    const keys = [this.roomKey(d.room), this.roomsKey];
    const args = [d.pin ? JSON.stringify(d.pin) : '', d.confirmedAt !== undefined ? String(d.confirmedAt) : '', d.split ? d.split.join(',') : '', d.room, d.spilled ? '1' : ''];
    if (fenceEpoch === undefined) await this.redis.eval(SAVE_DECISION, keys.length, ...keys, ...args);
    else await evalFenced(this.redis, this.prefix, SAVE_DECISION_FENCED, keys, args, fenceEpoch);
  }

  async putLink(room: string, link: StoredLink, fenceEpoch?: number): Promise<void> {
    const keys = [this.roomKey(room), this.roomsKey];
    const args = [link.linkId, JSON.stringify({ from: link.from, to: link.to, at: link.at }), room];
    if (fenceEpoch === undefined) await this.redis.eval(PUT_LINK, keys.length, ...keys, ...args);
    else await evalFenced(this.redis, this.prefix, withEpochFence(PUT_LINK), keys, args, fenceEpoch);
  }

  async deleteLink(room: string, linkId: string, fenceEpoch?: number): Promise<boolean> {
    const keys = [this.roomKey(room)];
    const res = fenceEpoch === undefined ? await this.redis.eval(DELETE_LINK, 1, ...keys, linkId) : await evalFenced(this.redis, this.prefix, withEpochFence(DELETE_LINK), keys, [linkId], fenceEpoch);
    return res === 1;
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }
}
