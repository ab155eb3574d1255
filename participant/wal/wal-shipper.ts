/**
 * Ships one shard's WAL to its replica and owns its checkpoints: the lifecycle and the schedule.
 *
 * A tick runs every `syncIntervalMs`, and in sync mode also as soon as someone waits: the follower
 * (wal-follower.ts) queues what the WAL gained, then a mark; the uploader (uploader.ts) puts the
 * queue in order. When everything before a complete mark is uploaded, the waiters that were there
 * before the tick are released (upload-queue.ts). While an upload is in flight, waits that arrive
 * share the next tick: one upload then covers many commits (group commit on the replica).
 */
import { AssertionError, assert } from '../../common/assert.ts';
import { backoffDelayMs, type BackoffPolicy } from '../../common/backoff.ts';
import { systemClock, type Clock } from '../../common/clock.ts';
import { describeError, TwopcError } from '../../common/errors.ts';
import { silentLogger, type Logger } from '../../common/log.ts';
import type { ShardReplica } from '../replica/shard-replica.ts';
import { Checkpointer } from './checkpointer.ts';
import { resolveShipperConfig, type WalShipperConfig } from './config.ts';
import { findResumePoint } from './resume.ts';
import { enforceRetention } from './retention.ts';
import { UploadQueue } from './upload-queue.ts';
import { Uploader, type UploadCounters } from './uploader.ts';
import { WalFollower } from './wal-follower.ts';

export interface WalShipperOptions {
  readonly dbPath: string;
  readonly replica: ShardReplica;
  readonly config?: Partial<WalShipperConfig>;
  readonly logger?: Logger;
  readonly clock?: Clock;
  readonly random?: () => number;
}

export interface ShipperStats extends Readonly<UploadCounters> {
  readonly generation: string | undefined;
  readonly index: number;
  readonly offset: number;
  /** Generations started by this shipper (0 if it resumed one and never had to). */
  readonly generations: number;
  readonly checkpoints: number;
  readonly queueBytes: number;
  readonly queueItems: number;
  readonly waiters: number;
}

export class WalShipper {
  readonly config: WalShipperConfig;
  private readonly replica: ShardReplica;
  private readonly checkpointer: Checkpointer;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly queue = new UploadQueue();
  private readonly abort = new AbortController();
  private readonly follower: WalFollower;
  private readonly uploader: Uploader;
  private tickBlockedUntilMs = 0;
  private tickFailures = 0;
  private timer: NodeJS.Timeout | undefined;
  private tickScheduled = false;
  private tickWanted = false;
  private lastRetentionMs: number;
  private retention: Promise<void> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(options: WalShipperOptions, checkpointer: Checkpointer) {
    this.config = resolveShipperConfig(options.config);
    this.replica = options.replica;
    this.checkpointer = checkpointer;
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.lastRetentionMs = this.clock.nowMs();
    this.follower = new WalFollower({
      walPath: `${options.dbPath}-wal`,
      checkpointer,
      queue: this.queue,
      config: this.config,
      logger: this.logger,
      clock: this.clock,
    });
    this.uploader = new Uploader({
      queue: this.queue,
      replica: this.replica,
      backoff: this.backoff(),
      logger: this.logger,
      clock: this.clock,
      random: this.random,
      signal: this.abort.signal,
      beforeEach: () => {
        // A wait arrived during the last upload, or the last tick could not read everything.
        if (!this.tickWanted && !this.queue.unserved) return;
        this.tickWanted = false;
        this.tick();
      },
      onSnapshotLost: (snapshot, err) => {
        if (!snapshot.startsGeneration) {
          this.logger.warn('cannot copy the database file for a periodic snapshot; skipped', { error: err });
          return;
        }
        this.logger.error('cannot copy the database file for a snapshot; starting a new generation', {
          error: err,
        });
        // Everything queued after a generation's first snapshot belongs to it and is useless now.
        this.follower.restart(`snapshot of generation ${snapshot.generation} failed: ${describeError(err)}`);
        this.queue.discardAll();
      },
    });
  }

  /**
   * Opens the shipper's connection, resumes the replica's latest generation if the local WAL
   * provably continues it (otherwise the first tick starts a new one), and starts ticking.
   */
  static async start(options: WalShipperOptions): Promise<WalShipper> {
    const checkpointer = Checkpointer.open(options.dbPath);
    const shipper = new WalShipper(options, checkpointer);
    try {
      const resumed = await findResumePoint(options.replica, `${options.dbPath}-wal`, shipper.logger);
      if (resumed !== undefined) shipper.follower.resume(resumed);
    } catch (err) {
      shipper.logger.warn('cannot read the replica to resume; a new generation will be started', {
        error: err,
      });
    }
    shipper.tick();
    void shipper.uploader.drain();
    shipper.timer = setInterval(() => {
      shipper.tick();
      void shipper.uploader.drain();
    }, shipper.config.syncIntervalMs);
    shipper.timer.unref();
    return shipper;
  }

