/**
 * One local transaction for everything a batcher flush holds: the decisions first (a commit or an
 * abort releases locks a prepare in the same flush may need), then the prepares, then ONE commit
 * and ONE fsync, where writing them as two batches cost two. Each prepare still has its own
 * savepoint, so a NO does not sink the others. If anything throws, the whole local transaction rolled
 * back and nothing was written: the caller falls back to the separate batches, which isolate the
 * message at fault.
 *
 * Durability contract: when this returns, every ack and every vote it returns is on disk.
 */
import { failpoint } from '../common/failpoints.ts';
import type { Ack, DecisionMessage, PrepareMessage, Vote } from '../common/protocol.ts';
import { checkDecisionBatch, decideInLocalTxn } from './decide.ts';
import { runImmediate } from './local-txn.ts';
import { checkPrepareBatch, prepareInLocalTxn } from './prepare.ts';
import type { ShardContext } from './shard-context.ts';

export interface SharedFlushResult {
  readonly acks: Ack[];
  readonly votes: Vote[];
}

export function decideAndPrepare(
  ctx: ShardContext,
  decisions: readonly DecisionMessage[],
  prepares: readonly PrepareMessage[],
): SharedFlushResult {
  checkDecisionBatch(decisions);
  checkPrepareBatch(prepares);
  const anyCommit = decisions.some((m) => m.commit);
  if (anyCommit) failpoint('participant.before-commit-applied');
  const result = runImmediate(ctx.db, ctx.stmts, () => ({
    acks: decideInLocalTxn(ctx, decisions),
    votes: prepareInLocalTxn(ctx, prepares),
  }));
  if (anyCommit) failpoint('participant.after-commit-applied-before-ack');
  if (prepares.length > 0) failpoint('participant.after-prepare-before-vote');
  return result;
}
