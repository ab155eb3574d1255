/**
 * Is an SQLite file (a shard, the decision log) in use by a running process?
 *
 * A connection to a WAL-mode database holds a SHARED lock on the file for as long as it is open, so
 * an EXCLUSIVE lock (locking_mode=EXCLUSIVE, then BEGIN EXCLUSIVE, with no busy wait) can only be
 * taken when no other connection, in any process, has the file open. The probe takes it and drops
 * it at once. Before the probe's connection closes, a read-only connection is opened and handed to
 * the caller: the probe's close is then not the file's last, so it does not checkpoint the WAL into
 * the database. Looking must not change the file; only its `-shm` index may be rebuilt.
 *
 * The answer is a moment's truth: a process starting right after the probe is not seen. That is
 * acceptable for what this is for, catching an operator who forgot a process is running; SQLite's
 * own locking keeps the file consistent whatever happens.
 */
import Database from 'better-sqlite3';
import { TwopcError, describeError } from '../../common/errors.ts';

export type FileClaim =
  | { readonly inUse: true }
  /** Free: `reader` is a read-only connection the caller owns (and must close). */
  | { readonly inUse: false; readonly reader: Database.Database };

export function claimFile(file: string): FileClaim {
  let probe: Database.Database;
  try {
    probe = new Database(file, { fileMustExist: true, timeout: 0 });
  } catch (err) {
    throw new TwopcError('FAILED_PRECONDITION', `cannot open ${file}: ${describeError(err)}`, { cause: err });
  }
  try {
    // A first read in NORMAL mode, so the connection uses the shared-memory index like everyone
    // else; an EXCLUSIVE mode set before it would keep the file locked until close.
    probe.prepare('SELECT count(*) FROM sqlite_schema').get();
    probe.pragma('locking_mode = EXCLUSIVE');
    try {
      probe.exec('BEGIN EXCLUSIVE');
      probe.exec('COMMIT');
    } catch (err) {
      if (isBusy(err)) return { inUse: true };
      throw err;
    }
    probe.pragma('locking_mode = NORMAL');
    probe.prepare('SELECT count(*) FROM sqlite_schema').get(); // drops the exclusive lock
    const reader = new Database(file, { readonly: true, fileMustExist: true });
    // A connection takes its lock at its first read, not when it opens: read now, before the
    // probe closes, or the probe's close is still the last one and checkpoints.
    reader.prepare('SELECT count(*) FROM sqlite_schema').get();
    return { inUse: false, reader };
  } catch (err) {
    if (err instanceof TwopcError) throw err;
    throw new TwopcError('FAILED_PRECONDITION', `cannot lock ${file}: ${describeError(err)}`, { cause: err });
  } finally {
    probe.close();
  }
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}
