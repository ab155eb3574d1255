/**
 * Wire messages (twopc.v1 and twopc.internal.v1, as @grpc/proto-loader presents them with
 * common/proto.ts's LOADER_OPTIONS: snake_case fields, 64-bit ints as decimal strings, enums as names,
 * oneofs with a virtual field naming the member set) <-> the types of common/api.ts and
 * common/protocol.ts.
 *
 * Decoders validate shape and throw TwopcError INVALID_ARGUMENT naming the field (`ops[3].key.id`),
 * never a TypeError: whatever a client sends is untrusted. They accept what other loaders produce too
 * (numbers or bigints for 64-bit fields, a set field without the oneof marker). Encoders trust their
 * input, which the product built itself.
 */
import type { ClientOp, ExecuteInput, Outcome, TxnOutcome, TxnPage, TxnState, TxnView } from './api.ts';
import { OUTCOMES, TXN_STATES } from './api.ts';
import { ERROR_CODES, TwopcError, invalidArgument, type ErrorCode } from './errors.ts';
import type {
  Ack,
  ColumnInfo,
  DecisionMessage,
  InDoubtTxn,
  LocalState,
  Peer,
  PrepareMessage,
  QueryResult,
  ReadCheck,
  ReadResult,
  ShardOp,
  TableInfo,
  TxnStateInfo,
  Vote,
} from './protocol.ts';
import { ABORT_REASONS, LOCAL_STATES, OP_KINDS } from './protocol.ts';
import type { PbValue, Row, SqlValue } from './value.ts';
import { fromPb, mapFromPb, mapToPb, toPb } from './value.ts';

/** A decoded wire message: fields are untrusted until a decoder has looked at them. */
export type Pb = Record<string, unknown>;

const UINT64_MAX = 2n ** 64n - 1n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const VOTES = ['YES', 'NO', 'READ_ONLY', 'COMMITTED_ONE_PHASE'] as const;

// ---------------------------------------------------------------------------------------------
// Field checks

function isObject(v: unknown): v is Pb {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value for an error message; never throws (an object may have a broken toString). */
function show(v: unknown): string {
  try {
    return typeof v === 'object' && v !== null ? JSON.stringify(v).slice(0, 80) : String(v);
  } catch {
    return `a ${typeof v}`;
  }
}

function message(v: unknown, where: string): Pb {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw invalidArgument(`${where}: expected a message`);
  return v;
}

function str(v: unknown, where: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw invalidArgument(`${where}: expected a string`);
  return v;
}

function required(v: unknown, where: string): string {
  const s = str(v, where);
  if (s === '') throw invalidArgument(`${where}: required`);
  return s;
}

function bool(v: unknown, where: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw invalidArgument(`${where}: expected a bool`);
  return v;
}

function integer(v: unknown, where: string, min: bigint, max: bigint): bigint {
  if (v === undefined || v === null) return 0n;
  let n: bigint;
  try {
    // Long objects (default loader options) print as their decimal value.
    n = typeof v === 'bigint' ? v : BigInt(typeof v === 'object' ? String(v) : (v as string | number));
  } catch {
    throw invalidArgument(`${where}: ${show(v)} is not an integer`);
  }
  if (n < min || n > max) throw invalidArgument(`${where}: ${n} is out of range`);
  return n;
}

const u64 = (v: unknown, where: string): bigint => integer(v, where, 0n, UINT64_MAX);
const i64 = (v: unknown, where: string): bigint => integer(v, where, INT64_MIN, INT64_MAX);
const u32 = (v: unknown, where: string): number => Number(integer(v, where, 0n, 0xffffffffn));
/** Milliseconds in an int64 field, as a JS number (exact below 2^53, which every real time is). */
const ms = (v: unknown, where: string): number => Number(i64(v, where));

/**
 * An enum field: its name (or, for a value this loader did not know, its number). The `_UNSPECIFIED`
 * zero value is refused unless `unspecified` says what it means.
 */
function enumName<T extends string>(v: unknown, allowed: readonly T[], where: string): T;
function enumName<T extends string, U>(
  v: unknown,
  allowed: readonly T[],
  where: string,
  unspecified: U,
): T | U;
function enumName<T extends string, U>(
  v: unknown,
  allowed: readonly T[],
  where: string,
  ...rest: [U?]
): T | U {
  if ((allowed as readonly unknown[]).includes(v)) return v as T;
  const isZero =
    v === undefined || v === null || v === 0 || (typeof v === 'string' && v.endsWith('_UNSPECIFIED'));
  if (isZero && rest.length > 0) return rest[0] as U;
  if (isZero) throw invalidArgument(`${where}: required (one of ${allowed.join(', ')})`);
  throw invalidArgument(`${where}: unknown value ${show(v)} (expected one of ${allowed.join(', ')})`);
}

function list(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidArgument(`${where}: expected a list`);
  return v;
}

function row(v: unknown, where: string): Row {
  if (v !== undefined && v !== null && !isObject(v)) throw invalidArgument(`${where}: expected a map`);
  return guarded(where, () => mapFromPb(v as Record<string, PbValue> | undefined, where));
}

function keyRow(v: unknown, where: string): Row {
  const key = row(v, where);
  if (Object.keys(key).length === 0)
    throw invalidArgument(`${where}: empty (give the row's full primary key)`);
  return key;
}

function sqlValue(v: unknown, where: string): SqlValue {
  if (v !== undefined && v !== null && !isObject(v)) throw invalidArgument(`${where}: expected a Value`);
  return guarded(where, () => fromPb(v as PbValue | undefined, where));
}

/** common/value.ts trusts protobuf-shaped input; anything else it trips on is still bad input. */
function guarded<T>(where: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof TwopcError) throw err;
    throw invalidArgument(`${where}: malformed value`);
  }
}

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

