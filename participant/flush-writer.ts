/**
 * One flush of the batcher (batcher.ts), written and delivered. The decisions and prepares it took
 * are written by ONE `store.decideAndPrepare` call when both kinds are waiting (one SQLite
 * transaction, one fsync), else by ONE `store.decideBatch` and ONE `store.prepareBatch` call (one
 * each). The store gives every prepare its own savepoint, so one NO does not sink the others; a
 * shared call that fails as a whole is redone as the two separate batches, which isolate the message
 * at fault.
 *
 * Results are delivered synchronously from the flush (the `settle` callbacks), so a Session can
 * coalesce every reply one flush produced into one ParticipantBatch.
 *
 * With sync WAL shipping (a `durability` gate), a flush's votes and acks are written the same way
 * but held: they are delivered together, from one gate callback, once the replica holds the WAL
 * segment that contains them — or, if it does not confirm in time, as UNAVAILABLE. A YES vote is
 * then a promise that survives the loss of the shard's disk (DESIGN.md, invariant 2).
 */
import { assert } from '../common/assert.ts';
import type { Logger } from '../common/log.ts';
import { LatencyHistogram } from '../common/metrics-text.ts';
import type { Ack, DecisionMessage, PrepareMessage, Vote } from '../common/protocol.ts';

/** The parts of ShardStore the batcher drives. */
export interface BatchStore {
  prepareBatch(messages: readonly PrepareMessage[]): Vote[];
  decideBatch(messages: readonly DecisionMessage[]): Ack[];
  /**
   * Optional: both kinds in one local transaction (one fsync instead of two). Throws, having written
   * nothing, if any message fails the batch; the batcher then writes the two batches separately.
   */
  decideAndPrepare?(
    decisions: readonly DecisionMessage[],
    prepares: readonly PrepareMessage[],
  ): { readonly acks: Ack[]; readonly votes: Vote[] };
}

export type Settled<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };
export type Settle<T> = (result: Settled<T>) => void;

/** Delivers one held result: as written, or failed with the gate's error. */
type Release = (gateError: unknown) => void;

/** A queued message and the callback its result is delivered to. */
export interface Entry<M, R> {
  readonly message: M;
  readonly settle: Settle<R>;
}

/**
 * Holds deliveries until what is committed locally is in the replica (participant/wal/durability-gate.ts).
 * `hold` calls `release()` once durable or `release(error)` if not in time; it never throws.
 */
export interface Durability {
  hold(release: (error?: unknown) => void): void;
  /** Resolves when nothing is held. */
  idle(): Promise<void>;
}

/** What the flushes wrote and delivered (the batcher's stats, batcher.ts). */
export interface FlushStats {
  readonly prepares: number;
  readonly decisions: number;
  readonly prepareBatches: number;
  readonly decisionBatches: number;
  /** The largest batch written so far. */
  readonly batchMessagesPeak: number;
  /** Flushes whose decisions and prepares shared one local transaction. */
  readonly sharedFlushes: number;
  /** Sync replication: flushes whose results were held for the replica, and how many of those failed. */
  readonly heldFlushes: number;
  readonly heldFailures: number;
}

/** The kinds of store call a flush makes: prepares, decisions, or both in one local transaction. */
export const FLUSH_KINDS = ['prepare', 'decision', 'shared'] as const;
export type FlushKind = (typeof FLUSH_KINDS)[number];

export class FlushWriter {
  /**
   * How long each store call took: the local SQLite transaction, fsync included. Measured with
   * performance.now() (observations only; nothing reads them but the metrics endpoint).
   */
  readonly timings: Readonly<Record<FlushKind, LatencyHistogram>> = {
    prepare: new LatencyHistogram(),
    decision: new LatencyHistogram(),
    shared: new LatencyHistogram(),
  };
  private readonly store: BatchStore;
  private readonly logger: Logger;
  private readonly durability: Durability | undefined;
  private counters = {
    prepares: 0,
    decisions: 0,
    prepareBatches: 0,
    decisionBatches: 0,
    batchMessagesPeak: 0,
    sharedFlushes: 0,
    heldFlushes: 0,
    heldFailures: 0,
  };

  constructor(options: { store: BatchStore; logger: Logger; durability: Durability | undefined }) {
    this.store = options.store;
    this.logger = options.logger;
    this.durability = options.durability;
  }

  stats(): FlushStats {
    return { ...this.counters };
  }

  /**
   * Writes one batch of each kind, in one local transaction when the store can. Decisions go first:
   * a commit or abort releases locks that a prepare in the same flush may need, so it is better
   * voted on after them.
   */
  write(
    decisions: readonly Entry<DecisionMessage, Ack>[],
    prepares: readonly Entry<PrepareMessage, Vote>[],
  ): void {
    // Without a gate, results are delivered as they are written; with one, after both writes.
    const held: Release[] | undefined = this.durability === undefined ? undefined : [];
    if (decisions.length > 0 && prepares.length > 0 && this.writeShared(decisions, prepares, held)) {
      this.counters.decisionBatches++;
      this.counters.decisions += decisions.length;
      this.counters.prepareBatches++;
      this.counters.prepares += prepares.length;
    } else {
      this.writeApart(decisions, prepares, held);
    }
    if (this.durability !== undefined && held !== undefined && held.length > 0)
      this.holdUntilDurable(this.durability, held);
    this.counters.batchMessagesPeak = Math.max(
      this.counters.batchMessagesPeak,
      decisions.length,
      prepares.length,
    );
  }