  /**
   * Resolves once everything committed to the shard before this call is in the replica. Rejects
   * with UNAVAILABLE after `timeoutMs` or when `signal` aborts (the store is down or slow: the
   * commit is still on local disk and will be shipped when the store returns), or if closed.
   */
  waitDurable(options: { readonly timeoutMs?: number; readonly signal?: AbortSignal } = {}): Promise<void> {
    if (this.closed) return Promise.reject(stoppedError());
    const { promise, cancel } = this.queue.wait();
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => cancel(this.timeoutError(options.timeoutMs as number)), options.timeoutMs);
    const onAbort = () => cancel(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    this.requestTick();
    return promise.finally(() => {
      if (timer !== undefined) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    });
  }

  stats(): ShipperStats {
    return {
      ...this.follower.counters,
      ...this.uploader.counters,
      ...this.follower.position,
      queueBytes: this.queue.bytes,
      queueItems: this.queue.length,
      waiters: this.queue.waiting,
    };
  }

  /**
   * Stops shipping. With `flush` (default) it first tries, for up to `closeFlushTimeoutMs`, to
   * upload everything committed; without it, it just stops (as a crash would). Waiters get
   * UNAVAILABLE. Idempotent.
   */
  close(options: { readonly flush?: boolean } = {}): Promise<void> {
    this.closing ??= this.shutdown(options.flush ?? true);
    return this.closing;
  }

  private async shutdown(flush: boolean): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    if (flush) {
      try {
        await this.waitDurable({ timeoutMs: this.config.closeFlushTimeoutMs });
      } catch (err) {
        this.logger.warn('closing with WAL frames not uploaded', {
          error: err,
          queueBytes: this.queue.bytes,
        });
      }
    }
    this.closed = true;
    this.abort.abort(stoppedError());
    await this.uploader.drain();
    await this.uploader.aside;
    await this.retention;
    this.queue.failAll(stoppedError());
    this.checkpointer.close();
  }

  private requestTick(): void {
    // While an upload is in flight, commits pile up and the tick after it takes them all at once.
    if (this.uploader.busy) {
      this.tickWanted = true;
      return;
    }
    if (this.tickScheduled) return;
    this.tickScheduled = true;
    setImmediate(() => {
      this.tickScheduled = false;
      if (this.uploader.busy) {
        this.tickWanted = true;
        return;
      }
      this.tick();
      void this.uploader.drain();
    });
  }

  /** One pass of the follower, bracketed by the queue's tick marks. */
  private tick(): void {
    if (this.closed || this.clock.nowMs() < this.tickBlockedUntilMs) return;
    const tick = this.queue.beginTick();
    let complete = false;
    try {
      complete = this.follower.pass();
      this.tickFailures = 0;
    } catch (err) {
      if (err instanceof AssertionError) throw err;
      const delayMs = backoffDelayMs(this.backoff(), this.tickFailures++, this.random);
      this.tickBlockedUntilMs = this.clock.nowMs() + delayMs;
      this.logger.warn('WAL shipping pass failed; retrying', { error: err, retryInMs: delayMs });
    }
    this.queue.endTick(tick, complete);
    this.maybeEnforceRetention();
  }

  private maybeEnforceRetention(): void {
    const now = this.clock.nowMs();
    const generation = this.follower.position.generation;
    if (this.config.retentionMs === 0 || this.retention !== undefined || generation === undefined) return;
    if (now - this.lastRetentionMs < this.config.retentionCheckIntervalMs) return;
    this.lastRetentionMs = now;
    this.retention = enforceRetention(this.replica, {
      currentGeneration: generation,
      nowMs: now,
      retentionMs: this.config.retentionMs,
      logger: this.logger,
      signal: this.abort.signal,
    })
      .then(
        () => undefined,
        (err: unknown) => {
          if (!this.abort.signal.aborted) this.logger.warn('retention failed; will retry', { error: err });
        },
      )
      .finally(() => (this.retention = undefined));
  }

  private timeoutError(timeoutMs: number): TwopcError {
    return new TwopcError('UNAVAILABLE', `the replica did not confirm the upload within ${timeoutMs} ms`, {
      hint: `is ${this.replica.client.url} reachable? the commit is on local disk and will be shipped when it is`,
    });
  }

  private backoff(): BackoffPolicy {
    assert(this.config.retryBackoffMsBase <= this.config.retryBackoffMsMax, 'backoff base <= max');
    return { baseMs: this.config.retryBackoffMsBase, maxMs: this.config.retryBackoffMsMax };
  }
}

function stoppedError(): TwopcError {
  return new TwopcError('UNAVAILABLE', 'WAL shipping is stopped (the participant is shutting down)', {
    hint: 'retry',
  });
}
