/**
 * Questions about transactions: the state of one (for the coordinator, peers doing cooperative
 * termination, the recovery CLI) and the list of in-doubt ones (PREPARED, outcome unknown here).
 */
import { invalidArgument } from '../common/errors.ts';
import type { InDoubtTxn, TxnStateInfo } from '../common/protocol.ts';
import { runImmediate } from './local-txn.ts';
import { checkTxnId } from './prepare-message.ts';
import type { ShardContext } from './shard-context.ts';
import { getTxn, insertTombstone, listPrepared, type TxnRecord } from './txn-records.ts';

/**
 * With `abortIfUnknown`, a transaction never seen here gets a tombstone in the same local
 * transaction as the lookup, so no Prepare can slip in between and vote YES on it.
 */
export function txnState(ctx: ShardContext, txnId: string, abortIfUnknown: boolean): TxnStateInfo {
  const badId = checkTxnId(txnId);
  if (badId !== undefined) throw invalidArgument(badId);
  if (!abortIfUnknown) return stateInfo(txnId, getTxn(ctx, txnId));
  return runImmediate(ctx.db, ctx.stmts, () => {
    if (getTxn(ctx, txnId) === undefined) {
      insertTombstone(ctx, txnId);
      ctx.logger.info('tombstone written for a transaction asked about before its prepare', { txnId });
    }
    return stateInfo(txnId, getTxn(ctx, txnId));
  });
}

export function listInDoubt(ctx: ShardContext): InDoubtTxn[] {
  return listPrepared(ctx).map((t) => ({
    txnId: t.txnId,
    coordinatorId: t.coordinatorId,
    preparedAtMs: t.preparedAtMs,
    peers: t.peers,
  }));
}

function stateInfo(txnId: string, t: TxnRecord | undefined): TxnStateInfo {
  if (t === undefined) return { txnId, state: 'UNKNOWN', decisionSeq: 0n, preparedAtMs: 0, decidedAtMs: 0 };
  return {
    txnId,
    state: t.state,
    decisionSeq: t.decisionSeq,
    preparedAtMs: t.preparedAtMs,
    decidedAtMs: t.decidedAtMs,
  };
}
