/**
 * The embedded decision log: one SQLite file (WAL, synchronous=FULL for forced batches), written
 * through a group-commit queue so that many decisions share one local transaction and one fsync.
 * Each record is applied inside its own savepoint, so one refused record (a bug caught by an
 * assertion) does not sink the others in its batch; an I/O error fails the whole batch, and every
 * write in it rejects with UNAVAILABLE (its outcome is then unknown: the callers retry, and every
 * write is idempotent).
 *
 * Seqs are handed out inside the batch's write transaction (BEGIN IMMEDIATE) from `twopc_meta`, so
 * they stay unique and increasing even if a second process (e.g. the recovery CLI) writes the file.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { AssertionError, assert } from '../../common/assert.ts';
import { TwopcError, describeError, unavailable } from '../../common/errors.ts';
import type {
  CommitRecord,
  DecisionLog,
  DecisionLogStats,
  DecisionRecord,
  HeuristicRecord,
  IntentRecord,
  LogListQuery,
  LogStatus,
  OutcomeRecord,
} from '../decision-log.ts';
import { GroupCommitQueue, type BatchItem, type BatchSummary, type ItemResult } from './group-commit.ts';
import {
  DECISION_COLUMNS,
  SCHEMA_SQL,
  SCHEMA_VERSION,
  heuristicFromRow,
  recordFromRow,
  rowParams,
  type DecisionRow,
  type HeuristicRow,
} from './sqlite-schema.ts';

/** A reader (e.g. the recovery CLI) may hold the file briefly; wait this long before failing. */
const busyTimeoutMs = 5_000;

const STATUS_SQL: Record<LogStatus, string> = {
  INTENT: "state = 'INTENT'",
  COMMITTING: "(state = 'COMMITTED' AND ended_at_ms = 0)",
  COMMITTED: "(state = 'COMMITTED' AND ended_at_ms > 0)",
  ABORTED: "state = 'ABORTED'",
};

function isRecordLevelError(err: unknown): boolean {
  if (err instanceof AssertionError) return true;
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT');
}

export class SqliteDecisionLog implements DecisionLog {
  readonly epoch: bigint;
  private readonly db: Database.Database;
  private readonly queue: GroupCommitQueue;
  private synchronous: 'FULL' | 'NORMAL' = 'FULL';
  private closed = false;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly savepoint: (apply: () => unknown) => unknown;
  private batches = 0;
  private records = 0;
  private batchRecordsMax = 0;

  /** Opens (creating the file and its directory if missing) and bumps the epoch, durably. */
  static open(file: string, options: { onBatch?: (summary: BatchSummary) => void } = {}): SqliteDecisionLog {
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    return new SqliteDecisionLog(new Database(file, { timeout: busyTimeoutMs }), options.onBatch);
  }

  private constructor(db: Database.Database, onBatch?: (summary: BatchSummary) => void) {
    this.db = db;
    db.defaultSafeIntegers(true);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(SCHEMA_SQL);
    const version = db
      .prepare("SELECT value FROM twopc_meta WHERE name = 'schema_version'")
      .pluck()
      .get() as bigint;
    if (version !== SCHEMA_VERSION) {
      db.close();
      throw new TwopcError(
        'FAILED_PRECONDITION',
        `decision log schema version ${version} is not ${SCHEMA_VERSION}`,
        {
          hint: 'open it with the twopc version that wrote it',
        },
      );
    }
    this.epoch = db
      .prepare("UPDATE twopc_meta SET value = value + 1 WHERE name = 'epoch' RETURNING value")
      .pluck()
      .get() as bigint;
    this.savepoint = db.transaction((apply: () => unknown) => apply());
    this.queue = new GroupCommitQueue(
      (items, forced) => this.runBatch(items, forced),
      (summary) => {
        this.batches++;
        this.records += summary.size;
        this.batchRecordsMax = Math.max(this.batchRecordsMax, summary.size);
        onBatch?.(summary);
      },
    );
  }

