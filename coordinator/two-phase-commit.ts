/**
 * The protocol driver (DESIGN.md, "Protocol: presumed-abort two-phase commit"). `runProtocol` takes a
 * validated plan and a transaction in ACTIVE and returns its outcome:
 *
 * - no shard (an interactive transaction that did nothing): COMMITTED, nothing sent;
 * - one shard: one phase (one-phase-commit.ts);
 * - several: Prepare to all in parallel, bounded by `prepareTimeoutMs` and the deadline. All YES or
 *   READ_ONLY: force COMMIT (decision.ts), answer COMMITTED, deliver Commit to the YES voters, END.
 *   All READ_ONLY: COMMITTED with no record. Any NO, timeout or unreachable shard: ABORTED, Abort to
 *   every participant in the background, nothing forced.
 *
 * Throws INVALID_ARGUMENT when a participant refused the request as malformed (after aborting it
 * everywhere), and UNAVAILABLE when the outcome is not known yet.
 */
import type { TxnOutcome } from '../common/api.ts';
import { abortEverywhere, answer, forceCommit } from './decision.ts';
import { runOnePhase } from './one-phase-commit.ts';
import type { TxnPlan } from './op-validation.ts';
import { collectVotes, prepareTimeoutMs } from './prepare.ts';
import type { PlanShards, ProtocolResult } from './metrics.ts';
import type { ProtocolContext } from './protocol-context.ts';
import type { Transaction } from './transaction.ts';

export async function runProtocol(
  ctx: ProtocolContext,
  txn: Transaction,
  plan: TxnPlan,
): Promise<TxnOutcome> {
  // Aborted before anything was sent (the client, or shutdown, while an INTENT was being forced).
  if (txn.outcome !== undefined) return answer(txn, txn.outcome);
  const shards: PlanShards = plan.shards.length === 0 ? 'none' : plan.shards.length === 1 ? 'one' : 'several';
  const startedMs = performance.now();
  const timed = (result: ProtocolResult) =>
    ctx.metrics.timings.observeRun(shards, result, performance.now() - startedMs);
  try {
    const outcome = await (shards === 'none'
      ? txn.commitWithoutLog(ctx.clock.nowMs())
      : shards === 'one'
        ? runOnePhase(ctx, txn, plan)
        : runTwoPhase(ctx, txn, plan));
    timed(outcome.outcome === 'COMMITTED' ? 'committed' : 'aborted');
    return outcome;
  } catch (err) {
    timed('error');
    throw err;
  }
}

async function runTwoPhase(ctx: ProtocolContext, txn: Transaction, plan: TxnPlan): Promise<TxnOutcome> {
  const now = ctx.clock.nowMs();
  const timeoutMs = prepareTimeoutMs(ctx, txn);
  if (timeoutMs <= 0) {
    txn.tryAbort('TIMEOUT', 'the transaction timed out before it could prepare', now);
    return answer(txn, txn.outcome as TxnOutcome);
  }
  txn.startPreparing(plan.shards, false);
  const preparingMs = performance.now();
  const tally = await collectVotes(ctx, txn, plan, timeoutMs);
  // Only a complete vote (refusals and timeouts end the stage early or late: not its length).
  if (tally.kind === 'yes') ctx.metrics.timings.stages.prepare.observeMs(performance.now() - preparingMs);
  if (tally.kind === 'refused') {
    const { refusal } = tally;
    // If something else aborted the transaction first (the client, shutdown), its reason stands.
    const ours = txn.phase === 'PREPARING';
    txn.tryAbort(refusal.abortReason, refusal.reason, ctx.clock.nowMs());
    if (ours && refusal.invalid) txn.markInvalid();
  }
  if (tally.kind !== 'yes' || !txn.decideCommit()) return abortEverywhere(ctx, txn, plan.shards);
  txn.shards = tally.yes;
  txn.readOnlyShards = tally.readOnly;
  if (tally.yes.length === 0) {
    ctx.metrics.committedReadOnly++;
    return txn.commitWithoutLog(ctx.clock.nowMs());
  }
  return forceCommit(ctx, txn);
}
