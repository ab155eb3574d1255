/**
 * The `_twopc_` tables: everything the participant must remember across a crash lives here, in the
 * same SQLite file as the user's tables, so one local transaction covers both and a restored file
 * is a consistent whole. Nothing about a transaction is kept only in memory.
 */
import type { Database } from 'better-sqlite3';
import { TwopcError } from '../common/errors.ts';
import { storageFormatVersion } from './config.ts';

export const INTERNAL_TABLE_PREFIX = '_twopc_';

const DDL = `
-- Layout version of these tables, so a file from another layout is refused, not misread.
CREATE TABLE IF NOT EXISTS _twopc_meta (
  name  TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- This shard's view of each transaction. An ABORTED row with tombstone = 1 is for a transaction
-- that was never prepared here (an abort or a peer's question arrived first): it refuses a late
-- Prepare. A NO vote is kept as ABORTED with its reason so a repeated Prepare gets the same answer.
CREATE TABLE IF NOT EXISTS _twopc_txns (
  txn_id           TEXT PRIMARY KEY NOT NULL,
  state            TEXT NOT NULL CHECK (state IN ('PREPARED', 'COMMITTED', 'ABORTED')),
  one_phase        INTEGER NOT NULL DEFAULT 0 CHECK (one_phase IN (0, 1)),
  tombstone        INTEGER NOT NULL DEFAULT 0 CHECK (tombstone IN (0, 1)),
  coordinator_id   TEXT NOT NULL DEFAULT '',
  epoch            INTEGER NOT NULL DEFAULT 0,
  peers            TEXT NOT NULL DEFAULT '[]',
  pending_count    INTEGER NOT NULL DEFAULT 0 CHECK (pending_count >= 0),
  lock_count       INTEGER NOT NULL DEFAULT 0 CHECK (lock_count >= 0),
  prepared_at_ms   INTEGER NOT NULL DEFAULT 0,
  decided_at_ms    INTEGER NOT NULL DEFAULT 0,
  decision_seq     INTEGER NOT NULL DEFAULT 0,
  vote_reason_code TEXT,
  vote_reason      TEXT,
  vote_invalid     INTEGER NOT NULL DEFAULT 0 CHECK (vote_invalid IN (0, 1)),
  CHECK (tombstone = 0 OR state = 'ABORTED')
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS _twopc_txns_in_doubt ON _twopc_txns (prepared_at_ms) WHERE state = 'PREPARED';

-- Staged writes of PREPARED transactions, applied in seq order at commit. after_image is an
-- encodeRow() of every writable column, or NULL for a delete.
CREATE TABLE IF NOT EXISTS _twopc_pending (
  txn_id      TEXT NOT NULL,
  seq         INTEGER NOT NULL CHECK (seq >= 0),
  tbl         TEXT NOT NULL,
  row_key     TEXT NOT NULL,
  key_row     TEXT NOT NULL,
  after_image TEXT,
  PRIMARY KEY (txn_id, seq)
) WITHOUT ROWID;

-- Intent locks of PREPARED transactions: 'W' on written row keys and on UNIQUE index values of
-- after-images, 'R' on row keys read. Looked up by key (conflicts) and by txn (release).
CREATE TABLE IF NOT EXISTS _twopc_locks (
  lock_key TEXT NOT NULL,
  txn_id   TEXT NOT NULL,
  mode     TEXT NOT NULL CHECK (mode IN ('R', 'W')),
  PRIMARY KEY (lock_key, txn_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS _twopc_locks_by_txn ON _twopc_locks (txn_id, lock_key);

-- Committed writes per row. Kept after a delete, so a re-inserted row never repeats a version.
-- A row with no record here has version 1 if it exists (seeded by the schema file), 0 if not.
CREATE TABLE IF NOT EXISTS _twopc_versions (
  tbl     TEXT NOT NULL,
  row_key TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version > 0),
  PRIMARY KEY (tbl, row_key)
) WITHOUT ROWID;
`;

/**
 * Scratch space for NUMERIC affinity: SQLite itself converts a key value the way it will store it,
 * so lock and version keys match what is on disk. TEMP: per connection, never in the file.
 */
const TEMP_DDL = `CREATE TEMP TABLE IF NOT EXISTS _twopc_numeric (id INTEGER PRIMARY KEY, v NUMERIC)`;

/** Creates the internal tables if missing and checks the layout version. Call inside a transaction. */
export function createInternalTables(db: Database): void {
  db.exec(DDL);
  db.prepare(`INSERT OR IGNORE INTO _twopc_meta (name, value) VALUES ('storage_format', ?)`).run(
    String(storageFormatVersion),
  );
  const row = db.prepare(`SELECT value FROM _twopc_meta WHERE name = 'storage_format'`).get() as {
    value: string;
  };
  if (row.value !== String(storageFormatVersion)) {
    throw new TwopcError(
      'FAILED_PRECONDITION',
      `shard file has storage format ${row.value}; this build reads ${storageFormatVersion}`,
      {
        hint: 'open it with the twopc version that wrote it',
      },
    );
  }
}

export function createTempTables(db: Database): void {
  db.exec(TEMP_DDL);
}

export function isInternalName(name: string): boolean {
  return name.toLowerCase().startsWith(INTERNAL_TABLE_PREFIX);
}
