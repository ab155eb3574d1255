/**
 * The SQLite decision log's tables and the mapping between rows and records. One row per
 * transaction in `twopc_decisions`; `twopc_heuristics` is an append-only audit trail; `twopc_meta`
 * holds the schema version, the last decisionSeq handed out (so seqs survive GC and never repeat)
 * and the epoch.
 */
import { assert } from '../../common/assert.ts';
import { ABORT_REASONS, type AbortReason } from '../../common/protocol.ts';
import {
  verifyDecisionRecord,
  type DecisionRecord,
  type HeuristicRecord,
  type LogState,
} from '../decision-log.ts';

export const SCHEMA_VERSION = 1n;

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS twopc_meta (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;
INSERT OR IGNORE INTO twopc_meta (name, value) VALUES ('schema_version', ${SCHEMA_VERSION}), ('decision_seq', 0), ('epoch', 0);

CREATE TABLE IF NOT EXISTS twopc_decisions (
  txn_id TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('INTENT', 'COMMITTED', 'ABORTED')),
  shards TEXT NOT NULL,
  read_only_shards TEXT NOT NULL DEFAULT '[]',
  idempotency_key TEXT,
  decision_seq INTEGER,
  abort_reason TEXT,
  reason TEXT NOT NULL DEFAULT '',
  invalid INTEGER NOT NULL DEFAULT 0,
  started_at_ms INTEGER NOT NULL,
  decided_at_ms INTEGER NOT NULL DEFAULT 0,
  ended_at_ms INTEGER NOT NULL DEFAULT 0,
  -- When the record may start to age out; NULL = never (a COMMIT without END).
  done_at_ms INTEGER GENERATED ALWAYS AS (
    CASE
      WHEN state = 'INTENT' THEN started_at_ms
      WHEN state = 'ABORTED' THEN decided_at_ms
      WHEN ended_at_ms > 0 THEN ended_at_ms
      ELSE NULL
    END) VIRTUAL
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS twopc_decisions_key ON twopc_decisions (idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS twopc_decisions_seq ON twopc_decisions (decision_seq)
  WHERE decision_seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS twopc_decisions_unfinished ON twopc_decisions (decision_seq)
  WHERE state = 'COMMITTED' AND ended_at_ms = 0 AND decision_seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS twopc_decisions_done ON twopc_decisions (done_at_ms)
  WHERE done_at_ms IS NOT NULL;

CREATE TABLE IF NOT EXISTS twopc_heuristics (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  txn_id TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('COMMITTED', 'ABORTED')),
  operator TEXT NOT NULL,
  note TEXT NOT NULL,
  at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS twopc_heuristics_txn ON twopc_heuristics (txn_id);
`;

/** A row of twopc_decisions as better-sqlite3 returns it with safe integers on. */
export interface DecisionRow {
  txn_id: string;
  state: string;
  shards: string;
  read_only_shards: string;
  idempotency_key: string | null;
  decision_seq: bigint | null;
  abort_reason: string | null;
  reason: string;
  invalid: bigint;
  started_at_ms: bigint;
  decided_at_ms: bigint;
  ended_at_ms: bigint;
}

export const DECISION_COLUMNS =
  'txn_id, state, shards, read_only_shards, idempotency_key, decision_seq, abort_reason, reason, invalid, ' +
  'started_at_ms, decided_at_ms, ended_at_ms';

function parseShards(text: string, where: string): string[] {
  const parsed: unknown = JSON.parse(text);
  assert(
    Array.isArray(parsed) && parsed.every((s) => typeof s === 'string'),
    `${where}: shards are not a list of names`,
  );
  return parsed as string[];
}

/** Row -> record, verified (a row that fails is corruption or a bug, and stops the process). */
export function recordFromRow(row: DecisionRow): DecisionRecord {
  const where = `decision log row ${row.txn_id}`;
  assert(
    row.abort_reason === null || (ABORT_REASONS as readonly string[]).includes(row.abort_reason),
    `${where}: bad abort reason`,
  );
  const record: DecisionRecord = {
    txnId: row.txn_id,
    state: row.state as LogState,
    shards: parseShards(row.shards, where),
    readOnlyShards: parseShards(row.read_only_shards, where),
    idempotencyKey: row.idempotency_key ?? '',
    decisionSeq: row.decision_seq ?? 0n,
    ...(row.abort_reason === null ? {} : { abortReason: row.abort_reason as AbortReason }),
    reason: row.reason,
    invalid: row.invalid !== 0n,
    startedAtMs: Number(row.started_at_ms),
    decidedAtMs: Number(row.decided_at_ms),
    endedAtMs: Number(row.ended_at_ms),
  };
  return verifyDecisionRecord(record);
}

/** Record -> bind parameters for an INSERT of every column, in DECISION_COLUMNS order. */
export function rowParams(r: DecisionRecord): unknown[] {
  verifyDecisionRecord(r);
  return [
    r.txnId,
    r.state,
    JSON.stringify(r.shards),
    JSON.stringify(r.readOnlyShards),
    r.idempotencyKey === '' ? null : r.idempotencyKey,
    r.decisionSeq === 0n ? null : r.decisionSeq,
    r.abortReason ?? null,
    r.reason,
    r.invalid ? 1n : 0n,
    BigInt(r.startedAtMs),
    BigInt(r.decidedAtMs),
    BigInt(r.endedAtMs),
  ];
}

export interface HeuristicRow {
  txn_id: string;
  outcome: string;
  operator: string;
  note: string;
  at_ms: bigint;
}

export function heuristicFromRow(row: HeuristicRow): HeuristicRecord {
  assert(
    row.outcome === 'COMMITTED' || row.outcome === 'ABORTED',
    `heuristic row ${row.txn_id}: bad outcome`,
  );
  return {
    txnId: row.txn_id,
    outcome: row.outcome,
    operator: row.operator,
    note: row.note,
    atMs: Number(row.at_ms),
  };
}
