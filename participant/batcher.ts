/**
 * Group commit at the participant. Prepares and decisions that arrive in the same event-loop turn,
 * from any Session stream or unary call, are queued and written together by one flush
 * (flush-writer.ts: both kinds in one local transaction and one fsync when the store can, a failing
 * message isolated, results delivered from the flush or, with sync WAL shipping, held until the
 * replica has them).
 *
 * The flush runs in a setImmediate, after the poll phase has delivered every message that was ready.
 * better-sqlite3 is synchronous, so whatever arrives while a batch is being written waits in the
 * socket and forms the next batch: the batch size grows with load without any timer.
 */
import { assert } from '../common/assert.ts';
import { TwopcError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import { silentLogger } from '../common/log.ts';
import type { Ack, DecisionMessage, PrepareMessage, Vote } from '../common/protocol.ts';
import { decideBatchMax, prepareBatchMax } from './config.ts';
import {
  FlushWriter,
  type BatchStore,
  type Durability,
  type Entry,
  type FlushStats,
  type Settle,
} from './flush-writer.ts';

export interface BatcherConfig {
  /**
   * Messages per store call (default 256). Bounds how long one synchronous SQLite transaction blocks
   * the event loop (a prepare costs tens of microseconds; 256 of them stay around 10 ms).
   */
  readonly batchMessagesMax: number;
  /**
   * Messages of one kind waiting for a flush (default 8192). Past it a message is refused with
   * RESOURCE_EXHAUSTED instead of queueing: the sender retries, memory stays bounded.
   */
  readonly queuedMessagesMax: number;
}

export const BATCHER_DEFAULTS: BatcherConfig = Object.freeze({
  batchMessagesMax: 256,
  queuedMessagesMax: 8192,
});

export interface BatcherStats extends FlushStats {
  /** Store calls made (prepareBatch + decideBatch). */
  readonly batches: number;
}

export class Batcher {
  private readonly config: BatcherConfig;
  private readonly durability: Durability | undefined;
  private readonly writer: FlushWriter;
  private prepares: Entry<PrepareMessage, Vote>[] = [];
  private decisions: Entry<DecisionMessage, Ack>[] = [];
  private flushScheduled = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(options: {
    store: BatchStore;
    config?: Partial<BatcherConfig>;
    logger?: Logger;
    /** Sync WAL shipping: hold every vote and ack until the replica has it. Without it, deliver at once. */
    durability?: Durability;
  }) {
    this.durability = options.durability;
    this.config = Object.freeze({ ...BATCHER_DEFAULTS, ...options.config });
    assert(this.config.batchMessagesMax >= 1, 'batchMessagesMax >= 1');
    assert(
      this.config.batchMessagesMax <= Math.min(prepareBatchMax, decideBatchMax),
      "batchMessagesMax is within the store's batch limits",
    );
    assert(
      this.config.queuedMessagesMax >= this.config.batchMessagesMax,
      'queuedMessagesMax >= batchMessagesMax',
    );
    this.writer = new FlushWriter({
      store: options.store,
      logger: options.logger ?? silentLogger,
      durability: options.durability,
    });
  }

  /** Queues a prepare; `settle` is called from the flush that writes it (or at once if refused). */
  submitPrepare(message: PrepareMessage, settle: Settle<Vote>): void {
    this.enqueue(this.prepares, message, settle);
  }

  submitDecision(message: DecisionMessage, settle: Settle<Ack>): void {
    this.enqueue(this.decisions, message, settle);
  }

  prepare(message: PrepareMessage): Promise<Vote> {
    return new Promise((resolve, reject) =>
      this.submitPrepare(message, (r) => (r.ok ? resolve(r.value) : reject(r.error))),
    );
  }

  /** The same as `decide` in in-doubt-resolver.ts's ResolvableStore, so the resolver can share the queue. */
  decide(message: DecisionMessage): Promise<Ack> {
    return new Promise((resolve, reject) =>
      this.submitDecision(message, (r) => (r.ok ? resolve(r.value) : reject(r.error))),
    );
  }

  /** Durations of the flushes' store calls, by kind (flush-writer.ts); live, read on each scrape. */
  flushTimings(): FlushWriter['timings'] {
    return this.writer.timings;
  }

  /** Messages queued for the next flush (prepares and decisions). */
  get queued(): number {
    return this.prepares.length + this.decisions.length;
  }

  stats(): BatcherStats {
    const c = this.writer.stats();
    return { ...c, batches: c.prepareBatches + c.decisionBatches };
  }

  /**
   * Refuses new messages (UNAVAILABLE) and resolves once everything queued has been written and
   * delivered (with a durability gate: released by it).
   */
  close(): Promise<void> {
    this.closed = true;
    return this.idle();
  }

  /** Resolves when nothing is queued and no delivery is held by the durability gate. */
  async idle(): Promise<void> {
    if (this.prepares.length > 0 || this.decisions.length > 0)
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.durability?.idle();
  }

  private enqueue<M, R>(queue: Entry<M, R>[], message: M, settle: Settle<R>): void {
    if (this.closed) {
      settle({
        ok: false,
        error: new TwopcError('UNAVAILABLE', 'participant is shutting down', { hint: 'retry' }),
      });
      return;
    }
    if (queue.length >= this.config.queuedMessagesMax) {
      const error = new TwopcError(
        'RESOURCE_EXHAUSTED',
        `participant queue is full (${this.config.queuedMessagesMax} messages)`,
        {
          hint: 'the shard is overloaded; retry with backoff',
        },
      );
      settle({ ok: false, error });
      return;
    }
    queue.push({ message, settle });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * Writes up to `batchMessagesMax` messages of each kind (flush-writer.ts), then schedules the next
   * flush if more are queued, else wakes whoever waits in `idle()`.
   */
  private flush(): void {
    this.flushScheduled = false;
    const decisions = this.decisions.splice(0, this.config.batchMessagesMax);
    const prepares = this.prepares.splice(0, this.config.batchMessagesMax);
    this.writer.write(decisions, prepares);
    if (this.prepares.length > 0 || this.decisions.length > 0) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    } else {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }
}