function shardOpFields(pb: Pb, where: string): ShardOp {
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

function sqlFromPb(pb: Pb): { sql: string; params: SqlValue[] } {
  return {
    sql: required(pb.sql, 'sql'),
    params: list(pb.params, 'params').map((p, i) => sqlValue(p, `params[${i}]`)),
  };
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

function msToPb(value: number): string {
  return BigInt(Math.trunc(value)).toString();
}

// ---------------------------------------------------------------------------------------------
// Participant protocol (twopc.internal.v1)

function peerFromPb(value: unknown, where: string): Peer {
  const pb = message(value, where);
  return { shard: required(pb.shard, `${where}.shard`), address: str(pb.address, `${where}.address`) };
}

function peersFromPb(value: unknown, where: string): Peer[] {
  return list(value, where).map((p, i) => peerFromPb(p, `${where}[${i}]`));
}

function readCheckFromPb(value: unknown, where: string): ReadCheck {
  const pb = message(value, where);
  return {
    table: required(pb.table, `${where}.table`),
    key: keyRow(pb.key, `${where}.key`),
    version: u64(pb.version, `${where}.version`),
  };
}

/** The ops' `shard` field is informational (the participant serves one shard); it is not checked. */
export function prepareFromPb(value: unknown, where = 'prepare'): PrepareMessage {
  const pb = message(value, where);
  return {
    txnId: required(pb.txn_id, `${where}.txn_id`),
    ops: list(pb.ops, `${where}.ops`).map((op, i) =>
      shardOpFields(message(op, `${where}.ops[${i}]`), `${where}.ops[${i}]`),
    ),
    reads: list(pb.reads, `${where}.reads`).map((r, i) => readCheckFromPb(r, `${where}.reads[${i}]`)),
    onePhase: bool(pb.one_phase, `${where}.one_phase`),
    readOnlyOk: bool(pb.read_only_ok, `${where}.read_only_ok`),
    peers: peersFromPb(pb.peers, `${where}.peers`),
    coordinatorId: str(pb.coordinator_id, `${where}.coordinator_id`),
    epoch: u64(pb.epoch, `${where}.epoch`),
    deadlineMs: ms(pb.deadline_ms, `${where}.deadline_ms`),
  };
}

export function prepareToPb(m: PrepareMessage, shard = ''): Pb {
  return {
    txn_id: m.txnId,
    ops: m.ops.map((op) => opToPb({ ...op, shard })),
    reads: m.reads.map((r) => ({ table: r.table, key: mapToPb(r.key), version: r.version.toString() })),
    one_phase: m.onePhase,
    read_only_ok: m.readOnlyOk,
    peers: m.peers.map((p) => ({ shard: p.shard, address: p.address })),
    coordinator_id: m.coordinatorId,
    epoch: m.epoch.toString(),
    deadline_ms: msToPb(m.deadlineMs),
  };
}

export function voteToPb(v: Vote): Pb {
  if (v.vote !== 'NO')
    return {
      txn_id: v.txnId,
      vote: v.vote,
      reason_code: 'ABORT_REASON_UNSPECIFIED',
      reason: '',
      invalid: false,
    };
  return { txn_id: v.txnId, vote: 'NO', reason_code: v.reasonCode, reason: v.reason, invalid: v.invalid };
}

export function voteFromPb(value: unknown, where = 'vote'): Vote {
  const pb = message(value, where);
  const txnId = required(pb.txn_id, `${where}.txn_id`);
  const vote = enumName(pb.vote, VOTES, `${where}.vote`);
  if (vote !== 'NO') return { txnId, vote };
  return {
    txnId,
    vote,
    reasonCode: enumName(pb.reason_code, ABORT_REASONS, `${where}.reason_code`),
    reason: str(pb.reason, `${where}.reason`),
    invalid: bool(pb.invalid, `${where}.invalid`),
  };
}

export function decisionFromPb(value: unknown, where = 'decision'): DecisionMessage {
  const pb = message(value, where);
  return {
    txnId: required(pb.txn_id, `${where}.txn_id`),
    commit: bool(pb.commit, `${where}.commit`),
    decisionSeq: u64(pb.decision_seq, `${where}.decision_seq`),
    epoch: u64(pb.epoch, `${where}.epoch`),
  };
}

export function decisionToPb(m: DecisionMessage): Pb {
  return {
    txn_id: m.txnId,
    commit: m.commit,
    decision_seq: m.decisionSeq.toString(),
    epoch: m.epoch.toString(),
  };
}

export function ackToPb(a: Ack): Pb {
  return { txn_id: a.txnId, state: a.state };
}

export function ackFromPb(value: unknown, where = 'ack'): Ack {
  const pb = message(value, where);
  return {
    txnId: required(pb.txn_id, `${where}.txn_id`),
    state: enumName(pb.state, LOCAL_STATES, `${where}.state`),
  };
}

export function shardReadFromPb(value: unknown): { table: string; key: Row } {
  const pb = message(value, 'request');
  return { table: required(pb.table, 'table'), key: keyRow(pb.key, 'key') };
}

export function shardReadToPb(table: string, key: Row): Pb {
  return { table, key: mapToPb(key) };
}

export function shardQueryFromPb(value: unknown): { sql: string; params: SqlValue[] } {
  return sqlFromPb(message(value, 'request'));
}

export function shardQueryToPb(sql: string, params: readonly SqlValue[]): Pb {
  return { sql, params: params.map(toPb) };
}

export function describeToPb(shard: string, tables: readonly TableInfo[]): Pb {
  return {
    shard,
    tables: tables.map((t) => ({
      name: t.name,
      columns: t.columns.map((c) => ({
        name: c.name,
        declared_type: c.declaredType,
        not_null: c.notNull,
        pk_index: c.pkIndex,
      })),
    })),
  };
}

export function describeFromPb(value: unknown): { shard: string; tables: TableInfo[] } {
  const pb = message(value, 'response');
  const tables = list(pb.tables, 'tables').map((t, i): TableInfo => {
    const tpb = message(t, `tables[${i}]`);
    const columns = list(tpb.columns, `tables[${i}].columns`).map((c, j): ColumnInfo => {
      const where = `tables[${i}].columns[${j}]`;
      const cpb = message(c, where);
      return {
        name: required(cpb.name, `${where}.name`),
        declaredType: str(cpb.declared_type, `${where}.declared_type`),
        notNull: bool(cpb.not_null, `${where}.not_null`),
        pkIndex: u32(cpb.pk_index, `${where}.pk_index`),
      };
    });
    return { name: required(tpb.name, `tables[${i}].name`), columns };
  });
  return { shard: str(pb.shard, 'shard'), tables };
}

export function txnStateRequestFromPb(value: unknown): { txnId: string; abortIfUnknown: boolean } {
  const pb = message(value, 'request');
  return {
    txnId: required(pb.txn_id, 'txn_id'),
    abortIfUnknown: bool(pb.abort_if_unknown, 'abort_if_unknown'),
  };
}

export function txnStateToPb(s: TxnStateInfo): Pb {
  return {
    txn_id: s.txnId,
    state: s.state,
    decision_seq: s.decisionSeq.toString(),
    prepared_at_ms: msToPb(s.preparedAtMs),
    decided_at_ms: msToPb(s.decidedAtMs),
  };
}

export function txnStateFromPb(value: unknown): TxnStateInfo {
  const pb = message(value, 'response');
  return {
    txnId: str(pb.txn_id, 'txn_id'),
    state: enumName<LocalState>(pb.state, LOCAL_STATES, 'state'),
    decisionSeq: u64(pb.decision_seq, 'decision_seq'),
    preparedAtMs: ms(pb.prepared_at_ms, 'prepared_at_ms'),
    decidedAtMs: ms(pb.decided_at_ms, 'decided_at_ms'),
  };
}

export function inDoubtToPb(shard: string, txns: readonly InDoubtTxn[]): Pb {
  return {
    shard,
    txns: txns.map((t) => ({
      txn_id: t.txnId,
      coordinator_id: t.coordinatorId,
      prepared_at_ms: msToPb(t.preparedAtMs),
      peers: t.peers.map((p) => ({ shard: p.shard, address: p.address })),
    })),
  };
}

export function inDoubtFromPb(value: unknown): InDoubtTxn[] {
  const pb = message(value, 'response');
  return list(pb.txns, 'txns').map((t, i) => {
    const where = `txns[${i}]`;
    const tpb = message(t, where);
    return {
      txnId: required(tpb.txn_id, `${where}.txn_id`),
      coordinatorId: str(tpb.coordinator_id, `${where}.coordinator_id`),
      preparedAtMs: ms(tpb.prepared_at_ms, `${where}.prepared_at_ms`),
      peers: peersFromPb(tpb.peers, `${where}.peers`),
    };
  });
}

/**
 * Request metadata naming the shard the caller believes it is talking to. A participant serving
 * another shard refuses the call (FAILED_PRECONDITION): a swapped address in the coordinator's
 * configuration must not apply one shard's writes to another.
 */
export const shardMetadataKey = 'twopc-shard';

// ---------------------------------------------------------------------------------------------
// Session framing: CoordinatorBatch / ParticipantBatch messages, each tagged with its sender's seq

export type SessionRequest =
  | { readonly seq: string; readonly kind: 'prepare'; readonly message: PrepareMessage }
  | { readonly seq: string; readonly kind: 'decision'; readonly message: DecisionMessage };

/**
 * Decodes one CoordinatorMessage. A message whose seq cannot be read cannot be answered, so that is
 * reported apart (`seq` undefined) from a body that is malformed (answered with an error).
 */
export function sessionRequestFromPb(
  value: unknown,
  where: string,
): { ok: true; request: SessionRequest } | { ok: false; seq: string | undefined; error: unknown } {
  let seq: string | undefined;
  try {
    const pb = message(value, where);
    seq = u64(pb.seq, `${where}.seq`).toString();
    const body = pb.body ?? (pb.prepare ? 'prepare' : pb.decision ? 'decision' : undefined);
    if (body === 'prepare')
      return {
        ok: true,
        request: { seq, kind: 'prepare', message: prepareFromPb(pb.prepare, `${where}.prepare`) },
      };
    if (body === 'decision')
      return {
        ok: true,
        request: { seq, kind: 'decision', message: decisionFromPb(pb.decision, `${where}.decision`) },
      };
    throw invalidArgument(`${where}: no body (prepare or decision)`);
  } catch (error) {
    return { ok: false, seq, error };
  }
}

export function sessionRequestToPb(
  seq: string,
  body: { prepare: PrepareMessage; shard: string } | { decision: DecisionMessage },
): Pb {
  return 'prepare' in body
    ? { seq, prepare: prepareToPb(body.prepare, body.shard) }
    : { seq, decision: decisionToPb(body.decision) };
}

/**
 * `ParticipantMessage.error` is a string; twopc writes it as `CODE: details` (CODE an ErrorCode) so
 * the coordinator gets the same error over the stream as over a unary call.
 */
export function sessionErrorText(code: ErrorCode, details: string): string {
  return `${code}: ${details}`;
}

/** The error a `ParticipantMessage.error` stands for; text without a known code is UNAVAILABLE (retry). */
export function sessionErrorFromText(text: string, what: string): TwopcError {
  const m = /^([A-Z_]+): ([\s\S]*)$/.exec(text);
  const code =
    m && (ERROR_CODES as readonly string[]).includes(m[1] as string) ? (m[1] as ErrorCode) : undefined;
  return code
    ? new TwopcError(code, `${what}: ${m?.[2] ?? ''}`)
    : new TwopcError('UNAVAILABLE', `${what}: ${text}`);
}

export type SessionReply =
  | { readonly seq: string; readonly kind: 'vote'; readonly vote: Vote }
  | { readonly seq: string; readonly kind: 'ack'; readonly ack: Ack }
  | { readonly seq: string; readonly kind: 'error'; readonly error: TwopcError };

/** Decodes one ParticipantMessage; a malformed one throws INVALID_ARGUMENT. */
export function sessionReplyFromPb(value: unknown, where: string, what: string): SessionReply {
  const pb = message(value, where);
  const seq = u64(pb.seq, `${where}.seq`).toString();
  const body =
    pb.body ?? (pb.vote ? 'vote' : pb.ack ? 'ack' : typeof pb.error === 'string' ? 'error' : undefined);
  if (body === 'vote') return { seq, kind: 'vote', vote: voteFromPb(pb.vote, `${where}.vote`) };
  if (body === 'ack') return { seq, kind: 'ack', ack: ackFromPb(pb.ack, `${where}.ack`) };
  if (body === 'error')
    return { seq, kind: 'error', error: sessionErrorFromText(str(pb.error, `${where}.error`), what) };
  throw invalidArgument(`${where}: no body (vote, ack or error)`);
}
