/**
 * `_twopc_txns`: this shard's view of each transaction. Every state transition goes through here
 * and asserts where it comes from: PREPARED -> COMMITTED | ABORTED, or straight to COMMITTED (one
 * phase) or ABORTED (a NO vote, a tombstone). Nothing ever leaves COMMITTED or ABORTED.
 */
import { assert } from '../common/assert.ts';
import type { AbortReason, Peer } from '../common/protocol.ts';
import { ABORT_REASONS } from '../common/protocol.ts';
import type { Refusal } from './refusal.ts';
import type { ShardContext } from './shard-context.ts';

export const TXN_STATES = ['PREPARED', 'COMMITTED', 'ABORTED'] as const;
export type TxnState = (typeof TXN_STATES)[number];

export interface TxnRecord {
  readonly txnId: string;
  readonly state: TxnState;
  readonly onePhase: boolean;
  /** ABORTED without ever being prepared here: refuses a late Prepare. */
  readonly tombstone: boolean;
  readonly coordinatorId: string;
  readonly epoch: bigint;
  readonly peers: readonly Peer[];
  readonly pendingCount: number;
  readonly lockCount: number;
  readonly preparedAtMs: number;
  readonly decidedAtMs: number;
  readonly decisionSeq: bigint;
  /** The NO this shard voted, repeated to a repeated Prepare. */
  readonly vote:
    { readonly reasonCode: AbortReason; readonly reason: string; readonly invalid: boolean } | undefined;
}

/** What a PREPARED record is created from. */
export interface PreparedFields {
  readonly txnId: string;
  readonly coordinatorId: string;
  readonly epoch: bigint;
  readonly peers: readonly Peer[];
  readonly pendingCount: number;
  readonly lockCount: number;
}

const COLUMNS = `txn_id, state, one_phase, tombstone, coordinator_id, epoch, peers, pending_count, lock_count,
  prepared_at_ms, decided_at_ms, decision_seq, vote_reason_code, vote_reason, vote_invalid`;
const SELECT = `SELECT ${COLUMNS} FROM _twopc_txns WHERE txn_id = ?`;
const SELECT_PREPARED = `SELECT ${COLUMNS} FROM _twopc_txns WHERE state = 'PREPARED' ORDER BY prepared_at_ms, txn_id`;
const SUMMARIZE_PREPARED = `SELECT COUNT(*) AS count, MIN(prepared_at_ms) AS oldest FROM _twopc_txns WHERE state = 'PREPARED'`;
const INSERT = `INSERT INTO _twopc_txns (${COLUMNS}) VALUES (${COLUMNS.split(',')
  .map(() => '?')
  .join(', ')})`;
const DECIDE = `UPDATE _twopc_txns SET state = ?, decided_at_ms = ?, decision_seq = ? WHERE txn_id = ? AND state = 'PREPARED'`;

export function getTxn(ctx: ShardContext, txnId: string): TxnRecord | undefined {
  const raw = ctx.stmts.get(SELECT).get(txnId) as RawTxn | undefined;
  return raw === undefined ? undefined : decodeTxn(raw);
}

/** Transactions voted YES on and not yet decided, oldest first. */
export function listPrepared(ctx: ShardContext): TxnRecord[] {
  return (ctx.stmts.get(SELECT_PREPARED).all() as RawTxn[]).map(decodeTxn);
}

/** How many transactions are PREPARED and since when the oldest (undefined if none); one index scan. */
export function summarizePrepared(ctx: ShardContext): { count: number; oldestAtMs: number | undefined } {
  const row = ctx.stmts.get(SUMMARIZE_PREPARED).get() as { count: bigint; oldest: bigint | null };
  return { count: Number(row.count), oldestAtMs: row.oldest === null ? undefined : Number(row.oldest) };
}

export function insertPrepared(ctx: ShardContext, f: PreparedFields): void {
  insert(ctx, {
    ...f,
    state: 'PREPARED',
    onePhase: false,
    tombstone: false,
    preparedAtMs: ctx.clock.nowMs(),
    decidedAtMs: 0,
  });
}

/** A one-phase transaction: prepared and committed in the same local transaction. */
export function insertOnePhaseCommitted(ctx: ShardContext, f: PreparedFields): void {
  const now = ctx.clock.nowMs();
  insert(ctx, {
    ...f,
    state: 'COMMITTED',
    onePhase: true,
    tombstone: false,
    preparedAtMs: now,
    decidedAtMs: now,
    pendingCount: 0,
    lockCount: 0,
  });
}

