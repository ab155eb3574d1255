/**
 * The Lua scripts of coordinator replicas on a Redis log (redis-lease.ts): leases and takeovers in the
 * meta slot `{twopc}`, and the per-group fence that makes a takeover final (one script per slot
 * group, keys of that group only, so it runs on Redis Cluster).
 */
import type { Result } from 'ioredis';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    twopcRegister(...args: (string | number)[]): Result<number, Context>;
    twopcRenew(...args: (string | number)[]): Result<number, Context>;
    twopcClaim(...args: (string | number)[]): Result<number, Context>;
    twopcFenceGroup(...args: (string | number)[]): Result<string[], Context>;
  }
}

/**
 * KEYS: replicas, own lease, adopted. ARGV: epoch, replica info (JSON), leaseTtlMs, coordinatorId.
 * Registers a replica, takes its lease, and makes it the owner of its own coordinator id.
 */
const REGISTER = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[1])
return 1
`;

/**
 * KEYS: replicas, own lease. ARGV: epoch, leaseTtlMs. 1 = renewed; 0 = this replica was taken over
 * (no longer registered): it must stop.
 */
const RENEW = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
`;

/**
 * KEYS: replicas, the dead replica's lease, fenced, adopted, the epoch counter. ARGV: dead epoch,
 * own epoch. Claimed: the dead replica is unregistered, its epoch fenced, every coordinator id it
 * owned (its own and those it had adopted) now belongs to the caller, and the reply is a fresh epoch
 * (INCR of the counter), higher than any the dead replica used, for the caller's messages. 0 = not
 * dead (its lease is alive) or already claimed by someone else. Atomic: exactly one claimer wins.
 */
const CLAIM = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
local adopted = redis.call('HGETALL', KEYS[4])
for i = 1, #adopted, 2 do
  if adopted[i + 1] == ARGV[1] then redis.call('HSET', KEYS[4], adopted[i], ARGV[2]) end
end
return redis.call('INCR', KEYS[5])
`;

/**
 * KEYS: the group's fenced set, unfinished index, INTENT status index. ARGV: own epoch, the group's
 * hash tag, records max, then every fenced epoch. Adds the epochs to the group's fenced set (from
 * then on the write scripts refuse them) and moves every unfinished COMMIT and open INTENT owned by a
 * fenced epoch to the caller. Returns the moved txn ids. Record keys are built from the tag: they are
 * in this group's slot.
 */
const FENCE_GROUP = `
for i = 4, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end
local dead = {}
for _, e in ipairs(redis.call('SMEMBERS', KEYS[1])) do dead[e] = true end
local moved = {}
for _, index in ipairs({ KEYS[2], KEYS[3] }) do
  for _, txn in ipairs(redis.call('ZRANGE', index, 0, tonumber(ARGV[3]) - 1)) do
    local rec = ARGV[2] .. ':txn:' .. txn
    local owner = redis.call('HGET', rec, 'owner')
    if owner and dead[owner] then
      redis.call('HSET', rec, 'owner', ARGV[1])
      moved[#moved + 1] = txn
    end
  end
end
return moved
`;

export const LEASE_SCRIPTS = {
  twopcRegister: REGISTER,
  twopcRenew: RENEW,
  twopcClaim: CLAIM,
  twopcFenceGroup: FENCE_GROUP,
} as const;
