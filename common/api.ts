/**
 * The public API's shapes as the coordinator logic sees them (decoded from `twopc.v1` by
 * `common/api-codec.ts`). Names follow proto/twopc/v1/transactions.proto.
 */
import type { AbortReason, ShardOp } from './protocol.ts';

/** A client's op: a shard op plus the shard it routes to. */
export interface ClientOp extends ShardOp {
  readonly shard: string;
}

export const OUTCOMES = ['COMMITTED', 'ABORTED'] as const;

/**
 * ExecuteStream: requests one ExecuteStreamRequests message may carry. The SDK sends at most this
 * many; the coordinator refuses the ones past it with RESOURCE_EXHAUSTED.
 */
export const executeStreamBatchMax = 256;
/**
 * ExecuteStream: requests one stream may have in flight. The SDK keeps the rest waiting; the
 * coordinator refuses the ones past it with RESOURCE_EXHAUSTED.
 */
export const executeStreamInflightMax = 4_096;
export type Outcome = (typeof OUTCOMES)[number];

export const TXN_STATES = ['ACTIVE', 'PREPARING', 'COMMITTING', 'COMMITTED', 'ABORTED'] as const;
export type TxnState = (typeof TXN_STATES)[number];

export interface ExecuteInput {
  readonly ops: readonly ClientOp[];
  /** 0 = the coordinator's default. */
  readonly timeoutMs: number;
  /** '' = none. */
  readonly idempotencyKey: string;
}

export interface TxnOutcome {
  readonly txnId: string;
  readonly outcome: Outcome;
  readonly reason: string;
  readonly abortReason?: AbortReason;
  /** 0n for one-shard and read-only commits, which need no decision record. */
  readonly decisionSeq: bigint;
}

export interface TxnView {
  readonly txnId: string;
  readonly state: TxnState;
  readonly outcome?: Outcome;
  readonly shards: readonly string[];
  readonly decisionSeq: bigint;
  readonly startedAtMs: number;
  readonly decidedAtMs: number;
  readonly reason: string;
  readonly abortReason?: AbortReason;
  readonly idempotencyKey: string;
}

export interface TxnPage {
  readonly transactions: readonly TxnView[];
  readonly nextPageToken: string;
}
