/**
 * The decision log: the coordinator's only durable state. Presumed abort means it holds COMMITs, not
 * aborts: a transaction with no COMMIT record is aborted. One record per transaction, which moves
 *
 *     (none) --logIntent--> INTENT --logCommit--> COMMITTED --logEnd--> COMMITTED + ended
 *                              \----logOutcome--> ABORTED / COMMITTED (one phase, ended)
 *
 * plus a separate audit trail of heuristic (operator) decisions. A heuristic decision made through
 * `HeuristicDecisionLog` (the recovery CLI's force-commit / force-abort) also writes the decision
 * itself as an ordinary record: a COMMITTED record with a fresh decisionSeq, re-driven like any other
 * until END, or an ABORTED one with reason HEURISTIC. Everything that reads the log (restart re-drive,
 * GetTransaction, idempotent retries, `recover resolve`) then follows the operator's decision.
 *
 * - INTENT: a keyed transaction's idempotency key, txn id and shards, forced before any prepare is
 *   sent, so a retry after a crash finds the transaction.
 * - COMMITTED with decisionSeq > 0: the two-phase commit decision, forced before anyone is told.
 *   Without END it is re-driven after a restart.
 * - ABORTED, or COMMITTED with decisionSeq 0 (one phase): the outcome of a keyed transaction that
 *   needed no COMMIT record, written lazily so a retry with the same key gets the same answer.
 *
 * "Forced" means durable (fsynced) when the promise resolves. "Lazy" means the record is written by
 * the time the promise resolves but may be lost in a crash; every lazy record can be reconstructed
 * (END by re-driving the COMMIT, an outcome by asking the shards), so losing one costs work, not
 * correctness. Backends: `decision-log/sqlite.ts` (embedded, group commit) and `decision-log/redis.ts`
 * (Redis, Sentinel or Cluster; durability checked at open); `decision-log/spec.ts` picks one from
 * `--decision-log`. Both pass test/coordinator/decision-log-contract.ts.
 */
import { assert } from '../common/assert.ts';
import { ABORT_REASONS, type AbortReason } from '../common/protocol.ts';

export const LOG_STATES = ['INTENT', 'COMMITTED', 'ABORTED'] as const;
export type LogState = (typeof LOG_STATES)[number];

/** A record as read back. Times are wall-clock ms; 0 = not yet. */
export interface DecisionRecord {
  readonly txnId: string;
  readonly state: LogState;
  /** The shards to send Commit to (COMMITTED), or every shard involved (INTENT, ABORTED). */
  readonly shards: readonly string[];
  /** Shards that voted READ_ONLY: part of the transaction, not of phase two. */
  readonly readOnlyShards: readonly string[];
  /** '' = none. */
  readonly idempotencyKey: string;
  /** > 0 for a two-phase COMMIT; 0 otherwise. */
  readonly decisionSeq: bigint;
  readonly abortReason?: AbortReason;
  readonly reason: string;
  /** The transaction was refused as malformed (a participant's `invalid` NO): answer INVALID_ARGUMENT. */
  readonly invalid: boolean;
  readonly startedAtMs: number;
  readonly decidedAtMs: number;
  /** END written (every participant acknowledged the commit); 0 = not yet. */
  readonly endedAtMs: number;
  /**
   * The epoch of the coordinator replica that owns the transaction (Redis log only; moved to the
   * taker by a takeover, see coordinator/replicas.ts). Absent: a single-coordinator log, or a record
   * anyone may drive (a heuristic decision).
   */
  readonly ownerEpoch?: bigint;
}

export interface IntentRecord {
  readonly txnId: string;
  readonly idempotencyKey: string;
  readonly shards: readonly string[];
  readonly atMs: number;
}

export interface CommitRecord {
  readonly txnId: string;
  readonly shards: readonly string[];
  readonly readOnlyShards: readonly string[];
  /** '' = none. */
  readonly idempotencyKey: string;
  readonly startedAtMs: number;
  readonly atMs: number;
}