  private writeApart(
    decisions: readonly Entry<DecisionMessage, Ack>[],
    prepares: readonly Entry<PrepareMessage, Vote>[],
    held: Release[] | undefined,
  ): void {
    if (decisions.length > 0) {
      this.counters.decisionBatches++;
      this.counters.decisions += decisions.length;
      this.writeBatch(
        decisions,
        (ms) => this.store.decideBatch(ms),
        'decideBatch',
        held,
        this.timings.decision,
      );
    }
    if (prepares.length > 0) {
      this.counters.prepareBatches++;
      this.counters.prepares += prepares.length;
      this.writeBatch(
        prepares,
        (ms) => this.store.prepareBatch(ms),
        'prepareBatch',
        held,
        this.timings.prepare,
      );
    }
  }

  /**
   * Both kinds in one store call, if the store can. False when it cannot or the call failed (it
   * then wrote nothing): the caller writes them apart, which isolates a failing message.
   */
  private writeShared(
    decisions: readonly Entry<DecisionMessage, Ack>[],
    prepares: readonly Entry<PrepareMessage, Vote>[],
    held: Release[] | undefined,
  ): boolean {
    const shared = this.store.decideAndPrepare;
    if (shared === undefined) return false;
    let acks: Ack[];
    let votes: Vote[];
    const startedMs = performance.now();
    try {
      ({ acks, votes } = shared.call(
        this.store,
        decisions.map((e) => e.message),
        prepares.map((e) => e.message),
      ));
      this.timings.shared.observeMs(performance.now() - startedMs);
    } catch (error) {
      this.logger.debug('shared flush failed; writing decisions and prepares apart', {
        error: error instanceof Error ? error.message : String(error),
      });
      return false;
    }
    assert(
      acks.length === decisions.length && votes.length === prepares.length,
      `decideAndPrepare returned ${acks.length}/${votes.length} results for ${decisions.length}/${prepares.length} messages`,
    );
    this.counters.sharedFlushes++;
    this.settleWritten(decisions, acks, 'decideAndPrepare', held);
    this.settleWritten(prepares, votes, 'decideAndPrepare', held);
    return true;
  }

  /**
   * One store call for the batch. If it throws (an I/O error, a bug), its SQLite transaction rolled
   * back as a whole, so each message is retried alone: one poisonous message fails only itself.
   * Written results go to `held` when given (sync replication); a failure wrote nothing, so it is
   * delivered at once either way.
   */
  private writeBatch<M extends { txnId: string }, R extends { txnId: string }>(
    batch: readonly Entry<M, R>[],
    call: (messages: readonly M[]) => R[],
    what: string,
    held: Release[] | undefined,
    timing: LatencyHistogram,
  ): void {
    const startedMs = performance.now();
    const results = this.attempt(batch, call, what);
    if (results.ok) {
      timing.observeMs(performance.now() - startedMs);
      this.settleWritten(batch, results.value, what, held);
      return;
    }
    if (batch.length === 1) {
      this.deliver(batch[0] as Entry<M, R>, results);
      return;
    }
    this.logger.warn(`${what} failed for a batch; retrying its messages one by one`, {
      messages: batch.length,
      error: results.error instanceof Error ? results.error.message : String(results.error),
    });
    for (const entry of batch) this.writeBatch([entry], call, what, held, timing);
  }

  /** Delivers written results (to `held` when a durability gate holds them). */
  private settleWritten<M extends { txnId: string }, R extends { txnId: string }>(
    batch: readonly Entry<M, R>[],
    values: readonly R[],
    what: string,
    held: Release[] | undefined,
  ): void {
    batch.forEach((entry, i) => {
      const value = values[i] as R;
      assert(
        value.txnId === entry.message.txnId,
        `${what} result ${i} is for ${value.txnId}, not ${entry.message.txnId}`,
      );
      const result: Settled<R> = { ok: true, value };
      if (held === undefined) this.deliver(entry, result);
      else
        held.push((gateError) =>
          this.deliver(entry, gateError === undefined ? result : { ok: false, error: gateError }),
        );
    });
  }

  /**
   * Delivers a flush's results together once the gate releases them: from one callback, so a
   * Session still sends them as one ParticipantBatch. On a gate failure each one fails as UNAVAILABLE:
   * its local commit stands (and is shipped when the replica is back), but the promise it makes to
   * the coordinator cannot be given yet. A failed YES makes the coordinator abort; a failed commit
   * ack makes it re-send the decision (idempotent).
   */
  private holdUntilDurable(durability: Durability, held: readonly Release[]): void {
    this.counters.heldFlushes++;
    durability.hold((error) => {
      if (error !== undefined) {
        this.counters.heldFailures++;
        this.logger.warn('the replica did not confirm a flush in time; its votes and acks fail', {
          deliveries: held.length,
          error,
        });
      }
      for (const release of held) release(error);
    });
  }

  /** A throwing settle callback is a bug in its caller; it must not stop the rest of the batch. */
  private deliver<M, R>(entry: Entry<M, R>, result: Settled<R>): void {
    try {
      entry.settle(result);
    } catch (err) {
      this.logger.error('batch result callback threw', { error: err, stack: (err as Error)?.stack });
    }
  }

  private attempt<M extends { txnId: string }, R extends { txnId: string }>(
    batch: readonly Entry<M, R>[],
    call: (messages: readonly M[]) => R[],
    what: string,
  ): Settled<R[]> {
    try {
      const results = call(batch.map((e) => e.message));
      assert(
        results.length === batch.length,
        `${what} returned ${results.length} results for ${batch.length} messages`,
      );
      batch.forEach((e, i) =>
        assert(
          results[i]?.txnId === e.message.txnId,
          `${what} result ${i} is for ${results[i]?.txnId}, not ${e.message.txnId}`,
        ),
      );
      return { ok: true, value: results };
    } catch (error) {
      return { ok: false, error };
    }
  }
}
