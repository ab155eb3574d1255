/**
 * Local SQLite transactions and savepoints. "Local" on purpose: these are the shard's own SQLite
 * transactions, not the distributed transactions the coordinator decides.
 */
import Database from 'better-sqlite3';
import { TwopcError } from '../common/errors.ts';
import type { StatementCache } from './statements.ts';

/**
 * Runs `fn` in one `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so nothing
 * inside can fail half-way with SQLITE_BUSY. Rolls back if `fn` throws. A busy file lock (another
 * process) becomes UNAVAILABLE: worth retrying, nothing was done.
 */
export function runImmediate<T>(db: Database.Database, stmts: StatementCache, fn: () => T): T {
  try {
    stmts.get('BEGIN IMMEDIATE').run();
  } catch (err) {
    throw mapBusy(err);
  }
  try {
    const result = fn();
    stmts.get('COMMIT').run();
    return result;
  } catch (err) {
    if (db.inTransaction) stmts.get('ROLLBACK').run();
    throw mapBusy(err);
  }
}

export type SqliteError = InstanceType<typeof Database.SqliteError>;

export type SavepointName = 'twopc_message' | 'twopc_trial';

/**
 * Runs `fn` inside a savepoint; keeps its writes if `keep(result)` says so, otherwise rolls them
 * back. A throw always rolls back and is rethrown. The enclosing transaction is never touched.
 */
export function withSavepoint<T>(
  stmts: StatementCache,
  name: SavepointName,
  fn: () => T,
  keep: (result: T) => boolean,
): T {
  stmts.get(`SAVEPOINT ${name}`).run();
  let result: T;
  try {
    result = fn();
  } catch (err) {
    rollbackTo(stmts, name);
    throw err;
  }
  if (keep(result)) stmts.get(`RELEASE ${name}`).run();
  else rollbackTo(stmts, name);
  return result;
}

function rollbackTo(stmts: StatementCache, name: SavepointName): void {
  stmts.get(`ROLLBACK TO ${name}`).run();
  stmts.get(`RELEASE ${name}`).run();
}

/** SQLite result codes that describe the data (a constraint, a type, a size), not the machine. */
const DATA_ERROR_CODES: ReadonlySet<string> = new Set([
  'SQLITE_MISMATCH',
  'SQLITE_TOOBIG',
  'SQLITE_ERROR',
  'SQLITE_RANGE',
]);

/**
 * True for errors a write raises because of what it writes (CHECK, NOT NULL, UNIQUE, STRICT types,
 * an error in a CHECK expression). Anything else (I/O, disk full, corruption, busy) is about the
 * machine and must not be turned into a vote.
 */
export function isDataError(err: unknown): err is SqliteError {
  if (!(err instanceof Database.SqliteError)) return false;
  return err.code.startsWith('SQLITE_CONSTRAINT') || DATA_ERROR_CODES.has(err.code);
}

function mapBusy(err: unknown): unknown {
  if (
    err instanceof Database.SqliteError &&
    (err.code.startsWith('SQLITE_BUSY') || err.code.startsWith('SQLITE_LOCKED'))
  ) {
    return new TwopcError('UNAVAILABLE', `shard database is locked by another connection: ${err.message}`, {
      hint: 'another process (a backup, the recovery CLI, a second participant on the same file?) holds the SQLite write lock',
      cause: err,
    });
  }
  return err;
}
