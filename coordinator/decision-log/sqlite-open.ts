/**
 * Opening the SQLite decision log file, in one of three modes:
 *
 * - `coordinator`: the owner. Creates the file (and its directory) if missing, applies the schema, and
 *   bumps the fencing epoch, durably: every coordinator start is a new epoch.
 * - `tool`: a second writer such as the recovery CLI recording a heuristic decision. The file must
 *   exist (unless `create`), the schema is applied (a no-op on an existing log), and the epoch is
 *   read, never bumped: a tool is not a new coordinator and must not fence the real one.
 * - `read-only`: an inspector (`recover status`, `show`, `log`, `--dry-run`). A read-only SQLite
 *   connection: nothing in the file changes, not even a checkpoint when it closes. The file must exist.
 *
 * A missing file is NOT_FOUND; a file that is not a decision log of this schema version is
 * FAILED_PRECONDITION. Both carry the path and a hint.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { TwopcError, describeError } from '../../common/errors.ts';
import { SCHEMA_SQL, SCHEMA_VERSION } from './sqlite-schema.ts';

export const LOG_OPEN_MODES = ['coordinator', 'tool', 'read-only'] as const;
export type LogOpenMode = (typeof LOG_OPEN_MODES)[number];

export interface OpenedLogFile {
  readonly db: Database.Database;
  readonly epoch: bigint;
  readonly writable: boolean;
}

export function openLogFile(
  file: string,
  mode: LogOpenMode,
  options: { busyTimeoutMs: number; create?: boolean },
): OpenedLogFile {
  const mayCreate = mode === 'coordinator' || (mode === 'tool' && options.create === true);
  if (!mayCreate && !existsSync(file)) {
    throw new TwopcError('NOT_FOUND', `decision log ${file} does not exist`, {
      hint: "the coordinator's log is <data-dir>/decisions.db; check the path",
    });
  }
  if (mayCreate) mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const readonly = mode === 'read-only';
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: options.busyTimeoutMs, readonly, fileMustExist: !mayCreate });
  } catch (err) {
    throw notALog(file, err);
  }
  try {
    db.defaultSafeIntegers(true);
    if (!readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec(SCHEMA_SQL);
    }
    checkVersion(db, file);
    const epoch =
      mode === 'coordinator'
        ? (db
            .prepare("UPDATE twopc_meta SET value = value + 1 WHERE name = 'epoch' RETURNING value")
            .pluck()
            .get() as bigint)
        : (db.prepare("SELECT value FROM twopc_meta WHERE name = 'epoch'").pluck().get() as bigint);
    return { db, epoch, writable: !readonly };
  } catch (err) {
    db.close();
    if (err instanceof TwopcError) throw err;
    throw notALog(file, err);
  }
}

function checkVersion(db: Database.Database, file: string): void {
  const version = db.prepare("SELECT value FROM twopc_meta WHERE name = 'schema_version'").pluck().get() as
    bigint | undefined;
  if (version !== SCHEMA_VERSION) {
    throw new TwopcError(
      'FAILED_PRECONDITION',
      `decision log ${file} has schema version ${String(version)}, not ${SCHEMA_VERSION}`,
      { hint: 'open it with the twopc version that wrote it' },
    );
  }
}

function notALog(file: string, err: unknown): TwopcError {
  return new TwopcError(
    'FAILED_PRECONDITION',
    `${file} cannot be read as a decision log: ${describeError(err)}`,
    { hint: "is it the coordinator's decisions.db, and is its directory readable?", cause: err },
  );
}
