/**
 * The public API's wire messages (twopc.v1) <-> the types of common/api.ts; ops are shared with the
 * participant protocol. Field checks and their contract: common/pb-fields.ts.
 */
import type { ClientOp, ExecuteInput, Outcome, TxnOutcome, TxnPage, TxnState, TxnView } from './api.ts';
import { OUTCOMES, TXN_STATES } from './api.ts';
import { invalidArgument } from './errors.ts';
import type { QueryResult, ReadResult, ShardOp } from './protocol.ts';
import { ABORT_REASONS, OP_KINDS } from './protocol.ts';
import type { Row, SqlValue } from './value.ts';
import { mapToPb } from './value.ts';
import {
  message,
  str,
  required,
  bool,
  u64,
  u32,
  ms,
  enumName,
  list,
  row,
  keyRow,
  sqlFromPb,
  msToPb,
  type Pb,
} from './pb-fields.ts';

// ---------------------------------------------------------------------------------------------
// Ops (shared by the public API and Prepare)

/**
 * A proto3 `optional` field is present when its synthetic oneof (`_expected_version`) names it; a
 * loader without `oneofs` still leaves an absent optional field undefined.
 */
function optionalU64(pb: Pb, field: string, where: string): bigint | undefined {
  const marker = pb[`_${field}`];
  const present = marker === field || (marker === undefined && pb[field] !== undefined && pb[field] !== null);
  return present ? u64(pb[field], `${where}.${field}`) : undefined;
}

export function shardOpFields(pb: Pb, where: string): ShardOp {
  const expectedVersion = optionalU64(pb, 'expected_version', where);
  return {
    table: required(pb.table, `${where}.table`),
    kind: enumName(pb.kind, OP_KINDS, `${where}.kind`),
    key: keyRow(pb.key, `${where}.key`),
    values: row(pb.values, `${where}.values`),
    ...(expectedVersion === undefined ? {} : { expectedVersion }),
  };
}

export function opFromPb(value: unknown, where: string): ClientOp {
  const pb = message(value, where);
  return { shard: required(pb.shard, `${where}.shard`), ...shardOpFields(pb, where) };
}

export function opsFromPb(value: unknown, where = 'ops'): ClientOp[] {
  return list(value, where).map((op, i) => opFromPb(op, `${where}[${i}]`));
}

export function opToPb(op: ShardOp & { readonly shard?: string }): Pb {
  return {
    shard: op.shard ?? '',
    table: op.table,
    kind: op.kind,
    key: mapToPb(op.key),
    values: mapToPb(op.values),
    ...(op.expectedVersion === undefined ? {} : { expected_version: op.expectedVersion.toString() }),
  };
}

// ---------------------------------------------------------------------------------------------
// Public API requests (twopc.v1.Transactions)

export function executeInputFromPb(value: unknown): ExecuteInput {
  const pb = message(value, 'request');
  const ops = opsFromPb(pb.ops);
  if (ops.length === 0) throw invalidArgument('ops: at least one op is required');
  return {
    ops,
    timeoutMs: u32(pb.timeout_ms, 'timeout_ms'),
    idempotencyKey: str(pb.idempotency_key, 'idempotency_key'),
  };
}

export function beginInputFromPb(value: unknown): { timeoutMs: number; idempotencyKey: string } {
  const pb = message(value, 'request');
  return {
    timeoutMs: u32(pb.timeout_ms, 'timeout_ms'),
    idempotencyKey: str(pb.idempotency_key, 'idempotency_key'),
  };
}

/** CommitRequest, AbortRequest, GetTransactionRequest: just a transaction id. */
export function txnIdFromPb(value: unknown): string {
  return required(message(value, 'request').txn_id, 'txn_id');
}

export function readInputFromPb(value: unknown): { txnId: string; shard: string; table: string; key: Row } {
  const pb = message(value, 'request');
  return {
    txnId: required(pb.txn_id, 'txn_id'),
    shard: required(pb.shard, 'shard'),
    table: required(pb.table, 'table'),
    key: keyRow(pb.key, 'key'),
  };
}

export function writeInputFromPb(value: unknown): { txnId: string; ops: ClientOp[] } {
  const pb = message(value, 'request');
  return { txnId: required(pb.txn_id, 'txn_id'), ops: opsFromPb(pb.ops) };
}

