/**
 * The coordinator: the public API's operations over the protocol driver, the decision log and the
 * participants, without any transport (the gRPC layer wraps exactly this class). See DESIGN.md,
 * "Protocol: presumed-abort two-phase commit", and the files named below for each concern:
 *
 *   two-phase-commit.ts / one-phase-commit.ts / prepare.ts / decision.ts   the protocol
 *   commit-delivery.ts / decision-sender.ts                                phase two, re-drive
 *   in-doubt-sweep.ts                                                      orphaned prepares: presumed abort
 *   txn-lifecycle.ts                                                       a transaction's life in memory
 *   idempotency.ts   interactive.ts   txn-resolution.ts   txn-listing.ts   the rest of the API
 *   maintenance.ts   txn-table.ts   config.ts   metrics.ts
 *
 * The coordinator does not own the log or the participant clients: whoever made them closes them,
 * after `close()`.
 */
import { setMaxListeners } from 'node:events';
import type { ClientOp, ExecuteInput, TxnOutcome, TxnPage, TxnState, TxnView } from '../common/api.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import { TwopcError, describeError, invalidArgument, notFound } from '../common/errors.ts';
import { createLogger, type Logger } from '../common/log.ts';
import type { ParticipantClient, QueryResult, ReadResult } from '../common/protocol.ts';
import type { Row, SqlValue } from '../common/value.ts';
import { resolveCoordinatorConfig, type CoordinatorConfig } from './config.ts';
import type { DecisionLog, DecisionRecord } from './decision-log.ts';
import { IdempotencyKeys } from './idempotency.ts';
import { InDoubtSweep, type SweepRound } from './in-doubt-sweep.ts';
import { InteractiveTxns } from './interactive.ts';
import { CoordinatorMetrics, type MetricsSnapshot, type ProtocolTimings } from './metrics.ts';
import {
  planTransaction,
  resolveTimeoutMs,
  validateIdempotencyKey,
  validateOps,
  type ValidationContext,
} from './op-validation.ts';
import { startMaintenance } from './maintenance.ts';
import { createProtocolContext, type ProtocolContext } from './protocol-context.ts';
import { runQuery } from './query.ts';
import { isTxnId, type EntropySource } from './txn-id.ts';
import { TxnLifecycle } from './txn-lifecycle.ts';
import { listTransactions } from './txn-listing.ts';
import { TxnResolver } from './txn-resolution.ts';
import { TxnTable } from './txn-table.ts';

export interface CoordinatorOptions {
  /** Stable per process instance, e.g. 'c1'; sent in every Prepare. */
  readonly coordinatorId: string;
  readonly log: DecisionLog;
  /** Shard name -> client. */
  readonly participants: ReadonlyMap<string, ParticipantClient>;
  readonly config?: Partial<CoordinatorConfig>;
  readonly clock?: Clock;
  /** Jitter; seeded in tests and simulation. */
  readonly random?: () => number;
  /**
   * The random part of transaction ids (default crypto.randomBytes, for uniqueness across
   * coordinators and restarts). Only the deterministic simulator passes a seeded source.
   */
  readonly txnIdEntropy?: EntropySource;
  readonly logger?: Logger;
  /**
   * Set when several coordinator replicas share the log (replicas.ts): the coordinator ids, besides
   * its own, whose prepares this one settles; and no presumed abort of what another replica owns
   * (txn-resolution.ts).
   */
  readonly replicas?: {
    readonly ownsCoordinatorId: (coordinatorId: string) => boolean;
    /** The epoch this replica's log records are owned under (fixed; messages may carry a higher one). */
    readonly ownerEpoch: bigint;
  };
}

export class Coordinator {
  readonly config: CoordinatorConfig;
  private readonly ctx: ProtocolContext;
  private readonly metricsState = new CoordinatorMetrics();
  private readonly stopper = new AbortController();
  private readonly table: TxnTable;
  private readonly keys: IdempotencyKeys;
  private readonly interactive: InteractiveTxns;
  private readonly resolver: TxnResolver;
  private readonly lifecycle: TxnLifecycle;
  private readonly sweepState: InDoubtSweep;
  private readonly validation: ValidationContext;
  private readonly commitWrites = new Set<Promise<unknown>>();
  private readonly loops: Promise<void>[] = [];
  private closing: Promise<void> | undefined;

