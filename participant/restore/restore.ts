/**
 * Restores a shard file from its replica: the snapshot, then each WAL incarnation in order —
 * downloaded a few objects ahead, every object checked (replica-object.ts) and every incarnation
 * checked frame by frame (incarnation-check.ts) before SQLite applies it — then
 * `PRAGMA integrity_check`. Everything is written to a temporary file beside the output and renamed
 * into place only when all of it passed: a failed restore leaves nothing behind.
 *
 * The restored file is a whole shard: `_twopc_pending` and `_twopc_txns` come with it, so prepared
 * transactions still waiting for a decision are still prepared, and the participant started on it
 * resolves them as after any restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { assert } from '../../common/assert.ts';
import { describeError, TwopcError } from '../../common/errors.ts';
import type { ShardReplica } from '../replica/shard-replica.ts';
import { cutShortUpload, withoutKeys } from './cut-short.ts';
import { committedPast, cutWal, maxCommittedSeq } from './decision-cut.ts';
import { IncarnationCheck } from './incarnation-check.ts';
import { PageWriter } from './page-writer.ts';
import { gone, Prefetcher } from './prefetcher.ts';
import { silentProgress, type ProgressSink } from './progress.ts';
import { planRestore, type RestorePlan, type RestoreTarget } from './restore-plan.ts';

export { RESTORE_PREFETCH_OBJECTS } from './prefetcher.ts';

export interface RestoreOptions extends RestoreTarget {
  readonly replica: ShardReplica;
  readonly output: string;
  /** Replace an existing output file (default: refuse). */
  readonly overwrite?: boolean;
  /**
   * Restore to this decision-log cut (decision-cut.ts) instead of a time: the longest prefix with no
   * transaction COMMITTED with a greater decision_seq. Not with `atMs`.
   */
  readonly decisionSeq?: bigint;
  /** Called with the plan before anything is downloaded; returns the progress sink to feed. */
  readonly onPlan?: (plan: RestorePlan) => ProgressSink;
  readonly signal?: AbortSignal;
}

export interface RestoreResult {
  readonly plan: RestorePlan;
  readonly output: string;
  /** Bytes of the restored database file. */
  readonly dbBytes: number;
  readonly walBytesApplied: number;
  readonly elapsedMs: number;
  /** Prepared transactions without a decision in the restored file. */
  readonly inDoubt: number;
  /** Objects left out as uploads a crash cut short (cut-short.ts); usually none. */
  readonly leftOut: readonly string[];
  /** Set for a restore to a decision-log cut. */
  readonly cut?: CutResult;
}

export interface CutResult {
  readonly decisionSeq: bigint;
  /**
   * True if the replica holds a commit past the cut, so the restored prefix provably holds every
   * transaction decided at or before it. False if the replica ended first: the file is everything
   * shipped, and only a check against the decision log's times can say the cut is covered.
   */
  readonly reached: boolean;
  /** The highest decision_seq COMMITTED in the restored file. */
  readonly maxSeq: bigint;
}

/** A snapshot already holds a commit past the decision-log cut: plan again from an earlier one. */
class SnapshotPastCut extends Error {
  constructor(readonly takenAtMs: number) {
    super('snapshot past the cut');
  }
}

/** The files SQLite keeps beside a database in WAL mode (a rollback journal is never used by twopc). */
const SIDE_FILES = ['-wal', '-shm', '-journal'] as const;

/**
 * Refuses to write over an existing file unless `overwrite`. A non-empty -wal left beside the
 * output counts too, even without its database: it belongs to another database, and SQLite would
 * replay its frames onto the restored file at the first open. (`overwrite` removes it before the
 * restored file takes its place.)
 */
function refuseExisting(output: string, overwrite: boolean): void {
  if (overwrite) return;
  const hint = 'choose another --output, or pass --force to replace it (stop its participant first)';
  if (fs.existsSync(output)) throw new TwopcError('ALREADY_EXISTS', `${output} exists`, { hint });
  const wal = `${output}-wal`;
  if (fs.existsSync(wal) && fs.statSync(wal).size > 0)
    throw new TwopcError(
      'ALREADY_EXISTS',
      `${wal} exists: the WAL of another database, which SQLite would replay onto the restored file`,
      { hint },
    );
}

/**
 * Objects left out as uploads cut short: a generation's last segment and newest snapshot, and a
 * superseded prefix per participant crash during a store outage (cut-short.ts). Bounds the re-plans.
 */
const cutShortMax = 32;

export async function restoreShard(options: RestoreOptions): Promise<RestoreResult> {
  const startMs = Date.now();
  const output = path.resolve(options.output);
  refuseExisting(output, options.overwrite ?? false);
  const listing = await options.replica.listGenerations(options.signal);
  const leftOut: string[] = [];
  let target: RestoreOptions = options;
  for (;;) {
    const plan = planRestore(options.replica.shard, withoutKeys(listing, leftOut), target);
    try {
      const restored = await restorePlan(options, plan, output);
      return { ...restored, plan, output, elapsedMs: Date.now() - startMs, leftOut };
    } catch (err) {
      // Each retry plans strictly before the snapshot that failed: ends when none is left (NOT_FOUND).
      if (err instanceof SnapshotPastCut) {
        target = { ...options, snapshotBeforeMs: err.takenAtMs };
        continue;
      }
      const key = cutShortUpload(err, listing);
      if (key === undefined || leftOut.includes(key) || leftOut.length >= cutShortMax) throw err;
      leftOut.push(key); // and plan again without it: the tail before it, or the snapshot before it
    }
  }
}

