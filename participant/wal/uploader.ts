/**
 * Uploads what the shipper queued, one object at a time and in order, so the replica never has a
 * gap: a segment is put only after everything before it is in. A failed put is retried with capped
 * exponential backoff (with jitter) for as long as it takes — the store coming back is the only way
 * forward, and the queue's bound (`queueBytesMax`) keeps memory in check meanwhile.
 *
 * A periodic snapshot (not the first of a generation) is started "aside" when the in-order upload
 * reaches it — everything before it is in, so it can never cover a gap — and the segments after it
 * go on meanwhile: a big snapshot never holds up a sync-mode vote. One aside upload at a time; a
 * snapshot due while one is still going up is skipped (snapshots only shorten restores).
 */
import { AssertionError, assert } from '../../common/assert.ts';
import { backoffDelayMs, type BackoffPolicy } from '../../common/backoff.ts';
import type { Clock } from '../../common/clock.ts';
import { describeError } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { ShardReplica } from '../replica/shard-replica.ts';
import type { PendingSnapshot, UploadItem, UploadQueue } from './upload-queue.ts';

/** Every this many failed attempts of one object, the failure is logged again (the first always is). */
const failureLogEvery = 10;

export interface UploaderOptions {
  readonly queue: UploadQueue;
  readonly replica: ShardReplica;
  readonly backoff: BackoffPolicy;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly random: () => number;
  /** Aborted on close: uploads in flight and backoff sleeps stop. */
  readonly signal: AbortSignal;
  /** Runs before each upload: the shipper's deferred tick joins the queue here. */
  readonly beforeEach: () => void;
  /** The copy of the database for a snapshot failed: the snapshot cannot be uploaded. */
  readonly onSnapshotLost: (snapshot: PendingSnapshot, err: unknown) => void;
}

export interface UploadCounters {
  segmentsUploaded: number;
  snapshotsUploaded: number;
  /** Bytes as stored (compressed). */
  bytesUploaded: number;
  /** WAL bytes those segments hold. */
  walBytesUploaded: number;
  uploadFailures: number;
}

export class Uploader {
  readonly counters: UploadCounters = {
    segmentsUploaded: 0,
    snapshotsUploaded: 0,
    bytesUploaded: 0,
    walBytesUploaded: 0,
    uploadFailures: 0,
  };
  private readonly o: UploaderOptions;
  private uploading = false;
  private draining: Promise<void> | undefined;
  private asideUpload: Promise<void> | undefined;

  constructor(options: UploaderOptions) {
    this.o = options;
  }

  /** True while an object is being uploaded (or its retry is waiting). */
  get busy(): boolean {
    return this.uploading;
  }

  /** The periodic snapshot being uploaded aside, if any (awaited on close). */
  get aside(): Promise<void> | undefined {
    return this.asideUpload;
  }

  /** Uploads until the queue is empty; one drain at a time. Resolves when it stops. */
  drain(): Promise<void> {
    this.draining ??= this.loop().finally(() => (this.draining = undefined));
    return this.draining;
  }

  private async loop(): Promise<void> {
    for (;;) {
      this.o.beforeEach();
      const item = this.o.queue.peek();
      if (item === undefined || this.o.signal.aborted) return;
      if (item.kind === 'snapshot' && !item.snapshot.startsGeneration) {
        this.startAside(item);
        this.o.queue.shift();
        continue;
      }
      let uploaded: boolean;
      try {
        uploaded = await this.upload(item);
      } catch (err) {
        if (this.o.signal.aborted) return;
        throw err; // only assertions get here: uploads are retried until they succeed
      }
      if (uploaded) this.o.queue.shift();
    }
  }

  private startAside(item: UploadItem & { kind: 'snapshot' }): void {
    if (this.asideUpload !== undefined) {
      this.o.logger.info('periodic snapshot skipped: the previous one is still uploading', {
        generation: item.snapshot.generation,
        index: item.snapshot.index,
      });
      return;
    }
    this.asideUpload = this.attempt(item)
      .then(
        () => undefined,
        (err: unknown) => {
          if (!this.o.signal.aborted) throw err; // an assertion
        },
      )
      .finally(() => (this.asideUpload = undefined));
  }

  /** Uploads one in-order item; false if its snapshot was lost instead. */
  private async upload(item: UploadItem): Promise<boolean> {
    this.uploading = true;
    try {
      return await this.attempt(item);
    } finally {
      this.uploading = false;
    }
  }

  /** Puts one item, retrying until it succeeds; false if its snapshot could not be copied. */
  private async attempt(item: UploadItem): Promise<boolean> {
    let snapshotRaw: Buffer | undefined;
    if (item.kind === 'snapshot') {
      try {
        snapshotRaw = await item.snapshot.bytes;
      } catch (err) {
        this.o.onSnapshotLost(item.snapshot, err);
        return false;
      }
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await this.put(item, snapshotRaw);
        if (attempt > 0) this.o.logger.info('replica reachable again', { attempts: attempt + 1 });
        return true;
      } catch (err) {
        if (this.o.signal.aborted || err instanceof AssertionError) throw err;
        this.counters.uploadFailures++;
        const delayMs = backoffDelayMs(this.o.backoff, attempt, this.o.random);
        if (attempt % failureLogEvery === 0)
          this.o.logger.warn('upload to the replica failed; retrying', {
            error: describeError(err),
            attempt,
            retryInMs: delayMs,
          });
        await this.o.clock.sleep(delayMs, this.o.signal);
      }
    }
  }

  private async put(item: UploadItem, snapshotRaw: Buffer | undefined): Promise<void> {
    if (item.kind === 'segment') {
      const ref = await this.o.replica.putSegment(item.segment, this.o.signal);
      this.counters.segmentsUploaded++;
      this.counters.bytesUploaded += ref.size;
      this.counters.walBytesUploaded += item.segment.raw.length;
      return;
    }
    assert(snapshotRaw !== undefined, 'a snapshot is read before it is uploaded');
    const s = item.snapshot;
    const ref = await this.o.replica.putSnapshot(
      { generation: s.generation, index: s.index, takenAtMs: s.takenAtMs },
      s.pageBytes,
      snapshotRaw,
      this.o.signal,
    );
    this.counters.snapshotsUploaded++;
    this.counters.bytesUploaded += ref.size;
    this.o.logger.info('snapshot uploaded', { key: ref.key, bytes: ref.size, dbBytes: snapshotRaw.length });
  }
}
