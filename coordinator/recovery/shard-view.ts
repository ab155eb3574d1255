/**
 * What recovery needs of one shard, whichever way it is reached: the shard file itself with the
 * processes down (offline-shard.ts), or its participant over gRPC (online-shard.ts). Both apply
 * decisions with the participant's own code, so a decision pushed by recovery is applied exactly
 * like one from the coordinator: idempotent, pending rows and locks released in the same local
 * transaction.
 */
import type { AbortReason, Ack, DecisionMessage, InDoubtTxn, LocalState } from '../../common/protocol.ts';

/** What only the shard file tells (offline): the participant's full record of the transaction. */
export interface ShardTxnDetail {
  /** ABORTED without ever being prepared here (an abort or a peer's question came first). */
  readonly tombstone: boolean;
  readonly onePhase: boolean;
  readonly coordinatorId: string;
  /** The other shards named in its prepare. */
  readonly peers: readonly string[];
  readonly pendingCount: number;
  readonly lockCount: number;
  /** The NO this shard voted, if it did. */
  readonly vote?: { readonly reasonCode: AbortReason; readonly reason: string };
}

/** One shard's state for one transaction. Times are wall-clock ms; 0 = not yet. */
export interface ShardTxn {
  readonly shard: string;
  readonly state: LocalState;
  readonly decisionSeq: bigint;
  readonly preparedAtMs: number;
  readonly decidedAtMs: number;
  readonly detail?: ShardTxnDetail;
}

export interface ShardView {
  readonly shard: string;
  /** The shard file's path (offline) or the participant's HOST:PORT (online). */
  readonly location: string;
  readonly online: boolean;
  /** Transactions this shard voted YES on and holds no decision for, oldest first. */
  listInDoubt(): Promise<readonly InDoubtTxn[]>;
  /** Read-only: never writes a tombstone. */
  txnState(txnId: string): Promise<ShardTxn>;
  /**
   * Rejects with FAILED_PRECONDITION (and an operator hint) when this shard cannot be written from
   * here: offline, a running participant has the file open. Writes nothing.
   */
  checkWritable(): Promise<void>;
  /** Applies decisions (idempotent), with the shard's own code; acks in the same order. */
  decide(messages: readonly DecisionMessage[]): Promise<readonly Ack[]>;
  close(): Promise<void>;
}
