/**
 * The decision log's side of a cluster restore to a cut at decision_seq N (cluster-cut.ts): reading
 * the original log (read-only, never changed) and writing the log the restored cluster starts with.
 *
 * What the cut log must say, and why:
 * - no COMMIT with a seq above N. The restored shards hold none of those transactions committed, and
 *   the restore aborted what they held prepared; a coordinator that re-drove such a COMMIT would tell
 *   a participant to commit a transaction it has aborted (an assertion, and a lie).
 * - every COMMIT at or below N is ENDed: the restore committed it on every restored shard, so there
 *   is nothing left to re-drive and nobody left in doubt.
 * - a one-phase COMMITTED outcome (a keyed transaction's answer for retries) only if its shard's
 *   restored file holds the commit: otherwise a retry with the same key would be told COMMITTED for
 *   a write the restore took back, instead of running again.
 * - everything else stays: ABORTED outcomes, INTENTs (an INTENT without a decision is aborted when
 *   the coordinator starts, as after any crash), the heuristic audit trail, the seq counter (seqs are
 *   never reused) and the epoch (the coordinator's next open bumps it past the original's).
 *
 * SQLite logs only: a Redis log is shared by live coordinators and cannot be swapped for a copy.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { TwopcError } from '../../common/errors.ts';
import type { DecisionRecord } from '../decision-log.ts';
import { openLogFile } from '../decision-log/sqlite-open.ts';
import { DECISION_COLUMNS, recordFromRow, type DecisionRow } from '../decision-log/sqlite-schema.ts';

/** A restore tool waits this long for a coordinator's write lock before giving up. */
const logBusyTimeoutMs = 5_000;

/** What writing the cut log changed. */
export interface CutLogSummary {
  readonly output: string;
  /** COMMITs above the cut, removed. */
  readonly removedCommits: number;
  /** COMMITs at or below the cut that had no END, now ENDed. */
  readonly ended: number;
  /** One-phase COMMITTED outcomes whose commit the restored shard does not hold, removed. */
  readonly removedOnePhase: number;
}

export class CutLog {
  private constructor(
    readonly file: string,
    private readonly db: Database.Database,
  ) {}

  /** Opens the original log read-only: nothing in it changes, not even a checkpoint. */
  static open(file: string): CutLog {
    return new CutLog(file, openLogFile(file, 'read-only', { busyTimeoutMs: logBusyTimeoutMs }).db);
  }

  /** The last decision_seq the log has handed out. */
  lastSeq(): bigint {
    return this.db
      .prepare("SELECT value FROM twopc_meta WHERE name = 'decision_seq'")
      .pluck()
      .get() as bigint;
  }

  get(txnId: string): DecisionRecord | undefined {
    const row = this.db
      .prepare(`SELECT ${DECISION_COLUMNS} FROM twopc_decisions WHERE txn_id = ?`)
      .get(txnId);
    return row === undefined ? undefined : recordFromRow(row as DecisionRow);
  }

  /** The highest seq decided at or before `atMs` (0 if none is left in the log). */
  seqAt(atMs: number): bigint {
    const seq = this.db
      .prepare(
        'SELECT max(decision_seq) FROM twopc_decisions WHERE decision_seq IS NOT NULL AND decided_at_ms <= ?',
      )
      .pluck()
      .get(BigInt(atMs)) as bigint | null;
    return seq ?? 0n;
  }

  /** The COMMIT with the smallest seq at or above `seq`: its decision time bounds seq's from above. */
  firstAtOrAfter(seq: bigint): DecisionRecord | undefined {
    const row = this.db
      .prepare(
        `SELECT ${DECISION_COLUMNS} FROM twopc_decisions WHERE decision_seq >= ? ORDER BY decision_seq LIMIT 1`,
      )
      .get(seq);
    return row === undefined ? undefined : recordFromRow(row as DecisionRow);
  }

  /**
   * Whether a COMMIT with a seq in (lo, hi] names `shard`, and whether the log still holds every seq
   * of that range (SQLite hands seqs out without gaps, so a missing one was collected).
   */
  shardInRange(lo: bigint, hi: bigint, shard: string): { complete: boolean; named: boolean } {
    const row = this.db
      .prepare(
        'SELECT count(*) AS n, coalesce(sum(EXISTS (SELECT 1 FROM json_each(shards) WHERE value = ?)), 0) AS named ' +
          'FROM twopc_decisions WHERE decision_seq > ? AND decision_seq <= ?',
      )
      .get(shard, lo, hi) as { n: bigint; named: bigint };
    return { complete: row.n === hi - lo, named: row.named > 0n };
  }

  /** The `limit` COMMITs with the highest seqs at or below `seq`, highest first. */
  commitsThrough(seq: bigint, limit: number): DecisionRecord[] {
    const rows = this.db
      .prepare(
        `SELECT ${DECISION_COLUMNS} FROM twopc_decisions WHERE decision_seq IS NOT NULL AND decision_seq <= ? ` +
          'ORDER BY decision_seq DESC LIMIT ?',
      )
      .all(seq, limit) as DecisionRow[];
    return rows.map(recordFromRow);
  }

  /**
   * Writes the cut log to `output` (which must not exist): a copy of this log, then the changes the
   * top of this file lists, in one transaction. `onePhaseKept(txnId, shard)` says whether the
   * restored shard holds a one-phase commit.
   */
  writeCut(
    output: string,
    seq: bigint,
    onePhaseKept: (txnId: string, shard: string) => boolean,
    nowMs: number,
  ): CutLogSummary {
    if (existsSync(output))
      throw new TwopcError('ALREADY_EXISTS', `${output} exists`, {
        hint: 'choose another --output-dir, or pass --force',
      });
    mkdirSync(path.dirname(output), { recursive: true });
    this.db.prepare('VACUUM INTO ?').run(output);
    const out = openLogFile(output, 'tool', { busyTimeoutMs: logBusyTimeoutMs }).db;
    try {
      return out.transaction(() => {
        const removedCommits = out
          .prepare('DELETE FROM twopc_decisions WHERE decision_seq IS NOT NULL AND decision_seq > ?')
          .run(seq).changes;
        const ended = out
          .prepare(
            "UPDATE twopc_decisions SET ended_at_ms = ? WHERE state = 'COMMITTED' AND decision_seq IS NOT NULL " +
              'AND decision_seq <= ? AND ended_at_ms = 0',
          )
          .run(BigInt(nowMs), seq).changes;
        const onePhase = out
          .prepare(
            `SELECT ${DECISION_COLUMNS} FROM twopc_decisions WHERE state = 'COMMITTED' AND decision_seq IS NULL`,
          )
          .all() as DecisionRow[];
        const remove = out.prepare('DELETE FROM twopc_decisions WHERE txn_id = ?');
        let removedOnePhase = 0;
        for (const record of onePhase.map(recordFromRow)) {
          if (record.shards.every((shard) => onePhaseKept(record.txnId, shard))) continue;
          remove.run(record.txnId);
          removedOnePhase++;
        }
        return { output, removedCommits, ended, removedOnePhase };
      })();
    } finally {
      out.close();
    }
  }

  close(): void {
    this.db.close();
  }
}
