/**
 * Row-level reads and writes of the SQLite decision log's tables, synchronous, on one connection,
 * with a statement cache. No transactions here: SqliteDecisionLog runs the writes inside its
 * group-commit batches, and the reads outside them.
 */
import type Database from 'better-sqlite3';
import type {
  DecisionRecord,
  HeuristicDecision,
  HeuristicDecisionResult,
  HeuristicRecord,
  LogListQuery,
  LogStatus,
} from '../decision-log.ts';
import {
  DECISION_COLUMNS,
  heuristicFromRow,
  recordFromRow,
  rowParams,
  type DecisionRow,
  type HeuristicRow,
} from './sqlite-schema.ts';

const STATUS_SQL: Record<LogStatus, string> = {
  INTENT: "state = 'INTENT'",
  COMMITTING: "(state = 'COMMITTED' AND ended_at_ms = 0)",
  COMMITTED: "(state = 'COMMITTED' AND ended_at_ms > 0)",
  ABORTED: "state = 'ABORTED'",
};

const HEURISTIC_COLUMNS = 'txn_id, outcome, operator, note, at_ms';

export class LogTables {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  select(txnId: string): DecisionRecord | undefined {
    const row = this.stmt(`SELECT ${DECISION_COLUMNS} FROM twopc_decisions WHERE txn_id = ?`).get(txnId) as
      DecisionRow | undefined;
    return row === undefined ? undefined : recordFromRow(row);
  }

  selectByKey(key: string): DecisionRecord | undefined {
    const row = this.stmt(`SELECT ${DECISION_COLUMNS} FROM twopc_decisions WHERE idempotency_key = ?`).get(
      key,
    ) as DecisionRow | undefined;
    return row === undefined ? undefined : recordFromRow(row);
  }

  /** COMMITs without END, in decisionSeq order, after `afterSeq`. */
  unfinished(afterSeq: bigint, limit: number): DecisionRecord[] {
    const rows = this.stmt(
      `SELECT ${DECISION_COLUMNS} FROM twopc_decisions WHERE state = 'COMMITTED' AND ended_at_ms = 0 ` +
        'AND decision_seq IS NOT NULL AND decision_seq > ? ORDER BY decision_seq LIMIT ?',
    ).all(afterSeq, BigInt(limit)) as DecisionRow[];
    return rows.map(recordFromRow);
  }

  list(q: LogListQuery): DecisionRecord[] {
    const statuses =
      q.statuses.length === 0 ? '' : ` AND (${q.statuses.map((s) => STATUS_SQL[s]).join(' OR ')})`;
    const rows = this.stmt(
      `SELECT ${DECISION_COLUMNS} FROM twopc_decisions WHERE txn_id > ?${statuses} ORDER BY txn_id LIMIT ?`,
    ).all(q.afterTxnId, BigInt(q.limit)) as DecisionRow[];
    return rows.map(recordFromRow);
  }

  heuristics(txnId: string): HeuristicRecord[] {
    const rows = this.stmt(
      `SELECT ${HEURISTIC_COLUMNS} FROM twopc_heuristics WHERE txn_id = ? ORDER BY id`,
    ).all(txnId) as HeuristicRow[];
    return rows.map(heuristicFromRow);
  }

  /** The audit trail, oldest first. */
  allHeuristics(limit: number): HeuristicRecord[] {
    const rows = this.stmt(`SELECT ${HEURISTIC_COLUMNS} FROM twopc_heuristics ORDER BY id LIMIT ?`).all(
      BigInt(limit),
    ) as HeuristicRow[];
    return rows.map(heuristicFromRow);
  }

  insert(record: DecisionRecord): void {
    this.stmt(
      `INSERT OR REPLACE INTO twopc_decisions (${DECISION_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
    ).run(...rowParams(record));
  }

  insertHeuristic(r: HeuristicRecord): void {
    this.stmt(`INSERT INTO twopc_heuristics (${HEURISTIC_COLUMNS}) VALUES (?, ?, ?, ?, ?)`).run(
      r.txnId,
      r.outcome,
      r.operator,
      r.note,
      BigInt(r.atMs),
    );
  }

  /**
   * The audit row and the decision itself (a COMMIT with a new decisionSeq, or an ABORTED outcome
   * with reason HEURISTIC), unless a decision or an earlier heuristic is already recorded for the
   * transaction; then nothing is written. Call inside a write transaction.
   */
  heuristicDecision(r: HeuristicDecision): HeuristicDecisionResult {
    const existing = this.select(r.txnId);
    const earlier = this.heuristics(r.txnId);
    if ((existing !== undefined && existing.state !== 'INTENT') || earlier.length > 0)
      return { recorded: false, existing, heuristics: earlier };
    this.insertHeuristic(r);
    const record = {
      txnId: r.txnId,
      shards: r.shards,
      readOnlyShards: [],
      idempotencyKey: existing?.idempotencyKey ?? '',
      invalid: false,
      startedAtMs: existing?.startedAtMs ?? r.startedAtMs,
      decidedAtMs: r.atMs,
      endedAtMs: 0,
    };
    if (r.outcome === 'ABORTED') {
      const reason = `heuristic abort by ${r.operator}: ${r.note}`;
      this.insert({ ...record, state: 'ABORTED', decisionSeq: 0n, abortReason: 'HEURISTIC', reason });
      return { recorded: true, decisionSeq: 0n };
    }
    const decisionSeq = this.nextSeq();
    this.insert({ ...record, state: 'COMMITTED', decisionSeq, reason: '' });
    return { recorded: true, decisionSeq };
  }

  setEnded(txnId: string, atMs: number): void {
    this.stmt(
      "UPDATE twopc_decisions SET ended_at_ms = ? WHERE txn_id = ? AND state = 'COMMITTED' AND ended_at_ms = 0",
    ).run(BigInt(atMs), txnId);
  }

  /**
   * The next decisionSeq. Call only inside a write transaction (BEGIN IMMEDIATE), so that two
   * writers of the same file never hand out the same seq.
   */
  nextSeq(): bigint {
    return this.stmt("UPDATE twopc_meta SET value = value + 1 WHERE name = 'decision_seq' RETURNING value")
      .pluck()
      .get() as bigint;
  }

  gc(beforeMs: number, limit: number): number {
    return this.stmt(
      'DELETE FROM twopc_decisions WHERE txn_id IN (SELECT txn_id FROM twopc_decisions ' +
        'WHERE done_at_ms IS NOT NULL AND done_at_ms < ? LIMIT ?)',
    ).run(BigInt(beforeMs), BigInt(limit)).changes;
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }
}
