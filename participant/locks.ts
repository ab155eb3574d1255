/**
 * Intent locks held by PREPARED transactions, in `_twopc_locks`. W locks: keys a transaction writes
 * (inserted keys included) and the values of UNIQUE indexes in its after-images; R locks: keys it
 * read. W conflicts with anything another transaction holds, R only with W. A conflict is a NO vote
 * at once: nothing ever waits for a lock, so there are no deadlocks and SQLITE_BUSY never appears.
 */
import { assert } from '../common/assert.ts';
import type { Row, SqlValue } from '../common/value.ts';
import { encodeKey } from '../common/value.ts';
import { collatedValue, comparableValue } from './affinity.ts';
import { conflict } from './refusal.ts';
import type { TableSchema, UniqueIndexSchema } from './schema.ts';
import type { ShardContext } from './shard-context.ts';

export type LockMode = 'R' | 'W';

/** The locks one transaction needs, each once, W winning over R; labels are for NO messages. */
export class LockSet {
  private readonly locks = new Map<string, { mode: LockMode; label: string }>();

  add(lockKey: string, mode: LockMode, label: string): void {
    const held = this.locks.get(lockKey);
    if (held === undefined || (held.mode === 'R' && mode === 'W')) this.locks.set(lockKey, { mode, label });
  }

  merge(other: LockSet): void {
    for (const [lockKey, { mode, label }] of other.entries()) this.add(lockKey, mode, label);
  }

  get size(): number {
    return this.locks.size;
  }

  entries(): IterableIterator<[string, { mode: LockMode; label: string }]> {
    return this.locks.entries();
  }
}

const FIND_CONFLICT = `SELECT txn_id, mode FROM _twopc_locks
  WHERE lock_key = ? AND txn_id <> ? AND (mode = 'W' OR ? = 'W') LIMIT 1`;
const INSERT = `INSERT INTO _twopc_locks (lock_key, txn_id, mode) VALUES (?, ?, ?)`;
const RELEASE = `DELETE FROM _twopc_locks WHERE txn_id = ?`;

/** Throws a CONFLICT refusal naming the first lock another transaction holds against these. */
export function checkLocks(ctx: ShardContext, txnId: string, locks: LockSet): void {
  const find = ctx.stmts.get(FIND_CONFLICT);
  for (const [lockKey, { mode, label }] of locks.entries()) {
    const holder = find.get(lockKey, txnId, mode) as { txn_id: string; mode: LockMode } | undefined;
    if (holder === undefined) continue;
    const kind = `${mode === 'W' ? 'write' : 'read'}/${holder.mode === 'W' ? 'write' : 'read'}`;
    throw conflict(`${kind} conflict on ${label}: held by prepared transaction ${holder.txn_id}`);
  }
}

/** Writes the locks; call only after checkLocks passed in the same local transaction. */
export function acquireLocks(ctx: ShardContext, txnId: string, locks: LockSet): number {
  const insert = ctx.stmts.get(INSERT);
  for (const [lockKey, { mode }] of locks.entries()) insert.run(lockKey, txnId, mode);
  return locks.size;
}

/** Releases every lock of a transaction; the count must match what it acquired. */
export function releaseLocks(ctx: ShardContext, txnId: string, expectedCount: number): void {
  const released = ctx.stmts.get(RELEASE).run(txnId).changes;
  assert(
    released === expectedCount,
    `transaction ${txnId} held ${expectedCount} locks, released ${released}`,
  );
}

/**
 * W locks on the UNIQUE values an after-image puts in place, so two prepared transactions can never
 * both promise a row with the same email. A value the row already held (same row, non-partial index)
 * needs no lock: nobody else can take it while the committed row holds it and its key is W-locked.
 * Partial indexes are always locked (the row may enter the index without its values changing).
 */
export function uniqueLocks(table: TableSchema, before: Row | null, after: Row, locks: LockSet): void {
  for (const index of table.uniqueIndexes) {
    const key = uniqueLockKey(table, index, after);
    if (key === undefined) continue;
    const unchanged =
      index.columns !== null &&
      !index.partial &&
      before !== null &&
      uniqueLockKey(table, index, before) === key;
    if (!unchanged) locks.add(key, 'W', `unique index ${index.name} of ${table.name}`);
  }
}

/**
 * The lock key of an index entry, or undefined when the entry holds a NULL (NULLs never clash in a
 * UNIQUE index). An index twopc cannot evaluate (an expression, an unknown collation) is locked as
 * a whole: every writer of the table then takes the same key, which is safe and slower.
 */
function uniqueLockKey(table: TableSchema, index: UniqueIndexSchema, row: Row): string | undefined {
  const prefix = `u:${table.name}:${index.name}:`;
  if (index.columns === null) return `${prefix}*`;
  const values: SqlValue[] = [];
  for (const [i, name] of index.columns.entries()) {
    const v = row[name];
    assert(v !== undefined, `row of ${table.name} has index column ${name}`);
    if (v === null) return undefined;
    values.push(comparableValue(collatedValue(v, index.collations[i] ?? 'BINARY')));
  }
  return prefix + encodeKey(values);
}
