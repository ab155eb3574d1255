/**
 * Decisions. Commit: apply the staged after-images, bump versions, drop pending rows and locks,
 * record COMMITTED with the decision sequence number. Abort: drop pending rows and locks, record
 * ABORTED; an abort for a transaction never seen here leaves a tombstone that refuses a late Prepare.
 * A batch of decisions shares one local SQLite transaction.
 *
 * Idempotent: a decision for a transaction already in that state acknowledges it again. An abort
 * for a COMMITTED transaction acknowledges COMMITTED and undoes nothing (the coordinator logs it as
 * a bug). A commit for a transaction this shard never voted YES on cannot be sent by a correct
 * coordinator: it is an assertion, not an answer. A decision from a stale coordinator epoch is
 * answered with the current state and not applied (epoch-fence.ts).
 */
import { assert } from '../common/assert.ts';
import { invalidArgument } from '../common/errors.ts';
import { failpoint } from '../common/failpoints.ts';
import type { Ack, DecisionMessage } from '../common/protocol.ts';
import { INT64_MAX } from '../common/value.ts';
import { decideBatchMax } from './config.ts';
import { runImmediate } from './local-txn.ts';
import { releaseLocks } from './locks.ts';
import { deletePending, readPending } from './pending.ts';
import { checkTxnId } from './prepare-message.ts';
import type { ShardContext } from './shard-context.ts';
import { applyStagedWrites } from './staged-writes.ts';
import { getTxn, insertTombstone, markDecided, type TxnRecord } from './txn-records.ts';
import { fenceDecision, raiseEpoch } from './epoch-fence.ts';

export function decideBatch(ctx: ShardContext, messages: readonly DecisionMessage[]): Ack[] {
  checkDecisionBatch(messages);
  const anyCommit = messages.some((m) => m.commit);
  if (anyCommit) failpoint('participant.before-commit-applied');
  const acks = runImmediate(ctx.db, ctx.stmts, () => decideInLocalTxn(ctx, messages));
  if (anyCommit) failpoint('participant.after-commit-applied-before-ack');
  return acks;
}

/** Refuses a malformed batch (INVALID_ARGUMENT) before anything is touched. */
export function checkDecisionBatch(messages: readonly DecisionMessage[]): void {
  if (messages.length > decideBatchMax)
    throw invalidArgument(`decision batch of ${messages.length} messages; at most ${decideBatchMax}`);
  for (const m of messages) checkDecision(m);
}

/** Applies checked decisions inside the caller's open local transaction; durable when it commits. */
export function decideInLocalTxn(ctx: ShardContext, messages: readonly DecisionMessage[]): Ack[] {
  return messages.map((m) => (m.commit ? commitOne(ctx, m) : abortOne(ctx, m)));
}

/** A malformed decision is the sender's bug; refuse the batch before touching anything. */
function checkDecision(m: DecisionMessage): void {
  const badId = checkTxnId(m.txnId);
  if (badId !== undefined) throw invalidArgument(`decision: ${badId}`);
  if (typeof m.commit !== 'boolean')
    throw invalidArgument(`decision for ${m.txnId}: commit must be a boolean`);
  if (typeof m.decisionSeq !== 'bigint' || m.decisionSeq < 0n || m.decisionSeq > INT64_MAX) {
    throw invalidArgument(`decision for ${m.txnId}: decision_seq must be an integer in [0, 2^63)`);
  }
}

function commitOne(ctx: ShardContext, m: DecisionMessage): Ack {
  const t = getTxn(ctx, m.txnId);
  const stale = fenceDecision(ctx, t, m);
  if (stale !== undefined) return stale;
  assert(
    t !== undefined,
    `Commit for ${m.txnId}, which this shard never prepared: a commit needs this shard's YES`,
  );
  assert(
    t.state !== 'ABORTED',
    `Commit for ${m.txnId}, which this shard has ABORTED (${t.tombstone ? 'tombstone' : t.vote ? 'voted NO' : 'told to abort'})`,
  );
  if (t.state === 'COMMITTED') return { txnId: m.txnId, state: 'COMMITTED' };
  const writes = readPending(ctx, m.txnId, t.pendingCount);
  applyStagedWrites(ctx, m.txnId, writes);
  release(ctx, t);
  markDecided(ctx, m.txnId, 'COMMITTED', m.decisionSeq);
  return { txnId: m.txnId, state: 'COMMITTED' };
}

function abortOne(ctx: ShardContext, m: DecisionMessage): Ack {
  const t = getTxn(ctx, m.txnId);
  const stale = fenceDecision(ctx, t, m);
  if (stale !== undefined) return stale;
  if (t === undefined) {
    insertTombstone(ctx, m.txnId);
    raiseEpoch(ctx, m);
    return { txnId: m.txnId, state: 'ABORTED' };
  }
  if (t.state === 'COMMITTED') {
    // Expected for a one-phase commit: the coordinator sends Abort to learn an outcome it did not hear.
    // After a two-phase YES it would be a coordinator bug.
    const log = t.onePhase ? ctx.logger.info : ctx.logger.error;
    log('abort decision for a transaction committed here; keeping the commit', {
      txnId: m.txnId,
      onePhase: t.onePhase,
    });
    return { txnId: m.txnId, state: 'COMMITTED' };
  }
  if (t.state === 'PREPARED') {
    release(ctx, t);
    markDecided(ctx, m.txnId, 'ABORTED', 0n);
  }
  return { txnId: m.txnId, state: 'ABORTED' };
}

/** Drops what a PREPARED transaction holds, checking it against the counts recorded at prepare. */
function release(ctx: ShardContext, t: TxnRecord): void {
  assert(
    t.state === 'PREPARED',
    `only a PREPARED transaction holds pending writes and locks (${t.txnId} is ${t.state})`,
  );
  deletePending(ctx, t.txnId, t.pendingCount);
  releaseLocks(ctx, t.txnId, t.lockCount);
}
