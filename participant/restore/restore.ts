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
import type { SegmentRef } from '../replica/layout.ts';
import type { Segment, ShardReplica } from '../replica/shard-replica.ts';
import { cutShortUpload, withoutKeys } from './cut-short.ts';
import { IncarnationCheck } from './incarnation-check.ts';
import { silentProgress, type ProgressSink } from './progress.ts';
import { planRestore, type RestorePlan, type RestoreTarget } from './restore-plan.ts';

/** Objects downloaded ahead of the one being applied: hides the store's latency, bounds memory. */
export const RESTORE_PREFETCH_OBJECTS = 8;

export interface RestoreOptions extends RestoreTarget {
  readonly replica: ShardReplica;
  readonly output: string;
  /** Replace an existing output file (default: refuse). */
  readonly overwrite?: boolean;
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

/** Objects left out as uploads cut short: a generation's last segment and newest snapshot at most. */
const cutShortMax = 2;

export async function restoreShard(options: RestoreOptions): Promise<RestoreResult> {
  const startMs = Date.now();
  const output = path.resolve(options.output);
  refuseExisting(output, options.overwrite ?? false);
  const listing = await options.replica.listGenerations(options.signal);
  const leftOut: string[] = [];
  for (;;) {
    const plan = planRestore(options.replica.shard, withoutKeys(listing, leftOut), options);
    try {
      const restored = await restorePlan(options, plan, output);
      return { ...restored, plan, output, elapsedMs: Date.now() - startMs, leftOut };
    } catch (err) {
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
): Promise<{ dbBytes: number; walBytesApplied: number; inDoubt: number }> {
  const progress = options.onPlan?.(plan) ?? silentProgress;
  const temp = `${output}.restoring-${process.pid}`;
  removeDb(temp);
  try {
    fs.mkdirSync(path.dirname(output), { recursive: true });
    const snapshot = await options.replica.getSnapshot(plan.snapshot, options.signal);
    if (snapshot === undefined) throw gone(plan.snapshot.key);
    fs.writeFileSync(temp, snapshot.raw);
    progress.add(plan.snapshot.size);
    let walBytesApplied = 0;
    const fetcher = new Prefetcher(options.replica, plan, options.signal);
    for (const inc of plan.incarnations) {
      const check = new IncarnationCheck(plan.shard, inc.index);
      const wal = fs.openSync(`${temp}-wal`, 'w');
      try {
        for (const ref of inc.segments) {
          const segment = await fetcher.next(ref);
          check.push(ref.key, segment);
          fs.writeSync(wal, segment.raw);
          progress.add(ref.size);
        }
      } finally {
        fs.closeSync(wal);
      }
      applyWal(temp, check.frames);
      walBytesApplied += check.bytes;
    }
    const inDoubt = checkIntegrity(temp);
    // The old file's WAL and shm go first: never a moment with the new file beside the old WAL.
    for (const suffix of SIDE_FILES) fs.rmSync(`${output}${suffix}`, { force: true });
    fs.renameSync(temp, output);
    progress.finish();
    return { dbBytes: fs.statSync(output).size, walBytesApplied, inDoubt };
  } finally {
    removeDb(temp);
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

/** Downloads segments in plan order, up to RESTORE_PREFETCH_OBJECTS ahead of the consumer. */
class Prefetcher {
  private readonly refs: SegmentRef[];
  private readonly inflight: Promise<Segment>[] = [];
  private started = 0;
  private consumed = 0;
  private readonly replica: ShardReplica;
  private readonly signal: AbortSignal | undefined;

  constructor(replica: ShardReplica, plan: RestorePlan, signal?: AbortSignal) {
    this.replica = replica;
    this.signal = signal;
    this.refs = plan.incarnations.flatMap((i) => [...i.segments]);
  }

  async next(ref: SegmentRef): Promise<Segment> {
    assert(this.refs[this.consumed] === ref, 'segments are consumed in plan order');
    while (this.started < this.refs.length && this.started < this.consumed + RESTORE_PREFETCH_OBJECTS) {
      const r = this.refs[this.started++] as SegmentRef;
      const p = this.replica.getSegment(r, this.signal).then((s) => s ?? Promise.reject(gone(r.key)));
      p.catch(() => {}); // observed when consumed; an early failure must not be an unhandled rejection
      this.inflight.push(p);
    }
    this.consumed++;
    return (await this.inflight.shift()) as Segment;
  }
}

function gone(key: string): TwopcError {
  return new TwopcError(
    'FAILED_PRECONDITION',
    `replica object ${key} was listed but cannot be read: segment missing`,
    {
      hint: "is retention or another process deleting objects? run 'npx twopc shard replica verify'",
    },
  );
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
