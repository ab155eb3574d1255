/**
 * Prepare: validate a transaction's ops on this shard, check its locks and read versions, compute
 * and trial-apply its after-images, then stage them (pending rows, intent locks, PREPARED) and vote.
 * A whole batch of prepares shares one local SQLite transaction (one fsync); each message runs in
 * its own savepoint, so one NO rolls back only that message's work.
 *
 * Idempotent: a Prepare for a transaction this shard already knows repeats the answer it gave
 * (YES / COMMITTED_ONE_PHASE, or the NO, or a NO for a tombstone) and changes nothing.
 */
import { failpoint } from '../common/failpoints.ts';
import { mutation } from '../common/mutations.ts';
import { invalidArgument } from '../common/errors.ts';
import type { AbortReason, PrepareMessage, Vote } from '../common/protocol.ts';
import { applyOp, WorkingSet } from './after-image.ts';
import { prepareBatchMax } from './config.ts';
import { runImmediate, withSavepoint } from './local-txn.ts';
import { acquireLocks, checkLocks, LockSet, uniqueLocks } from './locks.ts';
import { writePending } from './pending.ts';
import { checkEnvelope, checkTxnId, fallbackEnvelope, type Envelope } from './prepare-message.ts';
import { conflict, Refusal } from './refusal.ts';
import { describeTarget, rowLockKey } from './row-key.ts';
import type { ShardContext } from './shard-context.ts';
import { applyStagedWrites } from './staged-writes.ts';
import { trialApply, type TrialImage } from './trial-apply.ts';
import {
  getTxn,
  insertOnePhaseCommitted,
  insertPrepared,
  insertRefused,
  type TxnRecord,
} from './txn-records.ts';
import { resolveOp, resolveRead, type ResolvedOp, type ResolvedRead } from './validate.ts';
import { committedVersion, versionHolds } from './versions.ts';

/**
 * Reason code for a Prepare that finds its transaction already aborted without a NO of its own (a
 * tombstone, or an abort decision): the Prepare is late by definition.
 */
const ABORTED_BEFORE_PREPARE: AbortReason = 'TIMEOUT';

export function prepareBatch(ctx: ShardContext, messages: readonly PrepareMessage[]): Vote[] {
  checkPrepareBatch(messages);
  const votes = runImmediate(ctx.db, ctx.stmts, () => prepareInLocalTxn(ctx, messages));
  failpoint('participant.after-prepare-before-vote');
  return votes;
}

export function checkPrepareBatch(messages: readonly PrepareMessage[]): void {
  if (messages.length > prepareBatchMax)
    throw invalidArgument(`prepare batch of ${messages.length} messages; at most ${prepareBatchMax}`);
}

/** Votes on each message inside the caller's open local transaction; a vote counts once it commits. */
export function prepareInLocalTxn(ctx: ShardContext, messages: readonly PrepareMessage[]): Vote[] {
  return messages.map((m) => prepareOne(ctx, m));
}

function prepareOne(ctx: ShardContext, m: PrepareMessage): Vote {
  const badId = checkTxnId(m.txnId);
  if (badId !== undefined) return no(String(m.txnId), new Refusal('CONSTRAINT', `prepare: ${badId}`, true));
  const known = getTxn(ctx, m.txnId);
  if (known !== undefined) return answerAgain(known);
  const envelope = checkEnvelope(m);
  const outcome =
    envelope instanceof Refusal
      ? envelope
      : withSavepoint(
          ctx.stmts,
          'twopc_message',
          () => refusalAsValue(() => stage(ctx, m, envelope)),
          (r) => !(r instanceof Refusal),
        );
  if (!(outcome instanceof Refusal)) return outcome;
  // A NO is final here: record it, so a repeated Prepare gets the same NO and peers asking about
  // the transaction learn it can never commit.
  insertRefused(
    ctx,
    {
      ...(envelope instanceof Refusal ? fallbackEnvelope(m.txnId) : envelope),
      pendingCount: 0,
      lockCount: 0,
    },
    outcome,
  );
  ctx.logger.debug('voted NO', { txnId: m.txnId, reasonCode: outcome.reasonCode, reason: outcome.message });
  return no(m.txnId, outcome);
}

function answerAgain(t: TxnRecord): Vote {
  if (t.state === 'PREPARED') return { txnId: t.txnId, vote: 'YES' };
  if (t.state === 'COMMITTED') return { txnId: t.txnId, vote: t.onePhase ? 'COMMITTED_ONE_PHASE' : 'YES' };
  if (t.vote !== undefined)
    return {
      txnId: t.txnId,
      vote: 'NO',
      reasonCode: t.vote.reasonCode,
      reason: t.vote.reason,
      invalid: t.vote.invalid,
    };
  const why = t.tombstone ? 'it was aborted before this prepare arrived' : 'it was aborted';
  return no(
    t.txnId,
    new Refusal(ABORTED_BEFORE_PREPARE, `transaction ${t.txnId} is aborted on this shard: ${why}`, false),
  );
}

