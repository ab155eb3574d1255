/**
 * Making a decision durable and telling the participants.
 *
 * COMMIT: the record is forced to the log first; only then is the client answered and Commit sent.
 * If forcing fails (an I/O error), the outcome is unknown to the client: it gets UNAVAILABLE, and NO
 * Abort is sent, because the record may have reached the disk anyway. The transaction stays decided
 * COMMIT in memory (nothing can abort it any more) and the write is retried in the background with
 * backoff; once it succeeds, phase two runs as usual. If the coordinator stops first, the restart
 * decides from the log: a COMMIT found there is re-driven; none found means abort (presumed abort),
 * which is safe because nobody was ever told COMMIT.
 *
 * ABORT: nothing is forced (presumed abort). Abort is sent to every participant, best effort, in the
 * background; a participant that misses it asks and learns ABORT from the absence of a COMMIT.
 */
import { AssertionError, assert } from '../common/assert.ts';
import type { TxnOutcome } from '../common/api.ts';
import { TwopcError, describeError, invalidArgument } from '../common/errors.ts';
import { failpoint } from '../common/failpoints.ts';
import { answerBeforeForced, mutation } from '../common/mutations.ts';
import { backoffDelayMs } from '../common/backoff.ts';
import type { ProtocolContext } from './protocol-context.ts';
import { pause, settlesWithin } from './participant-call.ts';
import type { Transaction } from './transaction.ts';

/** Forces the COMMIT record of a transaction in COMMIT_DECIDED, then starts phase two. */
export async function forceCommit(ctx: ProtocolContext, txn: Transaction): Promise<TxnOutcome> {
  assert(txn.phase === 'COMMIT_DECIDED', `txn ${txn.id}: force commit in ${txn.phase}`);
  // A deliberately broken build for the chaos harness's mutation check; off unless TWOPC_MUTATION says so.
  if (mutation('answer-before-decision-forced'))
    return answerBeforeForced(txn.id, async () => commitLogged(ctx, txn, await writeCommit(ctx, txn)));
  let decisionSeq: bigint;
  const forcingMs = performance.now();
  try {
    failpoint('coordinator.before-decision-logged');
    decisionSeq = await writeCommit(ctx, txn);
  } catch (err) {
    if (err instanceof AssertionError) throw err;
    ctx.metrics.commitLogFailures++;
    ctx.logger.error('forcing a COMMIT record failed; retrying in the background', {
      txnId: txn.id,
      error: describeError(err),
    });
    void retryCommitWrite(ctx, txn);
    throw new TwopcError(
      'UNAVAILABLE',
      `txn ${txn.id}: the commit decision could not be made durable, so its outcome is not known yet`,
      {
        hint: 'ask GetTransaction later, or retry with the same idempotency key',
        cause: err,
      },
    );
  }
  ctx.metrics.timings.stages.decision.observeMs(performance.now() - forcingMs);
  return commitLogged(ctx, txn, decisionSeq);
}

function writeCommit(ctx: ProtocolContext, txn: Transaction): Promise<bigint> {
  const write = ctx.log.logCommit({
    txnId: txn.id,
    shards: txn.shards,
    readOnlyShards: txn.readOnlyShards,
    idempotencyKey: txn.idempotencyKey,
    startedAtMs: txn.startedAtMs,
    atMs: ctx.clock.nowMs(),
  });
  ctx.trackCommitWrite(write);
  return write;
}

/**
 * The decision is durable: start phase two, and answer once every participant has applied the commit
 * (so a client that hears COMMITTED reads its own writes on every shard), or after
 * `commitVisibilityWaitMs` at the latest — the outcome is settled either way, only its visibility on
 * a slow shard lags.
 */
async function commitLogged(
  ctx: ProtocolContext,
  txn: Transaction,
  decisionSeq: bigint,
): Promise<TxnOutcome> {
  const outcome = txn.commitLogged(decisionSeq, ctx.clock.nowMs());
  // Nobody has been told yet. A crash here is recovered by the re-drive.
  failpoint('coordinator.after-decision-logged');
  const sendingMs = performance.now();
  const delivered = ctx.delivery.drive(txn.id, txn.shards, decisionSeq);
  // Timed whether or not the answer waits for it: phase two's length is what the histogram is about.
  void delivered?.then((all) => {
    if (all) ctx.metrics.timings.stages.commit.observeMs(performance.now() - sendingMs);
  });
  if (delivered !== undefined && ctx.config.commitVisibilityWaitMs > 0) {
    await settlesWithin(ctx.clock, delivered, ctx.config.commitVisibilityWaitMs, ctx.stopSignal);
  }
  return outcome;
}

/** Retries a failed COMMIT write until it succeeds or the coordinator closes. logCommit is idempotent. */
async function retryCommitWrite(ctx: ProtocolContext, txn: Transaction): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    if (
      !(await pause(
        ctx.clock,
        backoffDelayMs(ctx.config.decisionRetryBackoff, attempt, ctx.random),
        ctx.stopSignal,
      ))
    ) {
      ctx.logger.warn(
        'coordinator closing with a COMMIT not known to be durable; the restart decides from the log',
        { txnId: txn.id },
      );
      return;
    }
    let decisionSeq: bigint;
    try {
      decisionSeq = await writeCommit(ctx, txn);
    } catch (err) {
      if (err instanceof AssertionError) {
        ctx.logger.error('COMMIT write refused as a bug; the transaction stays undecided', {
          txnId: txn.id,
          error: err.message,
        });
        return;
      }
      continue;
    }
    try {
      await commitLogged(ctx, txn, decisionSeq);
    } catch (err) {
      ctx.logger.error('after logging a COMMIT', { txnId: txn.id, error: describeError(err) });
    }
    return;
  }
}

/**
 * Tells every participant of an ABORTED transaction, in the background, and answers the client: the
 * outcome, or INVALID_ARGUMENT when a participant refused the request as malformed.
 */
export function abortEverywhere(
  ctx: ProtocolContext,
  txn: Transaction,
  shards: readonly string[],
): TxnOutcome {
  const outcome = txn.outcome;
  assert(txn.phase === 'ABORTED' && outcome !== undefined, `txn ${txn.id}: abortEverywhere in ${txn.phase}`);
  failpoint('coordinator.before-abort-sent');
  if (shards.length > 0)
    void ctx.sender.deliver({ txnId: txn.id, commit: false, decisionSeq: 0n, epoch: ctx.log.epoch }, shards);
  return answer(txn, outcome);
}

/** The client's answer for a decided transaction. */
export function answer(txn: Transaction, outcome: TxnOutcome): TxnOutcome {
  if (txn.invalid) throw invalidArgument(outcome.reason);
  return outcome;
}
