/**
 * The coordinator <-> participant protocol as the protocol logic sees it, independent of gRPC.
 * `proto/twopc/v1/participant.proto` is its wire form; `coordinator/grpc-participant-client.ts` and
 * `participant/grpc-service.ts` translate. The simulator implements `ParticipantClient` over a
 * simulated network, so nothing here may depend on a transport.
 */
import type { Row, SqlValue } from './value.ts';

export const OP_KINDS = ['INSERT', 'UPSERT', 'UPDATE', 'DELETE', 'ADD', 'CHECK'] as const;
export type OpKind = (typeof OP_KINDS)[number];

export const ABORT_REASONS = [
  'CONFLICT',
  'CONSTRAINT',
  'TIMEOUT',
  'UNAVAILABLE',
  'CLIENT_ABORT',
  'COORDINATOR_RESTART',
  'HEURISTIC',
] as const;
export type AbortReason = (typeof ABORT_REASONS)[number];

/** One operation on one row of one shard, values already decoded and type-checked for shape. */
export interface ShardOp {
  readonly table: string;
  readonly kind: OpKind;
  readonly key: Row;
  readonly values: Row;
  /** Abort unless the row's committed version equals this (0 = absent). */
  readonly expectedVersion?: bigint;
}

/** A read made by an interactive transaction, validated at prepare. */
export interface ReadCheck {
  readonly table: string;
  readonly key: Row;
  readonly version: bigint;
}

export interface Peer {
  readonly shard: string;
  readonly address: string;
}

export interface PrepareMessage {
  readonly txnId: string;
  readonly ops: readonly ShardOp[];
  readonly reads: readonly ReadCheck[];
  /** The only participant: prepare and commit in one local transaction, vote COMMITTED_ONE_PHASE. */
  readonly onePhase: boolean;
  /** The whole transaction is read-only: validate reads, vote READ_ONLY, hold nothing. */
  readonly readOnlyOk: boolean;
  readonly peers: readonly Peer[];
  readonly coordinatorId: string;
  readonly epoch: bigint;
  /** Wall-clock ms; a prepare processed after this votes NO (TIMEOUT). */
  readonly deadlineMs: number;
}

export type Vote =
  | { readonly txnId: string; readonly vote: 'YES' | 'READ_ONLY' | 'COMMITTED_ONE_PHASE' }
  | {
      readonly txnId: string;
      readonly vote: 'NO';
      readonly reasonCode: AbortReason;
      readonly reason: string;
      /** The request itself is malformed (unknown table/column, wrong type): INVALID_ARGUMENT. */
      readonly invalid: boolean;
    };

export interface DecisionMessage {
  readonly txnId: string;
  readonly commit: boolean;
  /** Position of a COMMIT in the decision log; 0 for aborts. */
  readonly decisionSeq: bigint;
  readonly epoch: bigint;
}

export const LOCAL_STATES = ['UNKNOWN', 'PREPARED', 'COMMITTED', 'ABORTED'] as const;
export type LocalState = (typeof LOCAL_STATES)[number];

export interface Ack {
  readonly txnId: string;
  /** The shard's state for the transaction after applying the decision. */
  readonly state: LocalState;
}

export interface ReadResult {
  readonly found: boolean;
  readonly row: Row;
  readonly version: bigint;
}

export interface QueryResult {
  readonly columns: readonly string[];
  readonly rows: readonly Row[];
}

export interface TxnStateInfo {
  readonly txnId: string;
  readonly state: LocalState;
  readonly decisionSeq: bigint;
  readonly preparedAtMs: number;
  readonly decidedAtMs: number;
}

export interface InDoubtTxn {
  readonly txnId: string;
  readonly coordinatorId: string;
  readonly preparedAtMs: number;
  readonly peers: readonly Peer[];
}

export interface ColumnInfo {
  readonly name: string;
  readonly declaredType: string;
  readonly notNull: boolean;
  /** 1-based position in the primary key; 0 = not a key column. */
  readonly pkIndex: number;
}

export interface TableInfo {
  readonly name: string;
  readonly columns: readonly ColumnInfo[];
}

/**
 * How the coordinator talks to one participant. Every method has a deadline and rejects with a
 * TwopcError (UNAVAILABLE, DEADLINE_EXCEEDED, INVALID_ARGUMENT, ...) when it cannot get an answer.
 * Every message is idempotent at the participant, so callers may retry any of them.
 */
export interface ParticipantClient {
  readonly shard: string;
  readonly address: string;
  prepare(message: PrepareMessage, timeoutMs: number): Promise<Vote>;
  decide(message: DecisionMessage, timeoutMs: number): Promise<Ack>;
  read(table: string, key: Row, timeoutMs: number): Promise<ReadResult>;
  query(sql: string, params: readonly SqlValue[], timeoutMs: number): Promise<QueryResult>;
  txnState(txnId: string, timeoutMs: number): Promise<TxnStateInfo>;
  listInDoubt(timeoutMs: number): Promise<readonly InDoubtTxn[]>;
  describe(timeoutMs: number): Promise<readonly TableInfo[]>;
  close(): void;
}
