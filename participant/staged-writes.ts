/**
 * Applying staged writes to the base tables for real: at a decided commit, and in a one-phase
 * prepare. Each write bumps the row's version, except deleting a row that is not there (a no-op).
 * A failure here after a YES is a broken promise, so a data error is an assertion, not a NO.
 */
import { AssertionError } from '../common/assert.ts';
import { selectRow, writeImage } from './base-rows.ts';
import { isDataError } from './local-txn.ts';
import type { StagedWrite } from './pending.ts';
import { describeTarget } from './row-key.ts';
import type { ShardContext } from './shard-context.ts';
import { bumpVersion, committedVersion } from './versions.ts';

export function applyStagedWrites(ctx: ShardContext, txnId: string, writes: readonly StagedWrite[]): void {
  for (const w of writes) {
    const exists = selectRow(ctx, w.target) !== undefined;
    const version = committedVersion(ctx, w.target, exists);
    let changed: boolean;
    try {
      changed = writeImage(ctx, w.target, w.after);
    } catch (err) {
      if (!isDataError(err)) throw err;
      throw new AssertionError(
        `assertion failed: commit of ${txnId} after YES failed on ${describeTarget(w.target)}: ${err.message}`,
        { cause: err },
      );
    }
    if (changed) bumpVersion(ctx, w.target, version);
  }
}
