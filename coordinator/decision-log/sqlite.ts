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
import type Database from 'better-sqlite3';
import { AssertionError, assert } from '../../common/assert.ts';
import { TwopcError, describeError, unavailable } from '../../common/errors.ts';
import type {
  CommitRecord,
  DecisionLog,
  DecisionLogStats,
  DecisionRecord,
  HeuristicDecision,
  HeuristicDecisionLog,
  HeuristicDecisionResult,
  HeuristicRecord,
  IntentRecord,
  LogListQuery,
  OutcomeRecord,
} from '../decision-log.ts';
import { BatchCounters } from './batch-counters.ts';
import { GroupCommitQueue, type BatchItem, type BatchSummary, type ItemResult } from './group-commit.ts';
import { openLogFile, type LogOpenMode } from './sqlite-open.ts';
import { LogTables } from './sqlite-tables.ts';

/** A reader (e.g. the recovery CLI) may hold the file briefly; wait this long before failing. */
const busyTimeoutMs = 5_000;

function isRecordLevelError(err: unknown): boolean {
  if (err instanceof AssertionError) return true;
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT');
}

export interface SqliteDecisionLogOptions {
  readonly onBatch?: (summary: BatchSummary) => void;
  /** Default `coordinator`; see sqlite-open.ts for what each mode may do. */
  readonly mode?: LogOpenMode;
  /** `tool` mode only: create the file if it does not exist (default false). */
  readonly create?: boolean;
}

export class SqliteDecisionLog implements DecisionLog, HeuristicDecisionLog {
  readonly epoch: bigint;
  /** False when opened `read-only`: every write rejects with FAILED_PRECONDITION. */
  readonly writable: boolean;
  private readonly db: Database.Database;
  private readonly queue: GroupCommitQueue;
  private synchronous: 'FULL' | 'NORMAL' = 'FULL';
  private closed = false;
  private readonly tables: LogTables;
  private readonly savepoint: (apply: () => unknown) => unknown;
  private readonly counters = new BatchCounters();

  /**
   * Opens the log. The default (`coordinator` mode) creates the file and its directory if missing
   * and bumps the epoch, durably; `tool` and `read-only` never bump it (sqlite-open.ts).
   */
  static open(file: string, options: SqliteDecisionLogOptions = {}): SqliteDecisionLog {
    const opened = openLogFile(file, options.mode ?? 'coordinator', {
      busyTimeoutMs,
      ...(options.create === undefined ? {} : { create: options.create }),
    });
    return new SqliteDecisionLog(opened.db, opened.epoch, opened.writable, options.onBatch);
  }

  private constructor(
    db: Database.Database,
    epoch: bigint,
    writable: boolean,
    onBatch?: (summary: BatchSummary) => void,
  ) {
    this.db = db;
    this.epoch = epoch;
    this.writable = writable;
    this.tables = new LogTables(db);
    this.savepoint = db.transaction((apply: () => unknown) => apply());
    this.queue = new GroupCommitQueue(
      (items, forced) => this.runBatch(items, forced),
      (summary) => {
        this.counters.count(summary);
        onBatch?.(summary);
      },
    );
  }

  logIntent(r: IntentRecord): Promise<string> {
    assert(r.idempotencyKey !== '', 'logIntent needs a key');
    return this.enqueue(true, () => {
      const owner = this.tables.selectByKey(r.idempotencyKey);
      if (owner !== undefined) return owner.txnId;
      const existing = this.tables.select(r.txnId);
      if (existing !== undefined) {
        assert(existing.idempotencyKey === r.idempotencyKey, `intent for ${r.txnId} under a second key`);
        return r.txnId;
      }
      this.tables.insert({
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
    return this.enqueue(true, () => {
      const existing = this.tables.select(r.txnId);
      if (existing?.state === 'COMMITTED' && existing.decisionSeq > 0n) return existing.decisionSeq;
      assert(
        existing === undefined || existing.state === 'INTENT',
        `COMMIT for ${r.txnId}, which is recorded ${existing?.state}`,
      );
      const seq = this.tables.nextSeq();
      this.tables.insert({
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
    return this.enqueue(false, () => {
      const existing = this.tables.select(r.txnId);
      if (existing?.state === r.outcome) return;
      assert(
        existing === undefined || existing.state === 'INTENT',
        `outcome ${r.outcome} for ${r.txnId}, which is recorded ${existing?.state}`,
      );
      this.tables.insert({
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
    return this.enqueue(false, () => {
      this.tables.setEnded(txnId, atMs);
    });
  }

  logHeuristic(r: HeuristicRecord): Promise<void> {
    assert(r.txnId !== '' && r.operator !== '', 'heuristic record needs a txn id and an operator');
    return this.enqueue(true, () => this.tables.insertHeuristic(r));
  }

  logHeuristicDecision(r: HeuristicDecision): Promise<HeuristicDecisionResult> {
    assert(
      r.txnId !== '' && r.operator !== '' && r.shards.length > 0,
      'heuristic decision needs a txn id, an operator and shards',
    );
    return this.enqueue(true, () => this.tables.heuristicDecision(r));
  }

  async get(txnId: string): Promise<DecisionRecord | undefined> {
    this.checkOpen();
    return this.tables.select(txnId);
  }

  async byIdempotencyKey(key: string): Promise<DecisionRecord | undefined> {
    this.checkOpen();
    return this.tables.selectByKey(key);
  }

  async unfinished(afterSeq: bigint, limit: number): Promise<readonly DecisionRecord[]> {
    this.checkOpen();
    return this.tables.unfinished(afterSeq, limit);
  }

  async list(q: LogListQuery): Promise<readonly DecisionRecord[]> {
    this.checkOpen();
    return this.tables.list(q);
  }

  async heuristics(txnId: string): Promise<readonly HeuristicRecord[]> {
    this.checkOpen();
    return this.tables.heuristics(txnId);
  }

  async listHeuristics(limit: number): Promise<readonly HeuristicRecord[]> {
    this.checkOpen();
    return this.tables.allHeuristics(limit);
  }

  async gc(beforeMs: number, limit: number): Promise<number> {
    this.checkOpen();
    this.checkWritable();
    return this.tables.gc(beforeMs, limit);
  }

  stats(): DecisionLogStats {
    return this.counters.stats();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.close();
    this.db.close();
  }

  private checkOpen(): void {
    if (this.closed) throw unavailable('decision log is closed');
  }

  private checkWritable(): void {
    if (!this.writable)
      throw new TwopcError('FAILED_PRECONDITION', 'decision log is open read-only: no writes');
  }

  /** Every write goes through the group-commit queue; a read-only log refuses it up front. */
  private enqueue<T>(forced: boolean, apply: () => T): Promise<T> {
    try {
      this.checkWritable();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.queue.enqueue(forced, apply);
  }

  private runBatch(items: readonly BatchItem[], forced: boolean): ItemResult[] {
    const wanted = forced ? 'FULL' : 'NORMAL';
    if (this.synchronous !== wanted) {
      // NORMAL skips the fsync of a lazy-only batch; the next forced batch's fsync covers its frames.
      // exec, not db.pragma(), which makes a Statement object per call for the GC to finalize; not
      // a cached statement either: SQLite applies this pragma when compiling it, not when running it.
      this.db.exec(`PRAGMA synchronous = ${wanted}`);
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