/** A NO vote: the transaction is aborted here for good (a participant may abort unilaterally). */
export function insertRefused(ctx: ShardContext, f: PreparedFields, refusal: Refusal): void {
  const vote = { reasonCode: refusal.reasonCode, reason: refusal.message, invalid: refusal.invalid };
  insert(ctx, {
    ...f,
    state: 'ABORTED',
    onePhase: false,
    tombstone: false,
    preparedAtMs: 0,
    decidedAtMs: ctx.clock.nowMs(),
    pendingCount: 0,
    lockCount: 0,
    vote,
  });
}

/** An abort (or a peer's question) for a transaction never seen here. */
export function insertTombstone(ctx: ShardContext, txnId: string): void {
  const f = { txnId, coordinatorId: '', epoch: 0n, peers: [], pendingCount: 0, lockCount: 0 };
  insert(ctx, {
    ...f,
    state: 'ABORTED',
    onePhase: false,
    tombstone: true,
    preparedAtMs: 0,
    decidedAtMs: ctx.clock.nowMs(),
  });
}

/** PREPARED -> COMMITTED or ABORTED; asserts the record was PREPARED. */
export function markDecided(
  ctx: ShardContext,
  txnId: string,
  state: 'COMMITTED' | 'ABORTED',
  decisionSeq: bigint,
): void {
  const changed = ctx.stmts.get(DECIDE).run(state, BigInt(ctx.clock.nowMs()), decisionSeq, txnId).changes;
  assert(changed === 1, `transaction ${txnId} was PREPARED when decided ${state}`);
}

type NewRecord = Omit<TxnRecord, 'decisionSeq' | 'vote'> & { vote?: TxnRecord['vote'] };

function insert(ctx: ShardContext, r: NewRecord): void {
  assert(r.txnId !== '', 'transaction record has an id');
  assert(!r.tombstone || r.state === 'ABORTED', 'a tombstone is ABORTED');
  ctx.stmts
    .get(INSERT)
    .run(
      r.txnId,
      r.state,
      r.onePhase ? 1n : 0n,
      r.tombstone ? 1n : 0n,
      r.coordinatorId,
      r.epoch,
      JSON.stringify(r.peers),
      BigInt(r.pendingCount),
      BigInt(r.lockCount),
      BigInt(r.preparedAtMs),
      BigInt(r.decidedAtMs),
      0n,
      r.vote?.reasonCode ?? null,
      r.vote?.reason ?? null,
      r.vote?.invalid ? 1n : 0n,
    );
}

interface RawTxn {
  txn_id: string;
  state: string;
  one_phase: bigint;
  tombstone: bigint;
  coordinator_id: string;
  epoch: bigint;
  peers: string;
  pending_count: bigint;
  lock_count: bigint;
  prepared_at_ms: bigint;
  decided_at_ms: bigint;
  decision_seq: bigint;
  vote_reason_code: string | null;
  vote_reason: string | null;
  vote_invalid: bigint;
}

/** Checks a record read back from disk before anything acts on it. */
function decodeTxn(raw: RawTxn): TxnRecord {
  assert(
    (TXN_STATES as readonly string[]).includes(raw.state),
    `transaction ${raw.txn_id} has a known state, got ${raw.state}`,
  );
  const state = raw.state as TxnState;
  assert(
    state !== 'PREPARED' || raw.decided_at_ms === 0n,
    `PREPARED transaction ${raw.txn_id} has no decision time`,
  );
  const code = raw.vote_reason_code;
  assert(
    code === null || (ABORT_REASONS as readonly string[]).includes(code),
    `transaction ${raw.txn_id} has a known vote reason`,
  );
  return {
    txnId: raw.txn_id,
    state,
    onePhase: raw.one_phase === 1n,
    tombstone: raw.tombstone === 1n,
    coordinatorId: raw.coordinator_id,
    epoch: raw.epoch,
    peers: decodePeers(raw.txn_id, raw.peers),
    pendingCount: Number(raw.pending_count),
    lockCount: Number(raw.lock_count),
    preparedAtMs: Number(raw.prepared_at_ms),
    decidedAtMs: Number(raw.decided_at_ms),
    decisionSeq: raw.decision_seq,
    vote:
      code === null
        ? undefined
        : {
            reasonCode: code as AbortReason,
            reason: raw.vote_reason ?? '',
            invalid: raw.vote_invalid === 1n,
          },
  };
}

function decodePeers(txnId: string, text: string): Peer[] {
  const parsed: unknown = JSON.parse(text);
  assert(Array.isArray(parsed), `peers of ${txnId} are a list`);
  return parsed.map((p: unknown) => {
    const peer = p as Partial<Peer>;
    assert(
      typeof peer.shard === 'string' && typeof peer.address === 'string',
      `peer of ${txnId} has a shard and an address`,
    );
    return { shard: peer.shard, address: peer.address };
  });
}
