/**
 * Row versions: the number of committed writes through twopc. A row with no record has version 1
 * if it exists (it came from the schema file's seed data) and 0 if it does not. Records outlive
 * deletes, so a row deleted and inserted again never shows an old version to a stale reader.
 */
import { assert } from '../common/assert.ts';
import { INT64_MAX } from '../common/value.ts';
import type { RowTarget } from './row-key.ts';
import type { ShardContext } from './shard-context.ts';

const SELECT = `SELECT version FROM _twopc_versions WHERE tbl = ? AND row_key = ?`;
const UPSERT = `INSERT INTO _twopc_versions (tbl, row_key, version) VALUES (?, ?, ?)
  ON CONFLICT (tbl, row_key) DO UPDATE SET version = excluded.version`;

/** The committed version of a row, given whether the row exists now. */
export function committedVersion(ctx: ShardContext, target: RowTarget, exists: boolean): bigint {
  const row = ctx.stmts.get(SELECT).get(target.table.name, target.rowKey) as { version: bigint } | undefined;
  if (row === undefined) return exists ? 1n : 0n;
  assert(
    typeof row.version === 'bigint' && row.version > 0n,
    `version record of ${target.table.name} is a positive int`,
  );
  return row.version;
}

/** Records one more committed write on the row; `before` is its version before the write. */
export function bumpVersion(ctx: ShardContext, target: RowTarget, before: bigint): bigint {
  assert(before >= 0n && before < INT64_MAX, 'version before a write is in range');
  const after = before + 1n;
  ctx.stmts.get(UPSERT).run(target.table.name, target.rowKey, after);
  return after;
}

/**
 * Whether a version a transaction saw still holds. 0 means "absent": it holds for any absent row,
 * even one whose record survived a delete (the state read, no row, is the state now). Any other
 * version must match exactly.
 */
export function versionHolds(expected: bigint, current: bigint, exists: boolean): boolean {
  if (expected === 0n) return !exists;
  return expected === current;
}
