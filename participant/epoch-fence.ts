/**
 * The participant's side of fencing coordinator replicas (coordinator/replicas.ts): every Commit and
 * Abort carries the epoch of the coordinator that sent it, and each transaction records the highest
 * epoch that has spoken for it (`_twopc_txns.epoch`: the Prepare's, raised by any later decision with
 * a higher one). A decision with a LOWER epoch than the recorded one is not applied: the shard answers
 * with its current state and changes nothing.
 *
 * Why this is enough: epochs come from one counter in the log, and a replica that takes over another
 * takes a fresh one from it for its messages, so it always speaks with the higher epoch. Once the new owner has sent a transaction its decision, a late Commit
 * or Abort from the paused old owner is refused here — it can neither flip the outcome nor trip the
 * "commit after abort" assertion. And an Abort with epoch 0 (a replica settling a transaction it
 * does not own, coordinator/txn-resolution.ts) can only leave a tombstone for a transaction this
 * shard never prepared: it never aborts another replica's Prepare.
 *
 * Harmless for a single coordinator: a restart only ever raises the epoch. Decisions looked up rather
 * than sent by a coordinator — the in-doubt resolver's (from the log or the peers) and the recovery
 * CLI's — are final by construction and carry `resolvedEpoch`, the highest epoch: never refused, and
 * every later message about the transaction is then stale (it is decided anyway).
 */
import type { Ack, DecisionMessage } from '../common/protocol.ts';
import { INT64_MAX } from '../common/value.ts';
import type { ShardContext } from './shard-context.ts';
import type { TxnRecord } from './txn-records.ts';

/** The epoch of a decision read from the decision log or the peers: above any coordinator's. */
export const resolvedEpoch = INT64_MAX;

const RAISE = `UPDATE _twopc_txns SET epoch = ? WHERE txn_id = ? AND epoch < ?`;

/**
 * Before applying `m` to `t`: the answer to give instead when `m` is stale (undefined = apply it).
 * Raises the transaction's recorded epoch when `m`'s is higher, in the same local transaction.
 */
export function fenceDecision(
  ctx: ShardContext,
  t: TxnRecord | undefined,
  m: DecisionMessage,
): Ack | undefined {
  if (t === undefined) return undefined;
  if (m.epoch < t.epoch) {
    // Loud only when it would have changed something: a late duplicate of the outcome is routine.
    const agrees = t.state === (m.commit ? 'COMMITTED' : 'ABORTED');
    (agrees ? ctx.logger.debug : ctx.logger.warn)('decision from a stale coordinator epoch refused', {
      txnId: m.txnId,
      commit: m.commit,
      epoch: m.epoch,
      recordedEpoch: t.epoch,
      state: t.state,
    });
    return { txnId: m.txnId, state: t.state };
  }
  if (m.epoch > t.epoch) raiseEpoch(ctx, m);
  return undefined;
}

/** Records `m.epoch` as the transaction's epoch if it is higher (e.g. on a fresh tombstone). */
export function raiseEpoch(ctx: ShardContext, m: DecisionMessage): void {
  ctx.stmts.get(RAISE).run(m.epoch, m.txnId, m.epoch);
}