function refusalAsValue<T>(fn: () => T): T | Refusal {
  try {
    return fn();
  } catch (err) {
    if (err instanceof Refusal) return err;
    throw err;
  }
}

/** Everything between "never seen" and a vote, inside the message's savepoint. */
function stage(ctx: ShardContext, m: PrepareMessage, envelope: Envelope): Vote {
  const lateMs = ctx.clock.nowMs() - m.deadlineMs;
  if (lateMs > 0) throw new Refusal('TIMEOUT', `prepare processed ${lateMs} ms after its deadline`, false);
  const ops = m.ops.map((op, i) => resolveOp(ctx, op, i));
  const reads = m.reads.map((r, i) => resolveRead(ctx, r, i));
  const working = new WorkingSet(ctx);
  const locks = rowLocks(working, ops, reads);
  checkLocks(ctx, m.txnId, locks);
  checkVersions(ctx, working, ops, reads);
  for (const op of ops) applyOp(ctx, working.row(op.target), op);
  const written = working.written();
  if (written.length === 0 && m.readOnlyOk) return { txnId: m.txnId, vote: 'READ_ONLY' };
  const images = trialApply(ctx, written);
  lockUniqueValues(ctx, m.txnId, images, locks);
  if (m.onePhase) return commitOnePhase(ctx, envelope, images);
  const pendingCount = writePending(ctx, m.txnId, images);
  // A deliberately broken build for the chaos harness's mutation check; off unless TWOPC_MUTATION says so.
  const lockCount = mutation('release-locks-at-prepare') ? 0 : acquireLocks(ctx, m.txnId, locks);
  insertPrepared(ctx, { ...envelope, pendingCount, lockCount });
  return { txnId: m.txnId, vote: 'YES' };
}

/** W on every key an op writes (CHECK only reads), R on every key read. */
function rowLocks(working: WorkingSet, ops: readonly ResolvedOp[], reads: readonly ResolvedRead[]): LockSet {
  const locks = new LockSet();
  for (const op of ops) {
    working.row(op.target);
    locks.add(rowLockKey(op.target), op.kind === 'CHECK' ? 'R' : 'W', describeTarget(op.target));
  }
  for (const read of reads) {
    working.row(read.target);
    locks.add(rowLockKey(read.target), 'R', describeTarget(read.target));
  }
  return locks;
}

/** Every expected_version and every read must still hold against the committed state. */
function checkVersions(
  ctx: ShardContext,
  working: WorkingSet,
  ops: readonly ResolvedOp[],
  reads: readonly ResolvedRead[],
): void {
  const check = (target: ResolvedRead['target'], expected: bigint, what: string) => {
    const exists = working.row(target).before !== null;
    const current = committedVersion(ctx, target, exists);
    if (!versionHolds(expected, current, exists)) {
      throw conflict(
        `${what} ${describeTarget(target)}: expected version ${expected}, committed version is ${current}${exists ? '' : ' (absent)'}`,
      );
    }
  };
  for (const op of ops)
    if (op.expectedVersion !== undefined) check(op.target, op.expectedVersion, `op ${op.index} (${op.kind})`);
  for (const [i, read] of reads.entries()) check(read.target, read.version, `read ${i}: stale read of`);
}

/** UNIQUE values the after-images put in place: checked against others, then held with the rest. */
function lockUniqueValues(
  ctx: ShardContext,
  txnId: string,
  images: readonly TrialImage[],
  locks: LockSet,
): void {
  const unique = new LockSet();
  for (const img of images)
    if (img.stored !== null) uniqueLocks(img.target.table, img.before, img.stored, unique);
  checkLocks(ctx, txnId, unique);
  locks.merge(unique);
}

/** The only participant: apply now, in this same local transaction, and hold nothing. */
function commitOnePhase(ctx: ShardContext, envelope: Envelope, images: readonly TrialImage[]): Vote {
  applyStagedWrites(ctx, envelope.txnId, images);
  insertOnePhaseCommitted(ctx, { ...envelope, pendingCount: 0, lockCount: 0 });
  return { txnId: envelope.txnId, vote: 'COMMITTED_ONE_PHASE' };
}

function no(txnId: string, r: Refusal): Vote {
  return { txnId, vote: 'NO', reasonCode: r.reasonCode, reason: r.message, invalid: r.invalid };
}