/** `pageSize` 0 means the coordinator's default; the coordinator also enforces the maximum. */
export function listInputFromPb(value: unknown): { states: TxnState[]; pageSize: number; pageToken: string } {
  const pb = message(value, 'request');
  return {
    states: list(pb.states, 'states').map((s, i) => enumName(s, TXN_STATES, `states[${i}]`)),
    pageSize: u32(pb.page_size, 'page_size'),
    pageToken: str(pb.page_token, 'page_token'),
  };
}

export function queryInputFromPb(value: unknown): { shard: string; sql: string; params: SqlValue[] } {
  const pb = message(value, 'request');
  return { shard: required(pb.shard, 'shard'), ...sqlFromPb(pb) };
}

// ---------------------------------------------------------------------------------------------
// Public API responses

export function txnOutcomeToPb(o: TxnOutcome): Pb {
  return {
    txn_id: o.txnId,
    outcome: o.outcome,
    reason: o.reason,
    abort_reason: o.abortReason ?? 'ABORT_REASON_UNSPECIFIED',
    decision_seq: o.decisionSeq.toString(),
  };
}

export function txnOutcomeFromPb(value: unknown): TxnOutcome {
  const pb = message(value, 'response');
  const abortReason = enumName(pb.abort_reason, ABORT_REASONS, 'abort_reason', undefined);
  return {
    txnId: str(pb.txn_id, 'txn_id'),
    outcome: enumName(pb.outcome, OUTCOMES, 'outcome'),
    reason: str(pb.reason, 'reason'),
    ...(abortReason === undefined ? {} : { abortReason }),
    decisionSeq: u64(pb.decision_seq, 'decision_seq'),
  };
}

export function txnViewToPb(v: TxnView): Pb {
  return {
    txn_id: v.txnId,
    state: v.state,
    outcome: v.outcome ?? 'OUTCOME_UNSPECIFIED',
    shards: [...v.shards],
    decision_seq: v.decisionSeq.toString(),
    started_at_ms: msToPb(v.startedAtMs),
    decided_at_ms: msToPb(v.decidedAtMs),
    reason: v.reason,
    abort_reason: v.abortReason ?? 'ABORT_REASON_UNSPECIFIED',
    idempotency_key: v.idempotencyKey,
  };
}

export function txnViewFromPb(value: unknown, where = 'transaction'): TxnView {
  const pb = message(value, where);
  const outcome = enumName<Outcome, undefined>(pb.outcome, OUTCOMES, `${where}.outcome`, undefined);
  const abortReason = enumName(pb.abort_reason, ABORT_REASONS, `${where}.abort_reason`, undefined);
  return {
    txnId: str(pb.txn_id, `${where}.txn_id`),
    state: enumName(pb.state, TXN_STATES, `${where}.state`),
    ...(outcome === undefined ? {} : { outcome }),
    shards: list(pb.shards, `${where}.shards`).map((s, i) => str(s, `${where}.shards[${i}]`)),
    decisionSeq: u64(pb.decision_seq, `${where}.decision_seq`),
    startedAtMs: ms(pb.started_at_ms, `${where}.started_at_ms`),
    decidedAtMs: ms(pb.decided_at_ms, `${where}.decided_at_ms`),
    reason: str(pb.reason, `${where}.reason`),
    ...(abortReason === undefined ? {} : { abortReason }),
    idempotencyKey: str(pb.idempotency_key, `${where}.idempotency_key`),
  };
}

export function txnPageToPb(page: TxnPage): Pb {
  return { transactions: page.transactions.map(txnViewToPb), next_page_token: page.nextPageToken };
}

export function readResultToPb(r: ReadResult): Pb {
  return { found: r.found, row: mapToPb(r.row), version: r.version.toString() };
}

export function readResultFromPb(value: unknown): ReadResult {
  const pb = message(value, 'response');
  return { found: bool(pb.found, 'found'), row: row(pb.row, 'row'), version: u64(pb.version, 'version') };
}

export function queryResultToPb(r: QueryResult): Pb {
  return { columns: [...r.columns], rows: r.rows.map((columns) => ({ columns: mapToPb(columns) })) };
}

export function queryResultFromPb(value: unknown): QueryResult {
  const pb = message(value, 'response');
  return {
    columns: list(pb.columns, 'columns').map((c, i) => str(c, `columns[${i}]`)),
    rows: list(pb.rows, 'rows').map((r, i) => row(message(r, `rows[${i}]`).columns, `rows[${i}].columns`)),
  };
}
