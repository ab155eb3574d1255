/**
 * The coordinator's limits and timings, in one place. Every default is a named constant with the
 * reason beside it; `resolveCoordinatorConfig` validates a partial override once, at construction, and
 * returns a frozen object (a bad value is an INVALID_ARGUMENT naming the field, not a stack trace).
 */
import type { BackoffPolicy } from '../common/backoff.ts';
import { invalidArgument } from '../common/errors.ts';

export interface CoordinatorConfig {
  /** Timeout of a transaction whose request says 0. */
  readonly txnTimeoutMsDefault: number;
  /** Largest timeout a request may ask for. */
  readonly txnTimeoutMsMax: number;
  /** How long the coordinator waits for votes (also bounded by the transaction's deadline). */
  readonly prepareTimeoutMs: number;
  /**
   * How long a COMMITTED answer waits for every participant to apply the commit, so the client can
   * read its own writes on every shard; 0 answers as soon as the decision is durable.
   */
  readonly commitVisibilityWaitMs: number;
  /** Deadline of every other call to a participant (decide, read, txnState). */
  readonly rpcTimeoutMs: number;
  /** Deadline of a Query, which may scan. */
  readonly queryTimeoutMs: number;
  /** Backoff between re-sends of a decision a participant has not acknowledged. */
  readonly decisionRetryBackoff: BackoffPolicy;
  /** Sends of an Abort before giving up (presumed abort: an in-doubt participant asks and hears ABORT). */
  readonly abortSendAttemptsMax: number;
  /** How long a client waits for the Abort that settles a one-shard transaction of unknown outcome. */
  readonly outcomeProbeWaitMs: number;
  /** Ops in one transaction (Execute, or all Writes of an interactive one). */
  readonly opsPerTxnMax: number;
  /** Reads recorded by one interactive transaction (each becomes a lock at prepare). */
  readonly readsPerTxnMax: number;
  /** Bytes of one text or blob value. */
  readonly valueBytesMax: number;
  /** Estimated bytes of one transaction's ops; keeps every message under the gRPC limit. */
  readonly requestBytesMax: number;
  /** Bytes of an idempotency key (it is an index key in the decision log). */
  readonly idempotencyKeyBytesMax: number;
  /** Transactions being decided at once; more get RESOURCE_EXHAUSTED. */
  readonly activeTxnsMax: number;
  /** Open interactive transactions (their buffers live in memory); more get RESOURCE_EXHAUSTED. */
  readonly interactiveTxnsMax: number;
  /** Finished transactions remembered in memory for GetTransaction / ListTransactions. */
  readonly recentTxnsMax: number;
  /** Commit decisions re-sent from memory at once; the rest wait for the periodic re-drive from the log. */
  readonly pendingDecisionsMax: number;
  /** How often COMMITs without END are re-driven from the log (overflow, and after a restart). */
  readonly redriveIntervalMs: number;
  /** COMMIT records read from the log per re-drive round. */
  readonly redriveBatchMax: number;
  /**
   * How often the in-doubt sweep asks every participant for the transactions it holds PREPARED and
   * settles this coordinator's orphans (presumed abort, or the re-drive of a logged COMMIT). It is
   * what resolves them when participants run without `--coordinator` and cannot ask.
   */
  readonly inDoubtSweepIntervalMs: number;
  /** The sweep leaves alone a transaction prepared less than this long ago (by the participant's clock). */
  readonly inDoubtSweepGraceMs: number;
  /** Transactions the sweep settles per round, oldest first; the rest wait for the next round. */
  readonly inDoubtSweepTxnsMax: number;
  /** How long ENDed commits and recorded outcomes (and so idempotency keys) stay in the log. */
  readonly decisionRetentionMs: number;
  /** How often the log is garbage-collected. */
  readonly gcIntervalMs: number;
  /** Records removed per GC run, so one run never stalls the event loop for long. */
  readonly gcRecordsPerRunMax: number;
  /** ListTransactions page size when the request says 0. */
  readonly listPageSizeDefault: number;
  /** Largest ListTransactions page. */
  readonly listPageSizeMax: number;
}

/** 10 s: generous for a few round trips and fsyncs; short enough that a stuck client frees its locks. */
export const txnTimeoutMsDefault = 10_000;
/** 1 h: matches the CLI's bound; longer would hold participants' locks for too long. */
export const txnTimeoutMsMax = 3_600_000;
/** 5 s: a prepare is one local SQLite transaction and one fsync; five seconds means the shard is sick. */
export const prepareTimeoutMs = 5_000;
/**
 * 2 s: a healthy shard applies a commit in about a millisecond; waiting this long covers a hiccup,
 * while a shard that is down does not hold the answer to a decided transaction for long.
 */
