/**
 * Staged writes of PREPARED transactions, in `_twopc_pending`: per written row, the full after-image
 * (every writable column, as SQLite stored it in the trial) or a delete marker. Checked when written
 * and again when read back at commit, since a commit must apply exactly what was promised.
 */
import { assert } from '../common/assert.ts';
import type { Row } from '../common/value.ts';
import { decodeRow, encodeRow } from '../common/value.ts';
import { checkRowShape } from './base-rows.ts';
import { makeTarget, type RowTarget } from './row-key.ts';
import type { ShardContext } from './shard-context.ts';

/** One row's final state after a transaction: its after-image, or null for "deleted". */
export interface StagedWrite {
  readonly target: RowTarget;
  readonly after: Row | null;
}

const INSERT = `INSERT INTO _twopc_pending (txn_id, seq, tbl, row_key, key_row, after_image) VALUES (?, ?, ?, ?, ?, ?)`;
const SELECT = `SELECT seq, tbl, row_key, key_row, after_image FROM _twopc_pending WHERE txn_id = ? ORDER BY seq`;
const DELETE = `DELETE FROM _twopc_pending WHERE txn_id = ?`;

export function writePending(ctx: ShardContext, txnId: string, writes: readonly StagedWrite[]): number {
  const insert = ctx.stmts.get(INSERT);
  for (const [seq, w] of writes.entries()) {
    if (w.after !== null) checkRowShape(w.target.table, w.after, 'writable');
    const after = w.after === null ? null : encodeRow(w.after);
    insert.run(txnId, BigInt(seq), w.target.table.name, w.target.rowKey, encodeRow(w.target.keyRow), after);
  }
  return writes.length;
}

interface RawPending {
  seq: bigint;
  tbl: string;
  row_key: string;
  key_row: string;
  after_image: string | null;
}

/** The staged writes in the order they were trial-applied; the count must match the record's. */
export function readPending(ctx: ShardContext, txnId: string, expectedCount: number): StagedWrite[] {
  const raw = ctx.stmts.get(SELECT).all(txnId) as RawPending[];
  assert(
    raw.length === expectedCount,
    `transaction ${txnId} staged ${expectedCount} writes, found ${raw.length}`,
  );
  return raw.map((r, i) => {
    assert(r.seq === BigInt(i), `pending writes of ${txnId} are numbered 0..n-1`);
    const table = ctx.tables.get(r.tbl);
    assert(table !== undefined, `pending write of ${txnId} is for known table ${r.tbl}`);
    const target = makeTarget(table, decodeRow(r.key_row));
    assert(
      target.rowKey === r.row_key,
      `pending write of ${txnId} on ${r.tbl}: stored row key matches its key`,
    );
    const after = r.after_image === null ? null : decodeRow(r.after_image);
    if (after !== null) checkRowShape(table, after, 'writable');
    return { target, after };
  });
}

export function deletePending(ctx: ShardContext, txnId: string, expectedCount: number): void {
  const deleted = ctx.stmts.get(DELETE).run(txnId).changes;
  assert(
    deleted === expectedCount,
    `transaction ${txnId} staged ${expectedCount} writes, deleted ${deleted}`,
  );
}
