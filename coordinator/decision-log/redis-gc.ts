/**
 * Garbage collection of the Redis decision log, in four steps because an idempotency key's index
 * entry lives in another slot group than its record:
 *
 *   1. pick, per group, the records done before `beforeMs` (the `done` sorted set) and their keys;
 *   2. delete each key's index entry, if it still points at that record (UNCLAIM: compare and delete);
 *   3. delete the records, per group, re-checking that each is still done before `beforeMs`;
 *   4. claim again the keys of records step 3 kept (they moved on since step 1, e.g. an old INTENT
 *      that got its outcome).
 *
 * The key goes first so a crash between steps leaves, at worst, a record without its index entry —
 * its key has expired with it a moment early, which is what retention means anyway — and never an
 * entry pointing at nothing for long (the batch treats such an entry as stale, see redis-batch.ts).
 * GC writes never WAIT: losing one to a failover only means the next run redoes it.
 */
import { assert } from '../../common/assert.ts';
import { unavailable } from '../../common/errors.ts';
import type { CommandResult, RedisConnection, SlotCommand } from './redis-connection.ts';
import type { KeyLayout, SlotGroup } from './redis-keys.ts';

/** Records one GC script deletes: bounds the time Redis is blocked by one script (a few ms). */
export const gcScriptRecordsMax = 500;

interface Victim {
  readonly group: SlotGroup;
  readonly txnId: string;
  key: string;
}

function check(result: CommandResult | undefined, what: string): unknown {
  assert(result !== undefined, `${what}: missing reply`);
  if (result[0] !== null)
    throw unavailable(`decision log GC failed (${what}): ${result[0].message}`, result[0]);
  return result[1];
}

export async function collectGarbage(
  connection: RedisConnection,
  layout: KeyLayout,
  beforeMs: number,
  limit: number,
): Promise<number> {
  const victims = await pick(connection, layout, beforeMs, limit);
  if (victims.length === 0) return 0;

  const keyed = victims.filter((v) => v.key !== '');
  const unclaims = await connection.exec(
    keyed.map((v) => {
      const group = layout.ofIdempotencyKey(v.key);
      return { tag: group.tag, add: (p) => p.twopcUnclaimKey(1, group.idempotencyKey(v.key), v.txnId) };
    }),
  );
  unclaims.forEach((r, i) => check(r, `unclaim key of ${keyed[i]?.txnId}`));

  const deletes: SlotCommand[] = [];
  for (const group of layout.groups) {
    const mine = victims.filter((v) => v.group === group);
    for (let i = 0; i < mine.length; i += gcScriptRecordsMax) {
      const chunk = mine.slice(i, i + gcScriptRecordsMax);
      const keys = [
        group.unfinished,
        group.done,
        group.status.INTENT,
        group.status.COMMITTING,
        group.status.COMMITTED,
        group.status.ABORTED,
        ...chunk.map((v) => group.record(v.txnId)),
      ];
      deletes.push({
        tag: group.tag,
        add: (p) => p.twopcGcDelete(keys.length, ...keys, beforeMs, ...chunk.map((v) => v.txnId)),
      });
    }
  }
  let removed = 0;
  const survivors: { txnId: string; key: string }[] = [];
  for (const result of await connection.exec(deletes)) {
    const reply = check(result, 'delete records');
    assert(Array.isArray(reply) && typeof reply[0] === 'number', 'GC delete: bad reply');
    removed += reply[0];
    for (let i = 1; i + 1 < reply.length; i += 2)
      survivors.push({ txnId: String(reply[i]), key: String(reply[i + 1]) });
  }

  const reclaims = await connection.exec(
    survivors.map((s) => {
      const group = layout.ofIdempotencyKey(s.key);
      return { tag: group.tag, add: (p) => p.set(group.idempotencyKey(s.key), s.txnId, 'NX') };
    }),
  );
  reclaims.forEach((r, i) => check(r, `claim key of ${survivors[i]?.txnId} again`));
  return removed;
}

/** Step 1: up to `limit` records done before `beforeMs`, over all groups, with their keys. */
async function pick(
  connection: RedisConnection,
  layout: KeyLayout,
  beforeMs: number,
  limit: number,
): Promise<Victim[]> {
  const ranges = await connection.exec(
    layout.groups.map((g) => ({
      tag: g.tag,
      add: (p) => p.zrangebyscore(g.done, '-inf', `(${beforeMs}`, 'LIMIT', 0, limit),
    })),
  );
  const victims: Victim[] = [];
  ranges.forEach((r, i) => {
    const ids = check(r, 'pick');
    assert(Array.isArray(ids), 'GC pick: bad reply');
    for (const id of ids) victims.push({ group: layout.groups[i] as SlotGroup, txnId: String(id), key: '' });
  });
  victims.splice(limit);
  const keys = await connection.exec(
    victims.map((v) => ({ tag: v.group.tag, add: (p) => p.hget(v.group.record(v.txnId), 'key') })),
  );
  keys.forEach((r, i) => {
    const key = check(r, 'read key');
    (victims[i] as Victim).key = typeof key === 'string' ? key : '';
  });
  return victims;
}
