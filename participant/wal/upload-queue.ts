/**
 * What the shipper has read but not yet uploaded, in upload order, and who waits for it.
 *
 * Every shipping pass ("tick") reads the WAL synchronously and appends its segments (or a snapshot)
 * then a mark carrying the tick's number. A mark is `complete` if the tick read every committed
 * frame there was when it ran. Once everything before a complete mark is uploaded, every commit made
 * before that tick started is in the replica: `durableTick` moves up and waiters registered before
 * the tick are released. A waiter registered now needs a tick that starts after now: `tick + 1`.
 */
import { assert } from '../../common/assert.ts';
import type { Segment } from '../replica/shard-replica.ts';

export interface PendingSnapshot {
  readonly generation: string;
  readonly index: number;
  readonly takenAtMs: number;
  readonly pageBytes: number;
  /** The copy of the database file, being read. */
  readonly bytes: Promise<Buffer>;
  /**
   * The first snapshot of a generation: nothing after it is restorable without it, so it is
   * uploaded in line. Later ones only shorten restores; they go up beside the segments.
   */
  readonly startsGeneration: boolean;
}

export type QueueItem =
  | { readonly kind: 'segment'; readonly segment: Segment }
  | { readonly kind: 'snapshot'; readonly snapshot: PendingSnapshot }
  | { readonly kind: 'mark'; readonly tick: number; readonly complete: boolean };

/** What the uploader handles: everything but marks. */
export type UploadItem = Exclude<QueueItem, { readonly kind: 'mark' }>;

interface Waiter {
  readonly needTick: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

export class UploadQueue {
  private items: QueueItem[] = [];
  private waiters: Waiter[] = [];
  private rawBytes = 0;
  private lastTick = 0;
  /** The last tick whose mark is queued complete (not necessarily uploaded yet). */
  private lastCompleteTick = 0;
  private durable = 0;

  /** Starts a tick; returns its number. */
  beginTick(): number {
    return ++this.lastTick;
  }

  endTick(tick: number, complete: boolean): void {
    assert(tick === this.lastTick, 'ticks do not overlap');
    if (complete) this.lastCompleteTick = tick;
    this.items.push({ kind: 'mark', tick, complete });
    if (this.items.length === 1) this.shift(); // nothing to upload first
  }

  pushSegment(segment: Segment): void {
    assert(segment.raw.length > 0, 'a segment holds at least one frame');
    this.items.push({ kind: 'segment', segment });
    this.rawBytes += segment.raw.length;
  }

  pushSnapshot(snapshot: PendingSnapshot): void {
    this.items.push({ kind: 'snapshot', snapshot });
  }

  /** The next item to upload; marks at the front are consumed on the way. */
  peek(): UploadItem | undefined {
    while (this.items[0]?.kind === 'mark') this.shift();
    return this.items[0] as UploadItem | undefined;
  }

  /** Drops the front item: it was uploaded. */
  shift(): void {
    const item = this.items.shift();
    assert(item !== undefined, 'shift of an empty queue');
    if (item.kind === 'segment') this.rawBytes -= item.segment.raw.length;
    if (item.kind === 'mark' && item.complete && item.tick > this.durable) {
      this.durable = item.tick;
      while (this.waiters.length > 0 && (this.waiters[0] as Waiter).needTick <= this.durable)
        (this.waiters.shift() as Waiter).resolve();
    }
  }

  /** Resolves once a tick that starts after this call is complete and uploaded. */
  wait(): { promise: Promise<void>; cancel: (err: unknown) => void } {
    let waiter!: Waiter;
    const promise = new Promise<void>((resolve, reject) => {
      waiter = { needTick: this.lastTick + 1, resolve, reject };
    });
    this.waiters.push(waiter);
    const cancel = (err: unknown) => {
      const i = this.waiters.indexOf(waiter);
      if (i >= 0) {
        this.waiters.splice(i, 1);
        waiter.reject(err);
      }
    };
    return { promise, cancel };
  }

  /**
   * Drops everything queued, marks included, so no waiter is released by them: used when the
   * snapshot that starts a generation fails and everything after it is useless. Waiters stay and
   * are released by the next generation's snapshot.
   */
  discardAll(): void {
    this.items = [];
    this.rawBytes = 0;
  }

  /** Fails every waiter (close). */
  failAll(err: unknown): void {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  get bytes(): number {
    return this.rawBytes;
  }

  get length(): number {
    return this.items.filter((i) => i.kind !== 'mark').length;
  }

  /** Some waiter is not covered by any complete tick queued so far: another tick is needed. */
  get unserved(): boolean {
    const last = this.waiters.at(-1);
    return last !== undefined && last.needTick > this.lastCompleteTick;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  get durableTick(): number {
    return this.durable;
  }
}
