/**
 * A DecisionLog that forwards every call to another one: the base of the wrappers that change one
 * or two operations of a real log (fault injection in tests, the deliberately broken logs of the
 * simulator's mutation checks) and leave the rest exactly as the real log does it.
 */
import type {
  CommitRecord,
  DecisionLog,
  DecisionLogStats,
  DecisionRecord,
  HeuristicRecord,
  IntentRecord,
  LogListQuery,
  OutcomeRecord,
} from '../decision-log.ts';

export class ForwardingDecisionLog implements DecisionLog {
  constructor(readonly inner: DecisionLog) {}

  get epoch(): bigint {
    return this.inner.epoch;
  }
  logIntent(record: IntentRecord): Promise<string> {
    return this.inner.logIntent(record);
  }
  logCommit(record: CommitRecord): Promise<bigint> {
    return this.inner.logCommit(record);
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
