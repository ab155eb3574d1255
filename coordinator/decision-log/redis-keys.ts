/**
 * The Redis decision log's key layout. Every key lives in one of two kinds of hash slot:
 *
 *     {twopc}:meta                    hash: schema version, number of slot groups (fixed at creation)
 *     {twopc}:seq                     counter: the last decisionSeq handed out (INCRBY per batch)
 *     {twopc}:epoch                   counter: the coordinator epoch (INCR at every coordinator open)
 *
 *     {twopc.G}:txn:<txnId>           hash: one decision record (fields in redis-records.ts)
 *     {twopc.G}:heur:<txnId>          list: that transaction's heuristic records (JSON), kept forever
 *     {twopc.G}:heuristics            list: the group's audit trail of heuristic records (JSON)
 *     {twopc.G}:status:<STATUS>       sorted sets (score 0, lexicographic): txn ids by listing status
 *     {twopc.G}:unfinished            sorted set: COMMITs without END, score = decisionSeq
 *     {twopc.G}:done                  sorted set: records GC may remove, score = when they became done
 *     {twopc.G}:key:<idempotencyKey>  string: the txn id that claimed the key
 *     {twopc.G}:fenced                set: epochs of replicas taken over (their writes are refused)
 *
 *     {twopc}:replicas, {twopc}:lease:<epoch>, {twopc}:fenced, {twopc}:adopted   see redis-lease.ts
 *
 * G is a *slot group*: `fnv1a(txnId) mod groups` for a transaction's keys, `fnv1a(key) mod groups` for
 * an idempotency key's. The hash tag `{twopc.G}` puts a whole group in one Redis Cluster slot, so each
 * record and the indexes that must change with it (status, unfinished, done) are written by ONE Lua
 * script, atomically, on one node; the groups (16 by default) spread over the cluster's masters.
 *
 * Three things cannot live in a transaction's group, and each costs a second step:
 * - the decisionSeq counter must be one counter for the whole log (a consistent cut needs seqs that
 *   follow the order of decisions across all groups): one INCRBY per batch in `{twopc}`, before the
 *   record scripts (redis-batch.ts);
 * - an idempotency key must be claimed in one place whatever transaction claims it: `SET NX GET` in
 *   the key's group, after the INTENT record is written (redis.ts says why that order is safe);
 * - the epoch, which only changes at open.
 * A per-transaction hash tag (`{<txnId>}`) would put every record in its own slot, and then no script
 * could keep the record and its indexes consistent; one tag for everything (as DTM does) would put the
 * whole log on one node. Slot groups sit between: atomic per group, spread over the cluster.
 *
 * The group count and the hash are part of the stored format: changing either makes records
 * unreachable. The count is written to `{twopc}:meta` by the first open and read from there after.
 */
import { assert } from '../../common/assert.ts';
import { LOG_STATUSES, type LogStatus } from '../decision-log.ts';

/** The namespace of every key: several logs may share a Redis by using different databases. */
export const keyNamespace = 'twopc';
/** Layout version stored in `{twopc}:meta`; a log of another version is refused at open. */
export const REDIS_SCHEMA_VERSION = 1;
/**
 * 16 groups: enough to spread a cluster of up to ~16 masters; few enough that a merged read
 * (unfinished, list) costs 16 small range queries. Fixed when the log is created.
 */
export const slotGroupsDefault = 16;
/** 1,024 groups: a merged read would cost more than it spreads. */
export const slotGroupsMax = 1_024;

/** FNV-1a, 32 bits, over the UTF-8 bytes: stable across versions and platforms (part of the format). */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** The hash tag of the meta keys: one slot for the whole log. */
export const metaTag = `{${keyNamespace}}`;

export const metaKeys = Object.freeze({
  meta: `{${keyNamespace}}:meta`,
  seq: `{${keyNamespace}}:seq`,
  epoch: `{${keyNamespace}}:epoch`,
});

/** The keys of one slot group. */
export class SlotGroup {
  readonly tag: string;
  readonly unfinished: string;
  readonly done: string;
  readonly heuristics: string;
  /** Set: epochs taken over (replicas.ts); the write scripts refuse them. */
  readonly fenced: string;
  readonly status: Readonly<Record<LogStatus, string>>;

  constructor(readonly index: number) {
    this.tag = `{${keyNamespace}.${index}}`;
    this.unfinished = `${this.tag}:unfinished`;
    this.done = `${this.tag}:done`;
    this.heuristics = `${this.tag}:heuristics`;
    this.fenced = `${this.tag}:fenced`;
    this.status = Object.freeze(
      Object.fromEntries(LOG_STATUSES.map((s) => [s, `${this.tag}:status:${s}`])) as Record<
        LogStatus,
        string
      >,
    );
  }

  record(txnId: string): string {
    return `${this.tag}:txn:${txnId}`;
  }

  txnHeuristics(txnId: string): string {
    return `${this.tag}:heur:${txnId}`;
  }

  idempotencyKey(key: string): string {
    return `${this.tag}:key:${key}`;
  }

  /**
   * The KEYS of every per-transaction script, in this order (redis-scripts.ts relies on it):
   * record, unfinished, done, status INTENT, COMMITTING, COMMITTED, ABORTED, txn heuristics, group
   * heuristics, fenced epochs. All in this group's slot.
   */
  txnScriptKeys(txnId: string): string[] {
    return [
      this.record(txnId),
      this.unfinished,
      this.done,
      this.status.INTENT,
      this.status.COMMITTING,
      this.status.COMMITTED,
      this.status.ABORTED,
      this.txnHeuristics(txnId),
      this.heuristics,
      this.fenced,
    ];
  }
}

/** Maps transactions and idempotency keys to their slot groups. */
export class KeyLayout {
  readonly groups: readonly SlotGroup[];

  constructor(groupCount: number) {
    assert(
      Number.isSafeInteger(groupCount) && groupCount >= 1 && groupCount <= slotGroupsMax,
      `bad slot group count ${groupCount}`,
    );
    this.groups = Object.freeze(Array.from({ length: groupCount }, (_, i) => new SlotGroup(i)));
  }

  ofTxn(txnId: string): SlotGroup {
    assert(txnId !== '', 'a transaction key needs a txn id');
    return this.groups[fnv1a32(`txn:${txnId}`) % this.groups.length] as SlotGroup;
  }

  ofIdempotencyKey(key: string): SlotGroup {
    assert(key !== '', 'an idempotency key index needs a key');
    return this.groups[fnv1a32(`key:${key}`) % this.groups.length] as SlotGroup;
  }
}