async function restorePlan(
  options: RestoreOptions,
  plan: RestorePlan,
  output: string,
): Promise<{ dbBytes: number; walBytesApplied: number; inDoubt: number; cut?: CutResult }> {
  const progress = options.onPlan?.(plan) ?? silentProgress;
  const temp = `${output}.restoring-${process.pid}`;
  removeDb(temp);
  try {
    fs.mkdirSync(path.dirname(output), { recursive: true });
    const snapshot = await options.replica.getSnapshot(plan.snapshot, options.signal);
    if (snapshot === undefined) throw gone(plan.snapshot.key);
    fs.writeFileSync(temp, snapshot.raw);
    progress.add(plan.snapshot.size);
    const seq = options.decisionSeq;
    if (seq !== undefined && committedPast(temp, seq)) throw new SnapshotPastCut(plan.snapshot.takenAtMs);
    let walBytesApplied = 0;
    let reached = false;
    const fetcher = new Prefetcher(options.replica, plan, options.signal);
    for (const inc of plan.incarnations) {
      const check = new IncarnationCheck(plan.shard, inc.index);
      const feed = async (apply: (raw: Buffer, offset: number, pageBytes: number) => void) => {
        for (const ref of inc.segments) {
          const segment = await fetcher.next(ref);
          check.push(ref.key, segment);
          apply(segment.raw, ref.offset, segment.pageBytes);
          progress.add(ref.size);
        }
      };
      if (seq === undefined) {
        await applyPages(temp, feed);
        walBytesApplied += check.bytes;
        continue;
      }
      // A cut needs the WAL beside the file, for SQLite to answer "past the cut yet?" at any prefix.
      const wal = fs.openSync(`${temp}-wal`, 'w');
      try {
        await feed((raw) => fs.writeSync(wal, raw));
      } finally {
        fs.closeSync(wal);
      }
      const prefix = cutWal(temp, seq);
      if (prefix !== undefined) {
        // The cut is inside this incarnation: apply its prefix and nothing after it.
        if (prefix.frames > 0) applyWal(temp, prefix.frames);
        else for (const suffix of SIDE_FILES) fs.rmSync(`${temp}${suffix}`, { force: true });
        walBytesApplied += prefix.bytes;
        reached = true;
        break;
      }
      applyWal(temp, check.frames);
      walBytesApplied += check.bytes;
    }
    syncFile(temp);
    const inDoubt = checkIntegrity(temp);
    const cut = seq === undefined ? undefined : { decisionSeq: seq, reached, maxSeq: maxCommittedSeq(temp) };
    // The old file's WAL and shm go first: never a moment with the new file beside the old WAL.
    for (const suffix of SIDE_FILES) fs.rmSync(`${output}${suffix}`, { force: true });
    fs.renameSync(temp, output);
    progress.finish();
    return {
      dbBytes: fs.statSync(output).size,
      walBytesApplied,
      inDoubt,
      ...(cut === undefined ? {} : { cut }),
    };
  } finally {
    removeDb(temp);
  }
}

type Feed = (apply: (raw: Buffer, offset: number, pageBytes: number) => void) => Promise<void>;

/** Writes one incarnation's pages straight into the file (page-writer.ts). */
async function applyPages(file: string, feed: Feed): Promise<void> {
  let writer: PageWriter | undefined;
  try {
    await feed((raw, offset, pageBytes) => {
      writer ??= new PageWriter(file, pageBytes);
      writer.add(raw, offset);
    });
    const done = writer as PageWriter | undefined;
    writer = undefined;
    done?.finish();
  } finally {
    (writer as PageWriter | undefined)?.abandon();
  }
}

function syncFile(file: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Lets SQLite recover the WAL written beside the file, checks it took every frame, and checkpoints
 * it into the file. `wal_checkpoint(PASSIVE)` reports the frames SQLite accepted.
 */
function applyWal(dbPath: string, frames: number): void {
  fs.rmSync(`${dbPath}-shm`, { force: true });
  const db = new Database(dbPath, { fileMustExist: true });
  try {
    const passive = db.pragma('wal_checkpoint(PASSIVE)') as {
      busy: number;
      log: number;
      checkpointed: number;
    }[];
    const accepted = passive[0]?.log ?? -1;
    if (accepted !== frames)
      throw new TwopcError(
        'INTERNAL',
        `SQLite accepted ${accepted} of ${frames} checked WAL frames while restoring ${dbPath}`,
        {
          hint: 'this is a bug: please report it with the replica',
        },
      );
    const truncate = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    assert(truncate[0]?.busy === 0, 'nobody else uses a file being restored');
  } finally {
    db.close();
  }
}

/** `PRAGMA integrity_check` must say ok; returns the number of in-doubt (PREPARED) transactions. */
function checkIntegrity(dbPath: string): number {
  const db = new Database(dbPath, { fileMustExist: true });
  try {
    const rows = db.pragma('integrity_check') as { integrity_check: string }[];
    if (rows.length !== 1 || rows[0]?.integrity_check !== 'ok')
      throw new TwopcError(
        'FAILED_PRECONDITION',
        `the restored file fails PRAGMA integrity_check: ${rows
          .slice(0, 5)
          .map((r) => r.integrity_check)
          .join('; ')}`,
        {
          hint: "nothing was written; run 'npx twopc shard replica verify' and try an earlier --at",
        },
      );
    const hasTxns = db.prepare(`SELECT 1 FROM sqlite_schema WHERE name = '_twopc_txns'`).get() !== undefined;
    if (!hasTxns) return 0;
    return (
      db.prepare(`SELECT count(*) AS n FROM _twopc_txns WHERE state = 'PREPARED'`).get() as { n: number }
    ).n;
  } finally {
    db.close();
  }
}

function removeDb(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) {
    try {
      fs.rmSync(f, { force: true });
    } catch (err) {
      throw new TwopcError('FAILED_PRECONDITION', `cannot remove ${f}: ${describeError(err)}`);
    }
  }
}
