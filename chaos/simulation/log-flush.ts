/**
 * The decision log's group commit, driven by the scheduler instead of real timers.
 *
 * SqliteDecisionLog batches writes in a GroupCommitQueue that flushes a forced batch on the next
 * setImmediate and a lazy-only batch after a real `setTimeout(lazyFlushDelayMs)`. A real 10 ms timer
 * would make lazy writes (END, keyed outcomes) land at a virtual time that depends on how fast the
 * machine is: not reproducible. So the simulator takes over the queue's `schedule` step: a forced
 * batch flushes one simulated fsync later, a lazy one `lazyFlushDelayMs` of virtual time later, and a
 * coordinator crash in between loses the queued batch, or not (the kill came just after the fsync).
 *
 * This reaches into private members of GroupCommitQueue (`schedule`, `flush`, `queue`), checked at
 * run time so a refactor fails loudly here instead of silently running on real time. The proper fix
 * is an injectable flush scheduler in coordinator/decision-log/group-commit.ts (reported with this
 * work); once it exists this file shrinks to passing one.
 */
import { GroupCommitQueue, lazyFlushDelayMs } from '../../coordinator/decision-log/group-commit.ts';
import type { SqliteDecisionLog } from '../../coordinator/decision-log/sqlite.ts';
import type { SimEvent } from './event-queue.ts';
import type { Incarnation } from './incarnation.ts';
import type { Scheduler } from './scheduler.ts';

/** The private parts of GroupCommitQueue this file drives. */
interface QueueInternals {
  schedule(forced: boolean): void;
  flush(): void;
  readonly queue: unknown[];
}

export class LogFlushControl {
  private readonly internals: QueueInternals;
  private event: SimEvent | undefined;
  private eventForced = false;

  constructor(
    log: SqliteDecisionLog,
    private readonly scheduler: Scheduler,
    private readonly incarnation: Incarnation,
    /** Simulated fsync latency of one forced batch, µs. */
    private readonly fsyncUs: () => number,
  ) {
    this.internals = queueInternals(log);
    this.internals.schedule = (forced) => this.schedule(forced);
  }

  /** Writes queued and not yet flushed. */
  get pending(): number {
    return this.internals.queue.length;
  }

  /** The coordinator was killed: no flush comes; `loseQueued` drops what no fsync covered yet. */
  crash(loseQueued: boolean): void {
    this.scheduler.cancel(this.event);
    this.event = undefined;
    if (loseQueued) this.internals.queue.length = 0;
  }

  /** GroupCommitQueue.schedule's contract: a forced write flushes soon, a lazy one waits for company. */
  private schedule(forced: boolean): void {
    if (this.event !== undefined && (this.eventForced || !forced)) return;
    this.scheduler.cancel(this.event); // a forced write pulls a waiting lazy batch forward
    this.eventForced = forced;
    const delayUs = forced ? this.fsyncUs() : lazyFlushDelayMs * 1000;
    this.event = this.scheduler.after(delayUs, this.incarnation, () => {
      this.event = undefined;
      this.internals.flush();
    });
  }
}

function queueInternals(log: SqliteDecisionLog): QueueInternals {
  const queue: unknown = (log as unknown as { queue?: unknown }).queue;
  const q = queue as Partial<QueueInternals> | undefined;
  if (
    !(queue instanceof GroupCommitQueue) ||
    typeof q?.schedule !== 'function' ||
    typeof q.flush !== 'function' ||
    !Array.isArray(q.queue)
  ) {
    throw new Error(
      'simulation: SqliteDecisionLog no longer has a GroupCommitQueue with schedule/flush/queue; ' +
        'update chaos/simulation/log-flush.ts (better: give group-commit.ts an injectable flush scheduler)',
    );
  }
  return q as QueueInternals;
}
