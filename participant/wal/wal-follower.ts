/**
 * Follows one shard's WAL: each `pass` reads the committed frames the WAL gained since the last
 * one — synchronously, so in the participant process no commit can slip in while it reads — cuts
 * them into segments at commit frames and queues them. When the WAL is fully read and big or old
 * enough, the same synchronous step checkpoints it (TRUNCATE: everything read goes into the
 * database file, SQLite restarts the WAL with new salts) and the next WAL incarnation is the next
 * `index` of the generation (generation.ts).
 *
 * While it runs, the guard (checkpointer.ts) keeps anyone else from checkpointing frames it has not
 * read. Should the WAL still change behind its back — new salts, a shorter file, a WAL gone —
 * continuity is lost, and it starts a new generation from a fresh snapshot. Nothing is lost that
 * way; it costs one snapshot.
 */
import { assert } from '../../common/assert.ts';
import type { Clock } from '../../common/clock.ts';
import { TwopcError } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { Segment } from '../replica/shard-replica.ts';
import type { Checkpointer } from './checkpointer.ts';
import type { WalShipperConfig } from './config.ts';
import { newGenerationId } from './generation.ts';
import type { ResumePoint } from './resume.ts';
import type { UploadQueue } from './upload-queue.ts';
import { frameBytes, WAL_HEADER_BYTES } from './wal-format.ts';
import { readWal, type WalFrames, type WalPosition, type WalRead } from './wal-reader.ts';

/** Where following stands in the current generation. */
interface Cursor {
  readonly generation: string;
  readonly index: number;
  /** Next read starts here; undefined until the first commit of this WAL incarnation is read. */
  position: WalPosition | undefined;
  /** When this incarnation started (the time of a snapshot of it). */
  readonly startedAtMs: number;
  /** A snapshot of this index was queued (or cannot be taken: resumed mid-incarnation). */
  snapshotted: boolean;
}

export interface WalFollowerOptions {
  readonly walPath: string;
  readonly checkpointer: Checkpointer;
  readonly queue: UploadQueue;
  readonly config: WalShipperConfig;
  readonly logger: Logger;
  readonly clock: Clock;
}

export class WalFollower {
  readonly counters = { generations: 0, checkpoints: 0 };
  private readonly o: WalFollowerOptions;
  private cursor: Cursor | undefined;
  /** Set when the next pass must start a new generation, and why. */
  private resetReason: string | undefined = 'shipping started without a resumable generation';
  private lastSnapshotMs: number;
  private lastCheckpointMs: number;
  private lastTimeMs = 0;

  constructor(options: WalFollowerOptions) {
    this.o = options;
    this.lastSnapshotMs = options.clock.nowMs();
    this.lastCheckpointMs = this.lastSnapshotMs;
  }

  /** Continues a generation found in the replica (resume.ts) instead of starting one. */
  resume(point: ResumePoint): void {
    assert(this.cursor === undefined, 'resume before the first pass');
    this.o.checkpointer.pin();
    this.cursor = { ...point.cursor, snapshotted: true };
    this.lastSnapshotMs = point.lastSnapshotMs;
    this.lastTimeMs = point.cursor.startedAtMs;
    this.resetReason = undefined;
  }

  /** The next pass starts a new generation (the current one cannot be continued). */
  restart(reason: string): void {
    this.resetReason = reason;
  }

  get position(): { generation: string | undefined; index: number; offset: number } {
    return {
      generation: this.cursor?.generation,
      index: this.cursor?.index ?? 0,
      offset: this.cursor?.position?.offset ?? 0,
    };
  }

  /** One synchronous pass. Returns true if it queued every commit the WAL held when it ran. */
  pass(): boolean {
    return this.resetReason !== undefined ? this.startGeneration(this.resetReason) : this.readNewFrames();
  }

  private readNewFrames(): boolean {
    const cursor = this.cursor;
    assert(cursor !== undefined, 'following needs a generation');
    for (;;) {
      if (this.o.queue.bytes >= this.o.config.queueBytesMax) return false;
      const read = readWal(this.o.walPath, cursor.position, this.o.config.segmentBytesMax);
      if (read.kind === 'no-wal' && cursor.position === undefined) return this.afterCaughtUp(true);
      if (read.kind !== 'frames') return this.startGeneration(describeChange(read, cursor));
      if (read.commits > 0) {
        this.o.queue.pushSegment(this.segmentOf(cursor, read));
        cursor.position = read.end;
      }
      if (read.caughtUp) return this.afterCaughtUp(read.uncommittedBytes === 0);
    }
  }

  private segmentOf(cursor: Cursor, read: WalFrames): Segment {
    return {
      ref: {
        generation: cursor.generation,
        index: cursor.index,
        offset: read.offset,
        readAtMs: this.nextTimeMs(),
      },
      pageBytes: read.header.pageBytes,
      raw: read.bytes,
      facts: {
        salt1: read.header.salt1,
        salt2: read.header.salt2,
        bigEndianChecksum: read.header.bigEndianChecksum,
        endChecksum: read.end.checksum,
        frames: read.frames,
        commits: read.commits,
        dbPages: read.dbPages,
      },
    };
  }

