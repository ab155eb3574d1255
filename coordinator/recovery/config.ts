/**
 * Named limits of the recovery tooling (`npx twopc recover …`). Each bounds a wait or a list that
 * would otherwise be unbounded when something is broken, which is exactly when the tool is run.
 */

/**
 * Deadline of one call to a participant or the coordinator. A recovery tool must answer even when
 * a process is hung: 5 s is far above a healthy call (ms) and short enough for an operator to wait.
 */
export const recoveryRpcTimeoutMs = 5_000;

/** Transactions per ListTransactions page (the coordinator's maximum). */
export const coordinatorPageSizeMax = 1_000;

/**
 * Pages of ListTransactions read to learn what the coordinator is still deciding: 1,000 pages of
 * 1,000 is far more than a coordinator holds (its in-flight limit is in the thousands).
 */
export const coordinatorPagesMax = 1_000;

/** Decision records read per page by `recover log` (one SQLite query each). */
export const logPageRecordsMax = 500;

/**
 * Decisions sent to one shard in one local transaction when resolving offline, under the shard
 * store's own decideBatchMax (4,096): a big backlog is applied in several short write transactions.
 */
export const offlineDecideBatchMax = 1_024;

/** Transactions resolved by one `recover resolve --all`; a larger backlog needs another run. */
export const resolveTxnsMax = 100_000;

/** A heuristic decision's reason is kept forever in the audit trail; keep it a sentence, not a file. */
export const heuristicReasonBytesMax = 1_024;
