/**
 * A client transaction's life in the coordinator's memory, behind the API operations of
 * coordinator.ts (which validate the request and check the coordinator is open): created with an id
 * and a deadline in the table; run through the protocol, under its idempotency key if it has one
 * (idempotency.ts); counted and retired once decided, its keyed outcome recorded in the log; and the
 * outcome of one the client can no longer act on, for a Commit repeated or an Abort that came too late.
 */
import type { TxnOutcome } from '../common/api.ts';
import { describeError, notFound } from '../common/errors.ts';
import { recordKeyedOutcome, runWithIntent, type IdempotencyKeys } from './idempotency.ts';
import type { InteractiveTxns } from './interactive.ts';
import type { TxnPlan } from './op-validation.ts';
import type { ProtocolContext } from './protocol-context.ts';
import { Transaction } from './transaction.ts';
import { TxnIdGenerator, type EntropySource } from './txn-id.ts';
import { awaitOutcome, type TxnResolver } from './txn-resolution.ts';
import type { TxnTable } from './txn-table.ts';
import { runProtocol } from './two-phase-commit.ts';

export class TxnLifecycle {
  private readonly ctx: ProtocolContext;
  private readonly table: TxnTable;
  private readonly keys: IdempotencyKeys;
  private readonly interactive: InteractiveTxns;
  private readonly resolver: TxnResolver;
  private readonly ids: TxnIdGenerator;
  private readonly commits = new Map<string, Promise<TxnOutcome>>();

  constructor(options: {
    ctx: ProtocolContext;
    table: TxnTable;
    keys: IdempotencyKeys;
    interactive: InteractiveTxns;
    resolver: TxnResolver;
    /** The random part of transaction ids (CoordinatorOptions.txnIdEntropy). */
    txnIdEntropy: EntropySource | undefined;
  }) {
    this.ctx = options.ctx;
    this.table = options.table;
    this.keys = options.keys;
    this.interactive = options.interactive;
    this.resolver = options.resolver;
    this.ids = new TxnIdGenerator(options.txnIdEntropy);
  }

  /** A new transaction in the table; its bookkeeping (`onSettled`) runs once it is decided. */
  create(timeoutMs: number, idempotencyKey: string, interactive: boolean): Transaction {
    this.table.checkCapacity();
    const now = this.ctx.clock.nowMs();
    const txn = new Transaction({
      id: this.ids.next(now),
      startedAtMs: now,
      deadlineMs: now + timeoutMs,
      idempotencyKey,
      interactive,
    });
    this.table.add(txn);
    txn.settled
      .then((outcome) => this.onSettled(txn, outcome))
      .catch((err: unknown) =>
        this.ctx.logger.error('bookkeeping after a decision failed', {
          txnId: txn.id,
          error: describeError(err),
        }),
      );
    return txn;
  }

  /** Runs a one-shot transaction (Execute), under its idempotency key unless that is empty. */
  execute(plan: TxnPlan, timeoutMs: number, key: string): Promise<TxnOutcome> {
    if (key === '') return runProtocol(this.ctx, this.create(timeoutMs, '', false), plan);
    return this.keys.run(key, timeoutMs, undefined, (bind) => {
      const txn = this.create(timeoutMs, key, false);
      bind(txn);
      return runWithIntent(this.ctx, txn, plan, (r) => this.resolver.outcomeOfRecord(r, timeoutMs));
    });
  }

  /** Commits an interactive transaction taken from its buffers; remembered while it runs (`outcomeOf`). */
  commit(txn: Transaction, plan: TxnPlan): Promise<TxnOutcome> {
    const waitMs = Math.max(1, txn.deadlineMs - this.ctx.clock.nowMs());
    const run =
      txn.idempotencyKey === ''
        ? runProtocol(this.ctx, txn, plan)
        : this.keys.run(txn.idempotencyKey, waitMs, txn, (bind) => {
            bind(txn);
            return runWithIntent(this.ctx, txn, plan, (r) => this.resolver.outcomeOfRecord(r, waitMs));
          });
    this.commits.set(txn.id, run);
    const forget = () => this.commits.delete(txn.id);
    run.then(forget, forget);
    return run;
  }

  /** Commit on a transaction that is not open: its outcome, however it ended. */
  async outcomeOf(txnId: string): Promise<TxnOutcome> {
    const running = this.commits.get(txnId);
    if (running !== undefined) return running;
    const txn = this.table.get(txnId);
    if (txn !== undefined) return this.awaitDecision(txn);
    const record = await this.ctx.log.get(txnId);
    if (record !== undefined)
      return this.resolver.outcomeOfRecord(record, this.ctx.config.outcomeProbeWaitMs);
    throw notFound(
      `no transaction ${txnId}`,
      'Begin first; finished transactions are remembered for a while only',
    );
  }

  /** The outcome of a transaction in memory, waiting for a decision someone else is making. */
  awaitDecision(txn: Transaction): Promise<TxnOutcome> {
    return awaitOutcome(this.ctx, txn, this.undecidedWaitMs());
  }

  /** Bookkeeping once a transaction is decided: metrics, the recent window, the keyed outcome record. */
  private onSettled(txn: Transaction, outcome: TxnOutcome): void {
    const { metrics, log, logger } = this.ctx;
    if (outcome.outcome === 'COMMITTED') metrics.committed++;
    else metrics.countAbort(outcome.abortReason ?? 'UNAVAILABLE');
    if (txn.invalid) metrics.invalid++;
    this.table.finish(txn);
    this.interactive.forget(txn.id);
    if (txn.idempotencyKey === '') return;
    // The key stays held in memory until the outcome is in the log, so a retry never reads it early.
    recordKeyedOutcome(log, txn, outcome)
      .catch((err: unknown) =>
        logger.warn('recording a keyed outcome failed; a retry will ask the shards', {
          txnId: txn.id,
          error: describeError(err),
        }),
      )
      .finally(() => this.keys.release(txn));
  }

  /** How long a caller waits for a decision someone else is making (a prepare, then an Abort's ack). */
  private undecidedWaitMs(): number {
    return this.ctx.config.prepareTimeoutMs + this.ctx.config.outcomeProbeWaitMs;
  }
}