  /**
   * Everything committed is read: checkpoint if due, snapshot if due. `quiet` = no frames of a
   * transaction in progress follow (only a foreign writer can leave some); never checkpoint then.
   */
  private afterCaughtUp(quiet: boolean): boolean {
    const cursor = this.cursor;
    assert(cursor !== undefined, 'caught up within a generation');
    const { config, checkpointer } = this.o;
    if (!quiet || checkpointer.reading) return true;
    const now = this.o.clock.nowMs();
    const snapshotDue =
      config.snapshotIntervalMs > 0 && now - this.lastSnapshotMs >= config.snapshotIntervalMs;
    if (cursor.position === undefined) {
      if (snapshotDue && !cursor.snapshotted && checkpointer.guard === 'incarnation-start')
        this.queueSnapshot(false);
      return true;
    }
    const checkpointDue =
      snapshotDue ||
      cursor.position.offset >= config.checkpointWalBytesMin ||
      now - this.lastCheckpointMs >= config.checkpointIntervalMs;
    if (checkpointDue && this.checkpointShipped(cursor, cursor.position) && snapshotDue)
      this.queueSnapshot(false);
    return true;
  }

  /**
   * Checkpoints the WAL if it holds exactly the frames read, and restarts it. Returns true if it
   * did, i.e. the cursor moved to the next index (and the file is frozen at its start).
   */
  private checkpointShipped(cursor: Cursor, position: WalPosition): boolean {
    const frames = (position.offset - WAL_HEADER_BYTES) / frameBytes(position.header);
    assert(frames > 0, 'only a WAL with shipped frames is checkpointed');
    if (!this.o.checkpointer.restartWal(frames)) {
      this.o.logger.debug('checkpoint declined: busy, or the WAL is not exactly what was read', { frames });
      return false;
    }
    this.cursor = {
      generation: cursor.generation,
      index: cursor.index + 1,
      position: undefined,
      startedAtMs: this.nextTimeMs(),
      snapshotted: false,
    };
    this.lastCheckpointMs = this.o.clock.nowMs();
    this.counters.checkpoints++;
    return true;
  }

  /** Starts a generation: checkpoint everything, then snapshot the file as its index 0. */
  private startGeneration(reason: string): boolean {
    this.resetReason = reason;
    if (this.o.checkpointer.reading) return false; // the snapshot being copied must finish first
    if (!this.o.checkpointer.restartWal(undefined))
      throw new TwopcError(
        'UNAVAILABLE',
        'cannot checkpoint the WAL to start a generation: another connection is using it',
      );
    const previous = this.cursor;
    const generation = newGenerationId(this.o.clock.nowMs(), previous?.generation);
    this.cursor = {
      generation,
      index: 0,
      position: undefined,
      startedAtMs: this.nextTimeMs(),
      snapshotted: false,
    };
    this.queueSnapshot(true);
    this.resetReason = undefined;
    this.counters.generations++;
    const log = previous === undefined ? this.o.logger.info : this.o.logger.warn;
    log.call(this.o.logger, 'new generation', { generation, reason, previous: previous?.generation });
    return true;
  }

  /** Queues a snapshot of the current index; the file is copied now, while frozen at the index's start. */
  private queueSnapshot(startsGeneration: boolean): void {
    const cursor = this.cursor;
    assert(
      cursor !== undefined && cursor.position === undefined && !cursor.snapshotted,
      'one snapshot, at the start of an index',
    );
    const bytes = this.o.checkpointer.readDatabase();
    bytes.catch(() => {}); // awaited by the uploader
    cursor.snapshotted = true;
    this.o.queue.pushSnapshot({
      generation: cursor.generation,
      index: cursor.index,
      takenAtMs: cursor.startedAtMs,
      pageBytes: this.o.checkpointer.pageBytes,
      bytes,
      startsGeneration,
    });
    this.lastSnapshotMs = this.o.clock.nowMs();
  }

  /** Times of segments and snapshots never go back, so "at or before T" is a prefix. */
  private nextTimeMs(): number {
    this.lastTimeMs = Math.max(this.lastTimeMs, this.o.clock.nowMs());
    return this.lastTimeMs;
  }
}

function describeChange(read: Exclude<WalRead, WalFrames>, cursor: Cursor): string {
  const at = `generation ${cursor.generation} index ${cursor.index} offset ${cursor.position?.offset ?? 0}`;
  switch (read.kind) {
    case 'no-wal':
      return `the WAL is gone or empty (${read.reason}) at ${at}: checkpointed behind the shipper's back`;
    case 'shrunk':
      return `the WAL shrank to ${read.fileBytes} bytes at ${at}: truncated behind the shipper's back`;
    case 'restarted':
      return `the WAL restarted with new salts at ${at}: checkpointed behind the shipper's back`;
  }
}