  constructor(options: CoordinatorOptions) {
    if (options.coordinatorId === '') throw invalidArgument('coordinator: coordinatorId is empty');
    if (options.participants.size === 0) throw invalidArgument('coordinator: no participants');
    this.config = resolveCoordinatorConfig(options.config);
    const clock = options.clock ?? systemClock;
    this.table = new TxnTable(this.config.activeTxnsMax, this.config.recentTxnsMax);
    // Every participant call listens on the stop signal while it runs. Calls in flight are bounded by
    // the active transactions and the pending decisions, each to every shard; the default cap of 10
    // would flag ordinary load as a listener leak.
    setMaxListeners(
      (this.config.activeTxnsMax + this.config.pendingDecisionsMax) * (options.participants.size + 1),
      this.stopper.signal,
    );
    this.ctx = createProtocolContext({
      coordinatorId: options.coordinatorId,
      log: options.log,
      participants: options.participants,
      config: this.config,
      clock,
      random: options.random ?? Math.random,
      logger: options.logger ?? createLogger('coordinator'),
      metrics: this.metricsState,
      stopSignal: this.stopper.signal,
      commitWrites: this.commitWrites,
      onEnded: (txnId) => {
        const txn = this.table.get(txnId);
        if (txn !== undefined) txn.acknowledged = true;
      },
    });
    this.validation = { shards: new Set(options.participants.keys()), config: this.config };
    this.resolver = new TxnResolver(this.ctx, this.table, options.replicas?.ownerEpoch);
    this.keys = new IdempotencyKeys({
      log: options.log,
      clock,
      resolveRecord: (r, waitMs) => this.resolver.outcomeOfRecord(r, waitMs),
    });
    this.interactive = new InteractiveTxns(this.ctx, this.validation, this.table);
    this.lifecycle = new TxnLifecycle({
      ctx: this.ctx,
      table: this.table,
      keys: this.keys,
      interactive: this.interactive,
      resolver: this.resolver,
      txnIdEntropy: options.txnIdEntropy,
    });
    this.sweepState = new InDoubtSweep({
      ctx: this.ctx,
      inMemory: (txnId) => this.table.get(txnId),
      settleIntent: (record) => this.resolver.resolveIntent(record),
      ...(options.replicas === undefined ? {} : { ownsCoordinatorId: options.replicas.ownsCoordinatorId }),
    });
  }

  /**
   * In the background: re-drives every logged COMMIT without END, and sweeps the participants for
   * prepares of this coordinator that nobody will decide (presumed abort, see in-doubt-sweep.ts);
   * then starts the re-drive, sweep and GC timers.
   */
  async start(): Promise<void> {
    this.checkOpen();
    if (this.loops.length > 0) return;
    this.loops.push(...startMaintenance(this.ctx), this.sweepState.start());
  }

  /**
   * Transactions a takeover moved to this replica (replicas.ts): re-drives the COMMITs, settles the
   * INTENTs (presumed abort), and sweeps the participants for the dead replica's prepares.
   */
  async adopt(txnIds: readonly string[]): Promise<void> {
    this.checkOpen();
    const records = await Promise.all(txnIds.map((id) => this.ctx.log.get(id)));
    const intents = records.filter((r) => r?.state === 'INTENT');
    if (records.some((r) => r?.state === 'COMMITTED')) await this.ctx.delivery.redriveFromLog();
    const settled = await Promise.allSettled(
      intents.map((r) => this.resolver.resolveIntent(r as DecisionRecord)),
    );
    for (const s of settled) {
      if (s.status === 'rejected')
        this.ctx.logger.warn('settling an adopted INTENT failed; the sweep retries', {
          error: describeError(s.reason),
        });
    }
    if (this.loops.length > 0) await this.sweepState.sweep();
  }

  /** One in-doubt sweep round now; once started, the coordinator runs them on a timer anyway. */
  sweepInDoubt(): Promise<SweepRound> {
    this.checkOpen();
    return this.sweepState.sweep();
  }

  async execute(input: ExecuteInput): Promise<TxnOutcome> {
    this.checkOpen();
    const timeoutMs = resolveTimeoutMs(input.timeoutMs, this.config);
    validateIdempotencyKey(input.idempotencyKey, this.config);
    if (!Array.isArray(input.ops) || input.ops.length === 0)
      throw invalidArgument('no ops: a transaction needs at least one op');
    validateOps(input.ops, this.validation);
    return this.lifecycle.execute(planTransaction(input.ops, new Map()), timeoutMs, input.idempotencyKey);
  }