/** The outcome of a transaction that has no COMMIT record (aborted, or committed in one phase). */
export interface OutcomeRecord {
  readonly txnId: string;
  readonly outcome: 'COMMITTED' | 'ABORTED';
  readonly shards: readonly string[];
  readonly idempotencyKey: string;
  readonly abortReason?: AbortReason;
  readonly reason: string;
  readonly invalid: boolean;
  readonly startedAtMs: number;
  readonly atMs: number;
}

export interface HeuristicRecord {
  readonly txnId: string;
  readonly outcome: 'COMMITTED' | 'ABORTED';
  readonly operator: string;
  readonly note: string;
  readonly atMs: number;
}

/** An operator's decision for a transaction the log holds no decision for. */
export interface HeuristicDecision extends HeuristicRecord {
  /** Every shard of the transaction: the ones a COMMIT is delivered to (and re-driven to) until END. */
  readonly shards: readonly string[];
  /** When the transaction started, if the log has no INTENT saying so. */
  readonly startedAtMs: number;
}

export type HeuristicDecisionResult =
  | { readonly recorded: true; readonly decisionSeq: bigint }
  /** Nothing written: the log already holds a decision (not an INTENT) or a heuristic for the txn. */
  | {
      readonly recorded: false;
      readonly existing: DecisionRecord | undefined;
      readonly heuristics: readonly HeuristicRecord[];
    };

/** A log that can record heuristic decisions atomically with their audit row (the recovery CLI's). */
export interface HeuristicDecisionLog {
  /**
   * Forced, in one local transaction: the audit row, and the decision as an ordinary record (see the
   * top of this file). Refuses (writes nothing, resolves `recorded: false`) when the log already holds
   * a COMMIT, an outcome or an earlier heuristic for the transaction: the check and the write are one
   * transaction, so two operators cannot both decide. Resolves with the COMMIT's decisionSeq (0 for
   * an abort).
   */
  logHeuristicDecision(decision: HeuristicDecision): Promise<HeuristicDecisionResult>;
  /** The audit trail, oldest first, at most `limit`. */
  listHeuristics(limit: number): Promise<readonly HeuristicRecord[]>;
}

/** A record's place in its life, for listing: INTENT, COMMITTING (COMMIT, no END), COMMITTED, ABORTED. */
export const LOG_STATUSES = ['INTENT', 'COMMITTING', 'COMMITTED', 'ABORTED'] as const;
export type LogStatus = (typeof LOG_STATUSES)[number];

export interface LogListQuery {
  /** Empty = every status. */
  readonly statuses: readonly LogStatus[];
  /** Records with a txn id strictly greater ('' = from the start), in txn-id order. */
  readonly afterTxnId: string;
  readonly limit: number;
}

export interface DecisionLogStats {
  /** Write batches committed (one local transaction and at most one fsync each). */
  readonly batches: number;
  /** Those of them holding a forced write (a COMMIT, an INTENT): one fsync each. */
  readonly forcedBatches: number;
  /** Records written in those batches. */
  readonly records: number;
  readonly batchRecordsMax: number;
}

export interface DecisionLog {
  /** The coordinator's fencing epoch: strictly greater on every open of the log. */
  readonly epoch: bigint;

  /**
   * Forced. Claims `idempotencyKey` for `txnId`. Resolves with the txn id that owns the key: `txnId`,
   * or the transaction that claimed it first (then nothing is written). Idempotent.
   */
  logIntent(record: IntentRecord): Promise<string>;

  /**
   * Forced: the commit decision is durable when this resolves, with its decisionSeq (> 0, strictly
   * increasing over the log's life, never reused). Idempotent: a second call for the same txn resolves
   * with the first seq (so a write whose outcome is unknown may simply be retried). Rejects with an
   * AssertionError if the transaction is recorded ABORTED: a COMMIT after an abort is a bug.
   */
  logCommit(record: CommitRecord): Promise<bigint>;

