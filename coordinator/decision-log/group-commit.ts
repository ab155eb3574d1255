/**
 * Group commit: writes queued in the same event-loop turn share one batch (one local transaction,
 * one fsync). A batch holding a forced write runs on the next `setImmediate`; a batch of only lazy
 * writes waits up to `lazyFlushDelayMs` for company. Backend-neutral: the backend supplies
 * `runBatch`, which applies every item and says per item whether it succeeded, or throws when the
 * batch as a whole failed (then every item in it rejects with that error).
 */
import { assert } from '../../common/assert.ts';

/** Records per batch: bounds the time the event loop is blocked by one synchronous SQLite batch. */
export const batchRecordsMax = 1_024;
/** A lazy write waits at most this long for other writes to share its batch. */
export const lazyFlushDelayMs = 10;

export interface BatchItem {
  readonly forced: boolean;
  readonly apply: () => unknown;
}

export type ItemResult =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

export interface BatchSummary {
  readonly forced: boolean;
  readonly size: number;
}

interface Queued extends BatchItem {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

export class GroupCommitQueue {
  private readonly queue: Queued[] = [];
  private immediate: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly runBatch: (items: readonly BatchItem[], forced: boolean) => ItemResult[],
    private readonly onBatch: (summary: BatchSummary) => void = () => {},
  ) {}

  enqueue<T>(forced: boolean, apply: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error('decision log is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ forced, apply, resolve: resolve as (value: unknown) => void, reject });
      this.schedule(forced);
    });
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Runs everything queued, synchronously, then refuses new writes. */
  close(): void {
    this.closed = true;
    this.cancelTimers();
    while (this.queue.length > 0) this.flushOne();
  }

  private schedule(forced: boolean): void {
    if (forced && this.immediate === undefined) {
      this.immediate = setImmediate(() => this.flush());
    } else if (!forced && this.immediate === undefined && this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), lazyFlushDelayMs);
    }
  }

  private cancelTimers(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.immediate = undefined;
    this.timer = undefined;
  }

  private flush(): void {
    this.cancelTimers();
    this.flushOne();
    if (this.queue.length > 0) this.schedule(this.queue.some((q) => q.forced));
  }

  private flushOne(): void {
    const batch = this.queue.splice(0, batchRecordsMax);
    if (batch.length === 0) return;
    const forced = batch.some((q) => q.forced);
    let results: ItemResult[];
    try {
      results = this.runBatch(batch, forced);
    } catch (err) {
      for (const q of batch) q.reject(err);
      return;
    }
    assert(results.length === batch.length, 'group commit: one result per item');
    this.onBatch({ forced, size: batch.length });
    batch.forEach((q, i) => {
      const r = results[i] as ItemResult;
      if (r.ok) q.resolve(r.value);
      else q.reject(r.error);
    });
  }
}
