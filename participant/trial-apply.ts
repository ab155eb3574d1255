/**
 * The trial: write every after-image to the base tables inside a savepoint, read the rows back, and
 * roll it all back. SQLite then has checked CHECK, NOT NULL, UNIQUE and STRICT types on exactly what
 * the commit will write, and the read-back images carry SQLite's own conversions (affinity,
 * defaults, generated columns), which are what get staged and locked. This is what makes a YES a
 * promise: the commit repeats these writes on rows nobody else can touch meanwhile.
 */
import { assert } from '../common/assert.ts';
import type { Row } from '../common/value.ts';
import type { WorkingRow } from './after-image.ts';
import { selectRow, writableImage, writeImage } from './base-rows.ts';
import { isDataError, withSavepoint } from './local-txn.ts';
import { constraintFailed } from './refusal.ts';
import { describeTarget, formatValue, type RowTarget } from './row-key.ts';
import type { ShardContext } from './shard-context.ts';

export interface TrialImage {
  readonly target: RowTarget;
  /** The committed row before the transaction (every column), or null. */
  readonly before: Row | null;
  /** The row as SQLite stored it in the trial (every column, generated ones included), or null. */
  readonly stored: Row | null;
  /** The after-image to stage: the writable columns of `stored`, or null for a delete. */
  readonly after: Row | null;
}

/** Throws a CONSTRAINT refusal with SQLite's message if any after-image cannot be written. */
export function trialApply(ctx: ShardContext, rows: readonly WorkingRow[]): TrialImage[] {
  return withSavepoint(
    ctx.stmts,
    'twopc_trial',
    () => rows.map((row) => trialOne(ctx, row)),
    () => false,
  );
}

function trialOne(ctx: ShardContext, row: WorkingRow): TrialImage {
  try {
    writeImage(ctx, row.target, row.after);
  } catch (err) {
    if (isDataError(err)) throw constraintFailed(`${describeTarget(row.target)}: ${err.message}`);
    throw err;
  }
  if (row.after === null) return { target: row.target, before: row.before, stored: null, after: null };
  const stored = selectRow(ctx, row.target);
  assert(stored !== undefined, `trial-applied row ${describeTarget(row.target)} reads back`);
  const after = writableImage(row.target.table, stored);
  for (const [name, v] of Object.entries(after)) {
    if (typeof v === 'number' && !Number.isFinite(v)) {
      throw constraintFailed(
        `${describeTarget(row.target)}: column ${name} would hold ${formatValue(v)}, which twopc cannot stage`,
      );
    }
  }
  return { target: row.target, before: row.before, stored, after };
}