  /**
   * Lazy. Records the outcome of a keyed transaction with no COMMIT record. Idempotent; an outcome
   * that contradicts a recorded one rejects with an AssertionError.
   */
  logOutcome(record: OutcomeRecord): Promise<void>;

  /** Lazy. Every participant acknowledged the COMMIT; the record may now be collected. Idempotent. */
  logEnd(txnId: string, atMs: number): Promise<void>;

  /** Forced. An operator's decision, kept for audit forever (GC never removes it). */
  logHeuristic(record: HeuristicRecord): Promise<void>;

  get(txnId: string): Promise<DecisionRecord | undefined>;
  byIdempotencyKey(key: string): Promise<DecisionRecord | undefined>;
  /** COMMITs without END, in decisionSeq order, after `afterSeq`. */
  unfinished(afterSeq: bigint, limit: number): Promise<readonly DecisionRecord[]>;
  list(query: LogListQuery): Promise<readonly DecisionRecord[]>;
  heuristics(txnId: string): Promise<readonly HeuristicRecord[]>;

  /**
   * Removes ENDed commits and recorded outcomes decided before `beforeMs` (and INTENTs started
   * before it that never got an outcome), at most `limit`. Never removes a COMMIT without END or a
   * heuristic record. Resolves with the number removed.
   */
  gc(beforeMs: number, limit: number): Promise<number>;

  stats(): DecisionLogStats;
  /** Flushes queued writes, then closes. Calls after close reject. */
  close(): Promise<void>;
}

/** Checks a record's shape; backends call it before writing and after reading back. */
export function verifyDecisionRecord(r: DecisionRecord): DecisionRecord {
  assert(typeof r.txnId === 'string' && r.txnId.length > 0, 'decision record: empty txn id');
  assert(
    (LOG_STATES as readonly string[]).includes(r.state),
    `decision record ${r.txnId}: bad state ${r.state}`,
  );
  assert(
    Array.isArray(r.shards) && r.shards.every((s) => typeof s === 'string' && s.length > 0),
    `decision record ${r.txnId}: bad shards`,
  );
  assert(
    r.readOnlyShards.every((s) => !r.shards.includes(s)),
    `decision record ${r.txnId}: a shard is both read-only and not`,
  );
  assert(
    typeof r.decisionSeq === 'bigint' && r.decisionSeq >= 0n,
    `decision record ${r.txnId}: bad decisionSeq`,
  );
  assert(
    r.startedAtMs >= 0 && r.decidedAtMs >= 0 && r.endedAtMs >= 0,
    `decision record ${r.txnId}: negative time`,
  );
  switch (r.state) {
    case 'INTENT':
      assert(r.idempotencyKey !== '', `decision record ${r.txnId}: INTENT without a key`);
      assert(
        r.decisionSeq === 0n && r.decidedAtMs === 0 && r.endedAtMs === 0,
        `decision record ${r.txnId}: INTENT with a decision`,
      );
      break;
    case 'COMMITTED':
      assert(r.decidedAtMs > 0, `decision record ${r.txnId}: COMMITTED without a decision time`);
      assert(
        r.decisionSeq > 0n || r.endedAtMs > 0,
        `decision record ${r.txnId}: one-phase COMMITTED must be ended`,
      );
      assert(r.abortReason === undefined, `decision record ${r.txnId}: COMMITTED with an abort reason`);
      break;
    case 'ABORTED':
      assert(r.decidedAtMs > 0 && r.decisionSeq === 0n, `decision record ${r.txnId}: bad ABORTED`);
      assert(
        r.abortReason !== undefined && ABORT_REASONS.includes(r.abortReason),
        `decision record ${r.txnId}: ABORTED without a reason`,
      );
      break;
  }
  return r;
}

/** The listing status of a record. */
export function logStatus(r: DecisionRecord): LogStatus {
  if (r.state === 'COMMITTED') return r.endedAtMs > 0 ? 'COMMITTED' : 'COMMITTING';
  return r.state;
}
