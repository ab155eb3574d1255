/**
 * The Lua scripts that write decision records. Each runs atomically on one node and touches only keys
 * of ONE slot group (redis-keys.ts), all declared in KEYS, so each is valid on Redis Cluster.
 * ioredis `defineCommand` sends EVALSHA and falls back to EVAL (which caches the script) the first
 * time on each connection, so a Redis restart that empties the script cache costs one EVAL.
 *
 * A refusal that the SQLite backend reports with an AssertionError (a COMMIT for an aborted
 * transaction, a contradicting outcome) is an error reply starting `TWOPC_REFUSED`; the batch turns
 * it into an AssertionError for that one record.
 *
 * Per-transaction scripts take KEYS from SlotGroup.txnScriptKeys (10 keys) and return what the caller
 * needs to finish the write (e.g. an idempotency key still to claim in its own group).
 *
 * Fencing (replicas.ts): the writes a coordinator makes for its own transactions (INTENT, COMMIT,
 * outcome, END) carry the writer's epoch as their last ARGV ('' = an operator's tool: unchecked).
 * A new record gets `owner` = that epoch; a write is refused with `TWOPC_FENCED` when the writer's
 * epoch is in the group's fenced set (KEYS[10]: a takeover put it there) or the record is owned by
 * another epoch. The check and the write are one script, so a replica that was taken over can never
 * write again, however long it was paused. A repeated COMMIT or outcome that writes nothing still
 * gets its answer (the first seq): that answer is true whoever asks, so telling it to a fenced
 * replica retrying a write whose outcome it did not hear is safe.
 */
import type { Cluster, Redis, Result } from 'ioredis';
import { LEASE_SCRIPTS } from './redis-lease-scripts.ts';

export const REFUSED_PREFIX = 'TWOPC_REFUSED';
export const FENCED_PREFIX = 'TWOPC_FENCED';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    twopcIntent(...args: (string | number)[]): Result<number, Context>;
    twopcDropIntent(...args: (string | number)[]): Result<number, Context>;
    twopcCommit(...args: (string | number)[]): Result<[string, string], Context>;
    twopcOutcome(...args: (string | number)[]): Result<string, Context>;
    twopcEnd(...args: (string | number)[]): Result<number, Context>;
    twopcHeuristic(...args: (string | number)[]): Result<number, Context>;
    twopcHeuristicDecision(...args: (string | number)[]): Result<number, Context>;
    twopcGcDelete(...args: (string | number)[]): Result<(string | number)[], Context>;
    twopcUnclaimKey(...args: (string | number)[]): Result<number, Context>;
    twopcTakeOverKey(...args: (string | number)[]): Result<string | null, Context>;
  }
}

/** Shared prelude of the per-transaction scripts: names for KEYS and the index helpers. */
const TXN_PRELUDE = `
local rec, unfinished, done = KEYS[1], KEYS[2], KEYS[3]
local st = { INTENT = KEYS[4], COMMITTING = KEYS[5], COMMITTED = KEYS[6], ABORTED = KEYS[7] }
local function refuse(msg) return redis.error_reply('${REFUSED_PREFIX} ' .. msg) end
local function fenced(me)
  if me ~= '' and redis.call('SISMEMBER', KEYS[10], me) == 1 then
    return redis.error_reply('${FENCED_PREFIX} epoch ' .. me .. ' was taken over by another replica')
  end
  return nil
end
local function foreign(me)
  local owner = redis.call('HGET', rec, 'owner')
  if me ~= '' and owner and owner ~= '' and owner ~= me then
    return redis.error_reply('${FENCED_PREFIX} ' .. rec .. ' is owned by epoch ' .. owner .. ', not ' .. me)
  end
  return nil
end
local function own(me) if me ~= '' and redis.call('HEXISTS', rec, 'owner') == 0 then redis.call('HSET', rec, 'owner', me) end end
local function unindex(txn)
  for _, k in pairs(st) do redis.call('ZREM', k, txn) end
  redis.call('ZREM', unfinished, txn)
  redis.call('ZREM', done, txn)
end
local function write(state, shards, ro, key, seq, ar, reason, invalid, started, decided, ended)
  redis.call('HSET', rec, 'state', state, 'shards', shards, 'ro', ro, 'key', key, 'seq', seq, 'ar', ar,
    'reason', reason, 'invalid', invalid, 'started', started, 'decided', decided, 'ended', ended)
end
`;