  logIntent(r: IntentRecord): Promise<string> {
    assert(r.idempotencyKey !== '', 'logIntent needs a key');
    return this.queue.enqueue(true, () => {
      const owner = this.selectByKey(r.idempotencyKey);
      if (owner !== undefined) return owner.txnId;
      const existing = this.select(r.txnId);
      if (existing !== undefined) {
        assert(existing.idempotencyKey === r.idempotencyKey, `intent for ${r.txnId} under a second key`);
        return r.txnId;
      }
      this.insert({
        txnId: r.txnId,
        state: 'INTENT',
        shards: r.shards,
        readOnlyShards: [],
        idempotencyKey: r.idempotencyKey,
        decisionSeq: 0n,
        reason: '',
        invalid: false,
        startedAtMs: r.atMs,
        decidedAtMs: 0,
        endedAtMs: 0,
      });
      return r.txnId;
    });
  }

  logCommit(r: CommitRecord): Promise<bigint> {
    return this.queue.enqueue(true, () => {
      const existing = this.select(r.txnId);
      if (existing?.state === 'COMMITTED' && existing.decisionSeq > 0n) return existing.decisionSeq;
      assert(
        existing === undefined || existing.state === 'INTENT',
        `COMMIT for ${r.txnId}, which is recorded ${existing?.state}`,
      );
      const seq = this.stmt(
        "UPDATE twopc_meta SET value = value + 1 WHERE name = 'decision_seq' RETURNING value",
      )
        .pluck()
        .get() as bigint;
      this.insert({
        txnId: r.txnId,
        state: 'COMMITTED',
        shards: r.shards,
        readOnlyShards: r.readOnlyShards,
        idempotencyKey: existing?.idempotencyKey || r.idempotencyKey,
        decisionSeq: seq,
        reason: '',
        invalid: false,
        startedAtMs: existing?.startedAtMs ?? r.startedAtMs,
        decidedAtMs: r.atMs,
        endedAtMs: 0,
      });
      return seq;
    });
  }

  logOutcome(r: OutcomeRecord): Promise<void> {
    return this.queue.enqueue(false, () => {
      const existing = this.select(r.txnId);
      if (existing?.state === r.outcome) return;
      assert(
        existing === undefined || existing.state === 'INTENT',
        `outcome ${r.outcome} for ${r.txnId}, which is recorded ${existing?.state}`,
      );
      this.insert({
        txnId: r.txnId,
        state: r.outcome,
        shards: r.shards,
        readOnlyShards: [],
        idempotencyKey: existing?.idempotencyKey || r.idempotencyKey,
        decisionSeq: 0n,
        ...(r.outcome === 'ABORTED' ? { abortReason: r.abortReason ?? 'UNAVAILABLE' } : {}),
        reason: r.reason,
        invalid: r.invalid,
        startedAtMs: existing?.startedAtMs ?? r.startedAtMs,
        decidedAtMs: r.atMs,
        endedAtMs: r.outcome === 'COMMITTED' ? r.atMs : 0,
      });
    });
  }

  logEnd(txnId: string, atMs: number): Promise<void> {
    assert(atMs > 0, 'logEnd needs a time');
    return this.queue.enqueue(false, () => {
      this.stmt(
        "UPDATE twopc_decisions SET ended_at_ms = ? WHERE txn_id = ? AND state = 'COMMITTED' AND ended_at_ms = 0",
      ).run(BigInt(atMs), txnId);
    });
  }

  logHeuristic(r: HeuristicRecord): Promise<void> {
    assert(r.txnId !== '' && r.operator !== '', 'heuristic record needs a txn id and an operator');
    return this.queue.enqueue(true, () => {
      this.stmt(
        'INSERT INTO twopc_heuristics (txn_id, outcome, operator, note, at_ms) VALUES (?, ?, ?, ?, ?)',
      ).run(r.txnId, r.outcome, r.operator, r.note, BigInt(r.atMs));
    });
  }

  async get(txnId: string): Promise<DecisionRecord | undefined> {
    this.checkOpen();
    return this.select(txnId);
  }

