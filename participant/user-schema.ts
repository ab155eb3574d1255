/**
 * The user's schema file, applied at every open. It must be idempotent (CREATE TABLE IF NOT EXISTS,
 * INSERT OR IGNORE). It is first run against an empty in-memory database, where every table it
 * creates is visible and checked, then against the shard file inside the open transaction, so a
 * schema that fails half-way changes nothing. Reserved names are refused by text: any mention of
 * `_twopc_` (SQL names are ASCII-case-insensitive, so lower-casing catches every spelling), which
 * also keeps views and triggers away from the internal tables.
 */
import Database from 'better-sqlite3';
import { invalidArgument, TwopcError } from '../common/errors.ts';
import { INTERNAL_TABLE_PREFIX } from './internal-tables.ts';
import type { SqliteError } from './local-txn.ts';
import { loadTables } from './schema.ts';

/** Checks the schema on a scratch database: syntax, reserved names, a PRIMARY KEY on every table. */
export function checkUserSchema(schemaSql: string): void {
  if (schemaSql.toLowerCase().includes(INTERNAL_TABLE_PREFIX)) {
    throw invalidArgument(
      `schema mentions ${INTERNAL_TABLE_PREFIX}: names starting with ${INTERNAL_TABLE_PREFIX} are reserved`,
    );
  }
  const scratch = new Database(':memory:');
  try {
    execSchema(scratch, schemaSql);
    loadTables(scratch);
  } finally {
    scratch.close();
  }
}

/** Runs the schema; an SQL error is the schema's fault, so INVALID_ARGUMENT with SQLite's message. */
export function execSchema(db: Database.Database, schemaSql: string): void {
  try {
    db.exec(schemaSql);
  } catch (err) {
    if (err instanceof Database.SqliteError && !isMachineError(err)) {
      throw new TwopcError('INVALID_ARGUMENT', `schema: ${err.message}`, {
        hint: 'the schema is applied at every start inside one transaction: make it idempotent (IF NOT EXISTS, INSERT OR IGNORE) and leave out BEGIN/COMMIT',
        cause: err,
      });
    }
    throw err;
  }
}

function isMachineError(err: SqliteError): boolean {
  return /^SQLITE_(IOERR|FULL|CORRUPT|NOMEM|BUSY|LOCKED|CANTOPEN|READONLY|NOTADB)/.test(err.code);
}