export const commitVisibilityWaitMs = 2_000;
/** 2 s: decide/read/txnState are small; failing fast lets backoff and re-sends do the waiting. */
export const rpcTimeoutMs = 2_000;
/** 10 s: a query may scan a table. */
export const queryTimeoutMs = 10_000;
/** 20 ms doubling to 5 s: quick recovery from a blip, little load on a shard that is down for long. */
export const decisionRetryBackoff: BackoffPolicy = Object.freeze({ baseMs: 20, maxMs: 5_000 });
/** 8 sends (~10 s of backoff): enough to release locks after a blip; in-doubt shards ask anyway. */
export const abortSendAttemptsMax = 8;
/** 2 s: long enough to ride out a blip; after it the client gets UNAVAILABLE and asks later. */
export const outcomeProbeWaitMs = 2_000;
/** 1,000 ops: every op is a lock and a pending row at a participant. */
export const opsPerTxnMax = 1_000;
/** 1,000 reads: every read is a shared lock at prepare. */
export const readsPerTxnMax = 1_000;
/** 1 MiB per value: SQLite handles more, but a shard's pending table and WAL segments should not. */
export const valueBytesMax = 1024 * 1024;
/** 4 MiB: a quarter of the 16 MiB gRPC message limit, leaving room for framing and batching. */
export const requestBytesMax = 4 * 1024 * 1024;
/** 256 bytes: a UUID or a business id fits many times over. */
export const idempotencyKeyBytesMax = 256;
/** 10,000 in-flight transactions: about 10 MB of state; beyond that, queueing only adds latency. */
export const activeTxnsMax = 10_000;
/** 1,000 open interactive transactions: each holds a buffer until it commits or expires. */
export const interactiveTxnsMax = 1_000;
/** 10,000 recent transactions: a few minutes of history at a high rate, a few MB. */
export const recentTxnsMax = 10_000;
/** 10,000 unacknowledged commits in memory: the log holds them all anyway. */
export const pendingDecisionsMax = 10_000;
/** 5 s: an unacknowledged COMMIT not driven from memory waits at most this long. */
export const redriveIntervalMs = 5_000;
/** 1,000 records per round: bounded memory and event-loop time per round. */
export const redriveBatchMax = 1_000;
/**
 * 5 s, as the re-drive: one ListInDoubt per participant per round is cheap, and an orphaned prepare
 * (its shards cannot ask the coordinator) holds its locks at most about grace + interval.
 */
export const inDoubtSweepIntervalMs = 5_000;
/**
 * 5 s, the prepare timeout: a transaction still being decided is live in memory and skipped anyway;
 * the grace also keeps the sweep off the normal path's traffic and absorbs clock skew between a
 * participant (whose clock stamps the prepare) and the coordinator.
 */
export const inDoubtSweepGraceMs = prepareTimeoutMs;
/** 1,000 per round: bounds the log lookups and the Abort loops one round starts. */
export const inDoubtSweepTxnsMax = 1_000;
/** 7 days: idempotency keys outlive any sane client retry loop, and operators can look back a week. */
export const decisionRetentionMs = 7 * 24 * 3_600_000;
/** 1 min: GC is cheap; once a minute keeps the log near its retention. */
export const gcIntervalMs = 60_000;
/** 10,000 records per GC run: a few ms of SQLite work. */
export const gcRecordsPerRunMax = 10_000;
/** 100, as the public API documents. */
export const listPageSizeDefault = 100;
/** 1,000, as the public API documents. */
export const listPageSizeMax = 1_000;

export const COORDINATOR_DEFAULTS: CoordinatorConfig = Object.freeze({
  txnTimeoutMsDefault,
  txnTimeoutMsMax,
  prepareTimeoutMs,
  commitVisibilityWaitMs,
  rpcTimeoutMs,
  queryTimeoutMs,
  decisionRetryBackoff,
  abortSendAttemptsMax,
  outcomeProbeWaitMs,
  opsPerTxnMax,
  readsPerTxnMax,
  valueBytesMax,
  requestBytesMax,
  idempotencyKeyBytesMax,
  activeTxnsMax,
  interactiveTxnsMax,
  recentTxnsMax,
  pendingDecisionsMax,
  redriveIntervalMs,
  redriveBatchMax,
  inDoubtSweepIntervalMs,
  inDoubtSweepGraceMs,
  inDoubtSweepTxnsMax,
  decisionRetentionMs,
  gcIntervalMs,
  gcRecordsPerRunMax,
  listPageSizeDefault,
  listPageSizeMax,
});

type NumericField = {
  [K in keyof CoordinatorConfig]: CoordinatorConfig[K] extends number ? K : never;
}[keyof CoordinatorConfig];

/** Settings where 0 means "off" rather than a bad value. */
const ZERO_ALLOWED: ReadonlySet<keyof CoordinatorConfig> = new Set(['commitVisibilityWaitMs']);

function checkPositiveInt(config: CoordinatorConfig, field: NumericField): void {
  const value = config[field];
  const min = ZERO_ALLOWED.has(field) ? 0 : 1;
  if (!Number.isSafeInteger(value) || value < min) {
    const what = min === 0 ? 'a non-negative integer' : 'a positive integer';
    throw invalidArgument(`coordinator config: ${field} must be ${what}, got ${String(value)}`);
  }
}

/** Merges overrides over the defaults, validates, freezes. */
export function resolveCoordinatorConfig(overrides: Partial<CoordinatorConfig> = {}): CoordinatorConfig {
  const merged: CoordinatorConfig = { ...COORDINATOR_DEFAULTS, ...overrides };
  for (const field of Object.keys(merged) as (keyof CoordinatorConfig)[]) {
    if (field !== 'decisionRetryBackoff') checkPositiveInt(merged, field);
  }
  const backoff = merged.decisionRetryBackoff;
  if (!(backoff.baseMs > 0 && backoff.maxMs >= backoff.baseMs)) {
    throw invalidArgument('coordinator config: decisionRetryBackoff needs 0 < baseMs <= maxMs');
  }
  if (merged.txnTimeoutMsDefault > merged.txnTimeoutMsMax) {
    throw invalidArgument(
      `coordinator config: txnTimeoutMsDefault (${merged.txnTimeoutMsDefault}) is over txnTimeoutMsMax (${merged.txnTimeoutMsMax})`,
    );
  }
  if (merged.valueBytesMax > merged.requestBytesMax) {
    throw invalidArgument('coordinator config: valueBytesMax is over requestBytesMax');
  }
  if (merged.listPageSizeDefault > merged.listPageSizeMax) {
    throw invalidArgument('coordinator config: listPageSizeDefault is over listPageSizeMax');
  }
  return Object.freeze({ ...merged, decisionRetryBackoff: Object.freeze({ ...backoff }) });
}
