/**
 * A DecisionLog that forwards to a real one and can stall or fail COMMIT writes: an fsync that
 * takes long, an I/O error before the write, or one after it (the record is durable but the caller
 * is told it failed — the outcome is unknown).
 */
import { unavailable } from '../../common/errors.ts';
import type { CommitRecord, IntentRecord } from '../../coordinator/decision-log.ts';
import { ForwardingDecisionLog } from '../../coordinator/decision-log/forwarding.ts';

export class FaultyLog extends ForwardingDecisionLog {
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

  override async logIntent(record: IntentRecord): Promise<string> {
    this.intentCalls++;
    if (this.intentDelayMs > 0) await new Promise((r) => setTimeout(r, this.intentDelayMs));
    if (this.failIntents > 0) {
      this.failIntents--;
      throw unavailable('injected: intent write failed');
    }
    return this.inner.logIntent(record);
  }

  override async logCommit(record: CommitRecord): Promise<bigint> {
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
}
