/**
 * The shipper's own connection to the shard file. It owns the WAL's checkpoints (the store's
 * connection runs with wal_autocheckpoint=0) and holds a *guard*: a read transaction kept open at
 * all times except during the shipper's own checkpoint.
 *
 * Why the guard: SQLite never lets a checkpoint copy a frame into the database file past what an
 * open reader sees, nor restart the WAL while a reader uses it. So while the guard is held, no
 * other connection or process can checkpoint away frames the shipper has not read — an operator's
 * `PRAGMA wal_checkpoint(TRUNCATE)` just reports busy — and frames stay in the WAL until shipped.
 *
 * The guard is re-taken right after the shipper's TRUNCATE, when the WAL is empty, so it reads the
 * database file alone (read-mark 0), and then *no* checkpoint may write to the file at all: the
 * file stays exactly the state at the start of the current WAL incarnation, which is what a
 * snapshot of that incarnation must contain. Writers keep appending to the WAL meanwhile; the
 * participant is never blocked.
 */
import fs from 'node:fs/promises';
import Database from 'better-sqlite3';
import { assert } from '../../common/assert.ts';
import { describeError, TwopcError } from '../../common/errors.ts';

export type Guard =
  /** Taken right after our TRUNCATE: the file is frozen at the start of the current incarnation. */
  | 'incarnation-start'
  /** Taken mid-incarnation (after a resume, or after a declined checkpoint): blocks restarts only. */
  | 'pinned'
  | 'none';

export class Checkpointer {
  readonly dbPath: string;
  readonly pageBytes: number;
  private readonly db: Database.Database;
  private readonly begin: Database.Statement;
  private readonly probe: Database.Statement;
  private readonly commit: Database.Statement;
  private guardState: Guard = 'none';
  private reads = 0;

  private constructor(dbPath: string, db: Database.Database) {
    this.dbPath = dbPath;
    this.db = db;
    this.pageBytes = Number(db.pragma('page_size', { simple: true }));
    this.begin = db.prepare('BEGIN');
    this.probe = db.prepare('SELECT count(*) FROM sqlite_schema'); // a read takes the read lock
    this.commit = db.prepare('COMMIT');
  }

  static open(dbPath: string): Checkpointer {
    let db: Database.Database;
    try {
      db = new Database(dbPath, { fileMustExist: true });
    } catch (err) {
      throw new TwopcError(
        'FAILED_PRECONDITION',
        `WAL shipping: cannot open ${dbPath}: ${describeError(err)}`,
        {
          hint: 'the shard store must create the file before shipping starts',
          cause: err,
        },
      );
    }
    try {
      const mode = String(db.pragma('journal_mode', { simple: true })).toLowerCase();
      if (mode !== 'wal')
        throw new TwopcError(
          'FAILED_PRECONDITION',
          `WAL shipping: ${dbPath} is in journal_mode ${mode}, not wal`,
        );
      db.pragma('wal_autocheckpoint = 0');
      // Never wait on a lock from the event loop: a busy checkpoint is retried at the next tick.
      db.pragma('busy_timeout = 0');
      return new Checkpointer(dbPath, db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  get guard(): Guard {
    return this.guardState;
  }

  /** True while the database file is being copied for a snapshot: no checkpoint until it is done. */
  get reading(): boolean {
    return this.reads > 0;
  }

  /** Takes the guard mid-incarnation (at start-up, when resuming). */
  pin(): void {
    assert(this.guardState === 'none', 'the guard is taken once');
    this.hold('pinned');
  }

  /**
   * Checkpoints the whole WAL into the file and restarts it (TRUNCATE) — only if it holds exactly
   * `frames` frames, all read by the shipper (PASSIVE reports the count; frames a foreign writer
   * added make it decline). `frames` undefined: whatever it holds (a new generation starts from the
   * file). Returns true if the WAL was reset; the guard is held again either way.
   */
  restartWal(frames: number | undefined): boolean {
    assert(this.reads === 0, 'no checkpoint while the file is copied for a snapshot');
    this.unhold();
    let reset = false;
    try {
      if (frames !== undefined) {
        const passive = this.checkpoint('PASSIVE');
        if (passive.busy || passive.log !== frames) return false;
      }
      reset = !this.checkpoint('TRUNCATE').busy;
      return reset;
    } finally {
      this.hold(reset ? 'incarnation-start' : 'pinned');
    }
  }

  /** Copies the database file; only valid while it is frozen at the start of the incarnation. */
  async readDatabase(): Promise<Buffer> {
    assert(this.guardState === 'incarnation-start', 'the file is frozen while it is copied');
    this.reads++;
    try {
      return await fs.readFile(this.dbPath);
    } finally {
      this.reads--;
    }
  }

  close(): void {
    if (!this.db.open) return;
    this.unhold();
    this.db.close();
  }

  private checkpoint(mode: 'PASSIVE' | 'TRUNCATE'): { busy: boolean; log: number } {
    const rows = this.db.pragma(`wal_checkpoint(${mode})`) as { busy: number; log: number }[];
    const row = rows[0];
    assert(row !== undefined, 'wal_checkpoint returns one row');
    return { busy: row.busy !== 0, log: row.log };
  }

  private hold(state: Exclude<Guard, 'none'>): void {
    this.begin.run();
    this.probe.get();
    this.guardState = state;
  }

  private unhold(): void {
    if (this.db.inTransaction) this.commit.run();
    this.guardState = 'none';
  }
}