/** ARGV: txnId, key, shards, atMs, epoch. 1 = written, 0 = already there (same key). */
const INTENT = `${TXN_PRELUDE}
local f = fenced(ARGV[5]) or foreign(ARGV[5]) if f then return f end
local state = redis.call('HGET', rec, 'state')
if state then
  if redis.call('HGET', rec, 'key') ~= ARGV[2] then
    return refuse('intent for ' .. ARGV[1] .. ' under a second key')
  end
  return 0
end
write('INTENT', ARGV[3], '[]', ARGV[2], '0', '', '', '0', ARGV[4], '0', '0')
own(ARGV[5])
redis.call('ZADD', st.INTENT, 0, ARGV[1])
redis.call('ZADD', done, ARGV[4], ARGV[1])
return 1
`;

/** ARGV: txnId, key. Removes an INTENT whose key another transaction claimed first. */
const DROP_INTENT = `${TXN_PRELUDE}
if redis.call('HGET', rec, 'state') == 'INTENT' and redis.call('HGET', rec, 'key') == ARGV[2] then
  redis.call('DEL', rec)
  unindex(ARGV[1])
  return 1
end
return 0
`;

/**
 * ARGV: txnId, shards, readOnlyShards, key, startedAtMs, atMs, seq, epoch. Returns {seq, key to claim}: the
 * seq of the first COMMIT when there is one (idempotent), and the idempotency key still to be claimed
 * ('' when an INTENT claimed it already).
 */
const COMMIT = `${TXN_PRELUDE}
local state = redis.call('HGET', rec, 'state')
if state == 'COMMITTED' then
  local seq = redis.call('HGET', rec, 'seq')
  if seq ~= '0' then return { seq, redis.call('HGET', rec, 'key') } end
end
local f = fenced(ARGV[8]) if f then return f end
if state and state ~= 'INTENT' then
  return refuse('COMMIT for ' .. ARGV[1] .. ', which is recorded ' .. state)
end
f = foreign(ARGV[8]) if f then return f end
local key, started, claim = ARGV[4], ARGV[5], ARGV[4]
if state == 'INTENT' then
  key = redis.call('HGET', rec, 'key')
  started = redis.call('HGET', rec, 'started')
  claim = ''
end
write('COMMITTED', ARGV[2], ARGV[3], key, ARGV[7], '', '', '0', started, ARGV[6], '0')
own(ARGV[8])
unindex(ARGV[1])
redis.call('ZADD', st.COMMITTING, 0, ARGV[1])
redis.call('ZADD', unfinished, ARGV[7], ARGV[1])
return { ARGV[7], claim }
`;

/**
 * ARGV: txnId, outcome, shards, key, abortReason, reason, invalid, startedAtMs, atMs, epoch. Returns the
 * idempotency key still to be claimed ('' if none).
 */
const OUTCOME = `${TXN_PRELUDE}
local state = redis.call('HGET', rec, 'state')
if state == ARGV[2] then return '' end
local f = fenced(ARGV[10]) if f then return f end
if state and state ~= 'INTENT' then
  return refuse('outcome ' .. ARGV[2] .. ' for ' .. ARGV[1] .. ', which is recorded ' .. state)
end
f = foreign(ARGV[10]) if f then return f end
local key, started, claim = ARGV[4], ARGV[8], ARGV[4]
if state == 'INTENT' then
  key = redis.call('HGET', rec, 'key')
  started = redis.call('HGET', rec, 'started')
  claim = ''
end
local ended = '0'
if ARGV[2] == 'COMMITTED' then ended = ARGV[9] end
write(ARGV[2], ARGV[3], '[]', key, '0', ARGV[5], ARGV[6], ARGV[7], started, ARGV[9], ended)
own(ARGV[10])
unindex(ARGV[1])
redis.call('ZADD', st[ARGV[2]], 0, ARGV[1])
redis.call('ZADD', done, ARGV[9], ARGV[1])
return claim
`;

/** ARGV: txnId, atMs, epoch. 1 = ended now, 0 = nothing to do (no COMMIT, or already ended). */
const END = `${TXN_PRELUDE}
local f = fenced(ARGV[3]) or foreign(ARGV[3]) if f then return f end
if redis.call('HGET', rec, 'state') == 'COMMITTED' and redis.call('HGET', rec, 'ended') == '0' then
  redis.call('HSET', rec, 'ended', ARGV[2])
  unindex(ARGV[1])
  redis.call('ZADD', st.COMMITTED, 0, ARGV[1])
  redis.call('ZADD', done, ARGV[2], ARGV[1])
  return 1
end
return 0
`;

