/**
 * The participant protocol's wire messages (twopc.internal.v1) <-> the types of common/protocol.ts,
 * and the Session stream's framing. Field checks and their contract: common/pb-fields.ts.
 */
import { ERROR_CODES, TwopcError, invalidArgument, type ErrorCode } from './errors.ts';
import type {
  Ack,
  ColumnInfo,
  DecisionMessage,
  InDoubtTxn,
  LocalState,
  Peer,
  PrepareMessage,
  ReadCheck,
  TableInfo,
  TxnStateInfo,
  Vote,
} from './protocol.ts';
import { ABORT_REASONS, LOCAL_STATES } from './protocol.ts';
import type { Row, SqlValue } from './value.ts';
import { mapToPb, toPb } from './value.ts';
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
  keyRow,
  sqlFromPb,
  msToPb,
  type Pb,
} from './pb-fields.ts';
import { opToPb, shardOpFields } from './api-codec.ts';

const VOTES = ['YES', 'NO', 'READ_ONLY', 'COMMITTED_ONE_PHASE'] as const;

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
