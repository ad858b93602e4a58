import type { Redis } from 'ioredis';
import { FencedOutError } from '../leader/fencedOut.js';

/**
 * The leader's epoch in Redis, key `{prefix}leader:epoch`, and the check each registry
 * script makes against it in the same script, so a deposed leader's transition is refused
 * atomically with the write it guards (a Redis script runs alone).
 *
 * The rule is the fencing token's: the key holds the highest epoch any writer has shown;
 * a write with a lower epoch is refused, a write with a higher one raises the key. A new
 * leader publishes its epoch at election (publishEpoch, before it calls itself leader), so
 * from then on its predecessor's writes are refused. Raising on write also heals a Redis
 * that lost the key (restarted without persistence): the first write of the current leader
 * puts it back.
 *
 * Convention, so existing scripts keep their indices: the epoch key is the script's *last*
 * key and the writer's epoch its *last* argument (fencedArgs appends both). On Redis Cluster
 * the epoch key would need the same hash slot as the keys it guards; this project runs one
 * Redis.
 */
export function epochKey(prefix: string): string {
  return `${prefix}leader:epoch`;
}

/** The error reply's prefix; the text after it is the epoch the key holds. */
export const FENCED_REPLY = 'SBC_FENCED';

/**
 * Lua to put first in a script's body. It returns an error reply (`SBC_FENCED <current>`)
 * before anything is written when the key holds a higher epoch, and raises the key otherwise.
 */
export const EPOCH_FENCE_LUA = `
local sbc_fence_epoch = tonumber(ARGV[#ARGV])
local sbc_fence_current = tonumber(redis.call('GET', KEYS[#KEYS]) or '0') or 0
if sbc_fence_epoch == nil or sbc_fence_current > sbc_fence_epoch then
  return redis.error_reply('${FENCED_REPLY} ' .. sbc_fence_current)
end
if sbc_fence_current < sbc_fence_epoch then redis.call('SET', KEYS[#KEYS], ARGV[#ARGV]) end
`;

/** A script body with the fence check in front of it. */
export function withEpochFence(script: string): string {
  return `${EPOCH_FENCE_LUA}\n${script}`;
}

/** The keys and arguments of a fenced script: the epoch key and the epoch appended last. */
export function fencedArgs(prefix: string, keys: readonly string[], args: readonly string[], epoch: number): { keys: string[]; args: string[] } {
  return { keys: [...keys, epochKey(prefix)], args: [...args, String(epoch)] };
}

/**
 * The FencedOutError an error from a fenced script stands for, or undefined when it is
 * another error (ioredis rejects with a ReplyError whose message is the reply).
 */
export function fencedOutFromReply(err: unknown, epoch: number): FencedOutError | undefined {
  if (!(err instanceof Error)) return undefined;
  const m = new RegExp(`^${FENCED_REPLY} (\\d+)`).exec(err.message);
  return m ? new FencedOutError('redis', epoch, Number(m[1]), { cause: err }) : undefined;
}

/** Runs a script made by withEpochFence; a fenced reply becomes FencedOutError. */
export async function evalFenced(redis: Redis, prefix: string, script: string, keys: readonly string[], args: readonly string[], epoch: number): Promise<unknown> {
  const f = fencedArgs(prefix, keys, args, epoch);
  try {
    return await redis.eval(script, f.keys.length, ...f.keys, ...f.args);
  } catch (err) {
    throw fencedOutFromReply(err, epoch) ?? err;
  }
}

/**
 * Publishes a new leader's epoch: raises the key to `epoch` if it is lower. Throws
 * FencedOutError when the key already holds a higher epoch (a newer leader published first:
 * this one is stale and must not lead).
 */
export async function publishEpoch(redis: Redis, prefix: string, epoch: number): Promise<void> {
  await evalFenced(redis, prefix, withEpochFence('return 1'), [], [], epoch);
}

/** The epoch the key holds (0 when none was published). */
export async function publishedEpoch(redis: Redis, prefix: string): Promise<number> {
  return Number((await redis.get(epochKey(prefix))) ?? '0');
}