/** ARGV: the heuristic record as JSON. Appends it to the transaction's and the group's trail. */
const HEURISTIC = `
redis.call('RPUSH', KEYS[8], ARGV[1])
redis.call('RPUSH', KEYS[9], ARGV[1])
return 1
`;

/**
 * ARGV: txnId, heuristic JSON, outcome, shards, startedAtMs, atMs, seq ('0' for an abort), reason.
 * 1 = recorded; 0 = refused (a decision or an earlier heuristic is already there), nothing written.
 */
const HEURISTIC_DECISION = `${TXN_PRELUDE}
local state = redis.call('HGET', rec, 'state')
if (state and state ~= 'INTENT') or redis.call('LLEN', KEYS[8]) > 0 then return 0 end
redis.call('RPUSH', KEYS[8], ARGV[2])
redis.call('RPUSH', KEYS[9], ARGV[2])
local key, started = '', ARGV[5]
if state == 'INTENT' then
  key = redis.call('HGET', rec, 'key')
  started = redis.call('HGET', rec, 'started')
end
unindex(ARGV[1])
if ARGV[3] == 'ABORTED' then
  write('ABORTED', ARGV[4], '[]', key, '0', 'HEURISTIC', ARGV[8], '0', started, ARGV[6], '0')
  redis.call('ZADD', st.ABORTED, 0, ARGV[1])
  redis.call('ZADD', done, ARGV[6], ARGV[1])
else
  write('COMMITTED', ARGV[4], '[]', key, ARGV[7], '', '', '0', started, ARGV[6], '0')
  redis.call('ZADD', st.COMMITTING, 0, ARGV[1])
  redis.call('ZADD', unfinished, ARGV[7], ARGV[1])
end
return 1
`;

/**
 * KEYS: unfinished, done, status INTENT, COMMITTING, COMMITTED, ABORTED, then one record key per txn.
 * ARGV: beforeMs, then the txn ids (in KEYS order). Deletes each record that is still done before
 * `beforeMs` (it may have moved on since it was picked). Returns {removed, then txnId, key of each
 * keyed record that was NOT removed} so the caller can claim its key again.
 */
const GC_DELETE = `
local removed = 0
local out = { 0 }
for i = 2, #ARGV do
  local txn, rec = ARGV[i], KEYS[i + 5]
  local score = redis.call('ZSCORE', KEYS[2], txn)
  if score and tonumber(score) < tonumber(ARGV[1]) then
    redis.call('DEL', rec)
    for s = 1, 6 do redis.call('ZREM', KEYS[s], txn) end
    removed = removed + 1
  else
    local key = redis.call('HGET', rec, 'key')
    if key and key ~= '' then
      out[#out + 1] = txn
      out[#out + 1] = key
    end
  end
end
out[1] = removed
return out
`;

/** KEYS: an idempotency key's index entry. ARGV: txnId. Deletes the entry only if that txn owns it. */
const UNCLAIM_KEY = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

/**
 * KEYS: an idempotency key's index entry. ARGV: the stale owner, the new owner. Moves the key to the
 * new owner only if the stale one still holds it (or nobody does); returns the owner afterwards.
 */
const TAKE_OVER_KEY = `
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] or not owner then
  redis.call('SET', KEYS[1], ARGV[2])
  return ARGV[2]
end
return owner
`;

export const SCRIPTS = {
  twopcIntent: INTENT,
  twopcDropIntent: DROP_INTENT,
  twopcCommit: COMMIT,
  twopcOutcome: OUTCOME,
  twopcEnd: END,
  twopcHeuristic: HEURISTIC,
  twopcHeuristicDecision: HEURISTIC_DECISION,
  twopcGcDelete: GC_DELETE,
  twopcUnclaimKey: UNCLAIM_KEY,
  twopcTakeOverKey: TAKE_OVER_KEY,
  ...LEASE_SCRIPTS,
} as const;

/** Registers every script on a client (standalone, Sentinel or Cluster); KEYS counts are per call. */
export function defineScripts(client: Redis | Cluster): void {
  for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(name, { lua });
}
