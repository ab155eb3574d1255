/**
 * A transaction on one shard needs no coordination: the participant prepares and commits in one
 * local transaction and votes COMMITTED_ONE_PHASE (or NO). No decision record is written.
 *
 * If the prepare times out or the shard is unreachable, the outcome is unknown: the prepare may still
 * arrive and commit. The coordinator then sends Abort, which the participant applies (leaving a
 * tombstone, so a delayed prepare is refused) or answers COMMITTED if the commit already happened: its
 * ack is the outcome. If no ack comes within `outcomeProbeWaitMs`, the client gets UNAVAILABLE, and
 * the Abort keeps being re-sent in the background until the shard answers and settles the transaction.
 */
import type { TxnOutcome } from '../common/api.ts';
import { TwopcError } from '../common/errors.ts';
import type { Ack } from '../common/protocol.ts';
import { answer, forceCommit } from './decision.ts';
import type { TxnPlan } from './op-validation.ts';
import { settlesWithin } from './participant-call.ts';
import {
  prepareMessage,
  prepareTimeoutMs,
  refusalFromError,
  refusalFromVote,
  sendPrepare,
  type Refusal,
} from './prepare.ts';
import type { ProtocolContext } from './protocol-context.ts';
import type { Transaction } from './transaction.ts';

export async function runOnePhase(
  ctx: ProtocolContext,
  txn: Transaction,
  plan: TxnPlan,
): Promise<TxnOutcome> {
  const shard = plan.shards[0] as string;
  const timeoutMs = prepareTimeoutMs(ctx, txn);
  if (timeoutMs <= 0) {
    txn.tryAbort('TIMEOUT', 'the transaction timed out before it could prepare', ctx.clock.nowMs());
    return answer(txn, txn.outcome as TxnOutcome);
  }
  txn.startPreparing([shard], true);
  const message = prepareMessage(ctx, txn, plan, shard, true);
  const settled = await sendPrepare(ctx, message, shard, timeoutMs, ctx.stopSignal);
  if (!settled.ok) return settleByAbort(ctx, txn, shard, refusalFromError(shard, settled.error, timeoutMs));
  const vote = settled.value;
  if (vote.txnId !== txn.id) {
    ctx.metrics.protocolViolations++;
    return settleByAbort(ctx, txn, shard, {
      shard,
      abortReason: 'UNAVAILABLE',
      reason: `shard ${shard} answered for ${vote.txnId}`,
      invalid: false,
    });
  }
  switch (vote.vote) {
    case 'COMMITTED_ONE_PHASE':
      ctx.metrics.committedOnePhase++;
      return txn.commitWithoutLog(ctx.clock.nowMs());
    case 'READ_ONLY':
      if (plan.writes) {
        ctx.metrics.protocolViolations++;
        const reason = `shard ${shard} voted READ_ONLY, but the transaction writes`;
        return settleByAbort(ctx, txn, shard, { shard, abortReason: 'UNAVAILABLE', reason, invalid: false });
      }
      ctx.metrics.committedReadOnly++;
      return txn.commitWithoutLog(ctx.clock.nowMs());
    case 'YES':
      // The participant did not take the one-phase shortcut: run phase two for it.
      txn.decideCommit();
      return forceCommit(ctx, txn);
    case 'NO': {
      const refusal = refusalFromVote(shard, vote);
      if (refusal.invalid) txn.markInvalid();
      return answer(txn, txn.onePhaseAborted(refusal.abortReason, refusal.reason, ctx.clock.nowMs()));
    }
  }
}

/** Learns a one-shard transaction's outcome from the ack of an Abort. */
async function settleByAbort(
  ctx: ProtocolContext,
  txn: Transaction,
  shard: string,
  refusal: Refusal,
): Promise<TxnOutcome> {
  const acks = ctx.sender.deliver(
    { txnId: txn.id, commit: false, decisionSeq: 0n, epoch: ctx.log.epoch },
    [shard],
    true,
  );
  const learned = acks.then((a) => applyAck(ctx, txn, a.get(shard), refusal));
  await settlesWithin(ctx.clock, learned, ctx.config.outcomeProbeWaitMs, ctx.stopSignal);
  const outcome = txn.outcome;
  if (outcome !== undefined) return answer(txn, outcome);
  throw new TwopcError(
    'UNAVAILABLE',
    `txn ${txn.id}: shard ${shard} could not be reached (${refusal.reason}); the outcome is not known yet`,
    {
      hint: 'ask GetTransaction later, or retry with the same idempotency key',
    },
  );
}

function applyAck(ctx: ProtocolContext, txn: Transaction, ack: Ack | undefined, refusal: Refusal): void {
  if (ack === undefined || txn.phase !== 'ONE_PHASE') return;
  if (ack.state === 'COMMITTED') {
    ctx.metrics.committedOnePhase++;
    txn.commitWithoutLog(ctx.clock.nowMs());
  } else if (ack.state === 'ABORTED') {
    if (refusal.invalid) txn.markInvalid();
    txn.onePhaseAborted(refusal.abortReason, refusal.reason, ctx.clock.nowMs());
  }
}
