/**
 * A DecisionLog that forwards to a real one and can stall or fail COMMIT writes: an fsync that
 * takes long, an I/O error before the write, or one after it (the record is durable but the caller
 * is told it failed — the outcome is unknown).
 */
import { unavailable } from '../../common/errors.ts';
import type {
  CommitRecord,
  DecisionLog,
  DecisionLogStats,
  DecisionRecord,
  HeuristicRecord,
  IntentRecord,
  LogListQuery,
  OutcomeRecord,
} from '../../coordinator/decision-log.ts';

export class FaultyLog implements DecisionLog {
  commitDelayMs = 0;
  intentDelayMs = 0;
  /** The next n logCommit calls fail without writing. */
  failCommitsBefore = 0;
  /** The next n logCommit calls write, then fail. */
  failCommitsAfter = 0;
  /** The next n logIntent calls fail without writing. */
  failIntents = 0;
  commitCalls = 0;
  intentCalls = 0;

  constructor(readonly inner: DecisionLog) {}

  get epoch(): bigint {
    return this.inner.epoch;
  }

  async logIntent(record: IntentRecord): Promise<string> {
    this.intentCalls++;
    if (this.intentDelayMs > 0) await new Promise((r) => setTimeout(r, this.intentDelayMs));
    if (this.failIntents > 0) {
      this.failIntents--;
      throw unavailable('injected: intent write failed');
    }
    return this.inner.logIntent(record);
  }

  async logCommit(record: CommitRecord): Promise<bigint> {
    this.commitCalls++;
    if (this.commitDelayMs > 0) await new Promise((r) => setTimeout(r, this.commitDelayMs));
    if (this.failCommitsBefore > 0) {
      this.failCommitsBefore--;
      throw unavailable('injected: fsync failed before the write');
    }
    const seq = await this.inner.logCommit(record);
    if (this.failCommitsAfter > 0) {
      this.failCommitsAfter--;
      throw unavailable('injected: fsync failed after the write');
    }
    return seq;
  }

  logOutcome(record: OutcomeRecord): Promise<void> {
    return this.inner.logOutcome(record);
  }
  logEnd(txnId: string, atMs: number): Promise<void> {
    return this.inner.logEnd(txnId, atMs);
  }
  logHeuristic(record: HeuristicRecord): Promise<void> {
    return this.inner.logHeuristic(record);
  }
  get(txnId: string): Promise<DecisionRecord | undefined> {
    return this.inner.get(txnId);
  }
  byIdempotencyKey(key: string): Promise<DecisionRecord | undefined> {
    return this.inner.byIdempotencyKey(key);
  }
  unfinished(afterSeq: bigint, limit: number): Promise<readonly DecisionRecord[]> {
    return this.inner.unfinished(afterSeq, limit);
  }
  list(query: LogListQuery): Promise<readonly DecisionRecord[]> {
    return this.inner.list(query);
  }
  heuristics(txnId: string): Promise<readonly HeuristicRecord[]> {
    return this.inner.heuristics(txnId);
  }
  gc(beforeMs: number, limit: number): Promise<number> {
    return this.inner.gc(beforeMs, limit);
  }
  stats(): DecisionLogStats {
    return this.inner.stats();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