  begin(input: { timeoutMs: number; idempotencyKey: string }): { txnId: string } {
    this.checkOpen();
    const timeoutMs = resolveTimeoutMs(input.timeoutMs, this.config);
    validateIdempotencyKey(input.idempotencyKey, this.config);
    const key = input.idempotencyKey;
    if (key !== '' && this.keys.has(key)) {
      const holder = this.keys.holder(key);
      if (holder !== undefined) return { txnId: holder.id };
      throw new TwopcError('UNAVAILABLE', 'a request with this idempotency key is in progress', {
        hint: 'retry shortly',
      });
    }
    this.interactive.checkCapacity();
    const txn = this.lifecycle.create(timeoutMs, key, true);
    this.interactive.add(txn);
    if (key !== '') this.keys.claim(key, txn);
    return { txnId: txn.id };
  }

  async read(txnId: string, shard: string, table: string, key: Row): Promise<ReadResult> {
    this.checkOpen();
    return this.interactive.read(txnId, shard, table, key);
  }

  write(txnId: string, ops: readonly ClientOp[]): { bufferedOps: number } {
    this.checkOpen();
    return this.interactive.write(txnId, ops);
  }

  /** Commits an interactive transaction; on a finished one, returns its outcome again. */
  async commit(txnId: string): Promise<TxnOutcome> {
    this.checkOpen();
    const taken = this.interactive.takeForCommit(txnId);
    if (taken === undefined) return this.lifecycle.outcomeOf(txnId);
    return this.lifecycle.commit(taken.txn, taken.plan);
  }

  async abort(txnId: string): Promise<'ABORTED' | 'COMMITTED'> {
    this.checkOpen();
    const txn = this.table.get(txnId);
    if (txn !== undefined) {
      if (txn.tryAbort('CLIENT_ABORT', 'the client aborted the transaction', this.ctx.clock.nowMs())) {
        this.interactive.forget(txnId);
        return 'ABORTED';
      }
      // A commit is decided, or the one-phase participant holds the decision: wait for it.
      return (await this.lifecycle.awaitDecision(txn)).outcome;
    }
    const record = await this.ctx.log.get(txnId);
    if (record === undefined) throw notFound(`no transaction ${txnId}`);
    return (await this.resolver.outcomeOfRecord(record, this.config.outcomeProbeWaitMs)).outcome;
  }

  async getTransaction(txnId: string): Promise<TxnView> {
    this.checkOpen();
    if (!isTxnId(txnId))
      throw notFound(`no transaction ${txnId}`, 'transaction ids look like tx_ followed by 32 hex digits');
    return this.resolver.view(txnId);
  }

  async listTransactions(input: {
    states: readonly TxnState[];
    pageSize: number;
    pageToken: string;
  }): Promise<TxnPage> {
    this.checkOpen();
    return listTransactions({ table: this.table, log: this.ctx.log, config: this.config }, input);
  }

  async query(shard: string, sql: string, params: readonly SqlValue[]): Promise<QueryResult> {
    this.checkOpen();
    return runQuery(this.ctx, this.validation, shard, sql, params);
  }

  /** Stage and protocol-run latencies (metrics.ts); live objects, read on each scrape. */
  timings(): ProtocolTimings {
    return this.metricsState.timings;
  }

  /** The decision log's fencing epoch of this open (strictly greater on every restart). */
  get epoch(): bigint {
    return this.ctx.log.epoch;
  }

  metrics(): MetricsSnapshot {
    return this.metricsState.snapshot({
      inFlight: this.table.activeCount,
      interactiveOpen: this.interactive.size,
      decisionLog: this.ctx.log.stats(),
    });
  }

  /**
   * Stops timers and re-sends, aborts what is not decided yet (presumed abort makes that free), and
   * waits for COMMIT records being forced, so every client told COMMITTED has a durable decision.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const now = this.ctx.clock.nowMs();
      this.interactive.abortAll('the coordinator is shutting down', now);
      for (const txn of this.table.activeTxns())
        txn.tryAbort('UNAVAILABLE', 'the coordinator is shutting down', now);
      await Promise.all([...this.commitWrites]);
      this.stopper.abort(new TwopcError('UNAVAILABLE', 'the coordinator is shutting down'));
      await Promise.all(this.loops);
      await this.ctx.sender.drain();
    })();
    return this.closing;
  }

  private checkOpen(): void {
    if (this.closing !== undefined)
      throw new TwopcError('UNAVAILABLE', 'the coordinator is shutting down', {
        hint: 'retry on another coordinator',
      });
  }
}