  async byIdempotencyKey(key: string): Promise<DecisionRecord | undefined> {
    this.checkOpen();
    return this.selectByKey(key);
  }

  async unfinished(afterSeq: bigint, limit: number): Promise<readonly DecisionRecord[]> {
    this.checkOpen();
    const rows = this.stmt(
      `SELECT ${DECISION_COLUMNS} FROM twopc_decisions WHERE state = 'COMMITTED' AND ended_at_ms = 0 ` +
        'AND decision_seq IS NOT NULL AND decision_seq > ? ORDER BY decision_seq LIMIT ?',
    ).all(afterSeq, BigInt(limit)) as DecisionRow[];
    return rows.map(recordFromRow);
  }

  async list(q: LogListQuery): Promise<readonly DecisionRecord[]> {
    this.checkOpen();
    const statuses =
      q.statuses.length === 0 ? '' : ` AND (${q.statuses.map((s) => STATUS_SQL[s]).join(' OR ')})`;
    const rows = this.stmt(
      `SELECT ${DECISION_COLUMNS} FROM twopc_decisions WHERE txn_id > ?${statuses} ORDER BY txn_id LIMIT ?`,
    ).all(q.afterTxnId, BigInt(q.limit)) as DecisionRow[];
    return rows.map(recordFromRow);
  }

  async heuristics(txnId: string): Promise<readonly HeuristicRecord[]> {
    this.checkOpen();
    const rows = this.stmt(
      'SELECT txn_id, outcome, operator, note, at_ms FROM twopc_heuristics WHERE txn_id = ? ORDER BY id',
    ).all(txnId) as HeuristicRow[];
    return rows.map(heuristicFromRow);
  }

  async gc(beforeMs: number, limit: number): Promise<number> {
    this.checkOpen();
    const result = this.stmt(
      'DELETE FROM twopc_decisions WHERE txn_id IN (SELECT txn_id FROM twopc_decisions ' +
        'WHERE done_at_ms IS NOT NULL AND done_at_ms < ? LIMIT ?)',
    ).run(BigInt(beforeMs), BigInt(limit));
    return result.changes;
  }

  stats(): DecisionLogStats {
    return { batches: this.batches, records: this.records, batchRecordsMax: this.batchRecordsMax };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.close();
    this.db.close();
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  private checkOpen(): void {
    if (this.closed) throw unavailable('decision log is closed');
  }

  private select(txnId: string): DecisionRecord | undefined {
    const row = this.stmt(`SELECT ${DECISION_COLUMNS} FROM twopc_decisions WHERE txn_id = ?`).get(txnId) as
      DecisionRow | undefined;
    return row === undefined ? undefined : recordFromRow(row);
  }

  private selectByKey(key: string): DecisionRecord | undefined {
    const row = this.stmt(`SELECT ${DECISION_COLUMNS} FROM twopc_decisions WHERE idempotency_key = ?`).get(
      key,
    ) as DecisionRow | undefined;
    return row === undefined ? undefined : recordFromRow(row);
  }

  private insert(record: DecisionRecord): void {
    this.stmt(
      `INSERT OR REPLACE INTO twopc_decisions (${DECISION_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
    ).run(...rowParams(record));
  }

  private runBatch(items: readonly BatchItem[], forced: boolean): ItemResult[] {
    const wanted = forced ? 'FULL' : 'NORMAL';
    if (this.synchronous !== wanted) {
      // NORMAL skips the fsync of a lazy-only batch; the next forced batch's fsync covers its frames.
      this.db.pragma(`synchronous = ${wanted}`);
      this.synchronous = wanted;
    }
    const batch = this.db.transaction(() =>
      items.map((item): ItemResult => {
        try {
          // Nested: better-sqlite3 runs it as a SAVEPOINT inside the batch's transaction.
          return { ok: true, value: this.savepoint(item.apply) };
        } catch (error) {
          if (!isRecordLevelError(error)) throw error;
          return { ok: false, error };
        }
      }),
    );
    try {
      return batch.immediate();
    } catch (err) {
      throw unavailable(`decision log write failed: ${describeError(err)}`, err);
    }
  }
}
