/**
 * Idempotency keys: a retried request with the same key gets the first transaction's outcome and never
 * applies twice, also across a coordinator restart.
 *
 * - In memory, a key maps to the transaction holding it (or to the first caller's in-progress look-up).
 *   Concurrent callers with the same key wait for the first one.
 * - In the log, a keyed transaction writes a forced INTENT (key -> txn id, shards) before any Prepare
 *   is sent (unkeyed transactions pay nothing); the COMMIT record carries the key; other outcomes are
 *   recorded lazily. The in-memory entry is released only after that record is written, so a retry
 *   never reads the log before the first outcome is in it.
 * - A key found in the log with no outcome belongs to a transaction the coordinator stopped before
 *   deciding; `resolveRecord` settles it (presumed abort, or the one shard's answer).
 *
 * Not detected: the same key with different ops. The first transaction's outcome is returned.
 * Keys expire with their log record (`decisionRetentionMs`).
 */
import type { TxnOutcome } from '../common/api.ts';
import { assert } from '../common/assert.ts';
import type { Clock } from '../common/clock.ts';
import { TwopcError, describeError } from '../common/errors.ts';
import type { DecisionLog, DecisionRecord } from './decision-log.ts';
import { answer } from './decision.ts';
import { settlesWithin } from './participant-call.ts';
import type { TxnPlan } from './op-validation.ts';
import type { ProtocolContext } from './protocol-context.ts';
import type { Transaction } from './transaction.ts';
import { runProtocol } from './two-phase-commit.ts';

interface KeyEntry {
  /** The transaction holding the key, once there is one. */
  txn: Transaction | undefined;
  /** The first caller's work, for callers that arrive while `txn` is not yet known. */
  first: Promise<TxnOutcome> | undefined;
}

export interface KeyedDeps {
  readonly log: DecisionLog;
  readonly clock: Clock;
  /** The outcome of a transaction found in the log under the key. */
  resolveRecord(record: DecisionRecord, waitMs: number): Promise<TxnOutcome>;
}

export class IdempotencyKeys {
  private readonly entries = new Map<string, KeyEntry>();

  constructor(private readonly deps: KeyedDeps) {}

  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The transaction holding `key` in memory, if any. */
  holder(key: string): Transaction | undefined {
    return this.entries.get(key)?.txn;
  }

  /** Binds `key` to a new interactive transaction (Begin); the key must be free. */
  claim(key: string, txn: Transaction): void {
    assert(!this.entries.has(key), `idempotency key claimed twice`);
    this.entries.set(key, { txn, first: undefined });
  }

  /** Releases `txn`'s key once its outcome is recorded. */
  release(txn: Transaction): void {
    const entry = this.entries.get(txn.idempotencyKey);
    if (entry?.txn === txn) this.entries.delete(txn.idempotencyKey);
  }

  /**
   * Runs `fresh` under `key`, unless the key already belongs to a transaction: then that one's outcome
   * is returned (waiting at most `waitMs` for it). `own` is the interactive transaction that holds the
   * key since Begin. `fresh` must call `bind` with its transaction before its first await.
   */
  run(
    key: string,
    waitMs: number,
    own: Transaction | undefined,
    fresh: (bind: (txn: Transaction) => void) => Promise<TxnOutcome>,
  ): Promise<TxnOutcome> {
    const existing = this.entries.get(key);
    if (existing !== undefined && (own === undefined || existing.txn !== own))
      return this.waitFor(existing, waitMs);
    const entry: KeyEntry = existing ?? { txn: undefined, first: undefined };
    this.entries.set(key, entry);
    const first = (async () => {
      const record = await this.deps.log.byIdempotencyKey(key);
      if (record !== undefined && record.txnId !== own?.id) {
        // The key was used before (e.g. before a restart): that transaction is the answer.
        own?.tryAbort(
          'CLIENT_ABORT',
          `superseded: idempotency key already used by ${record.txnId}`,
          this.deps.clock.nowMs(),
        );
        return this.deps.resolveRecord(record, waitMs);
      }
      return fresh((txn) => {
        assert(entry.txn === undefined || entry.txn === txn, 'idempotency key bound to two transactions');
        entry.txn = txn;
      });
    })();
    entry.first = first;
    // Without a transaction, nothing else will release the key: do it when the first call is done.
    const releaseIfUnbound = () => {
      if (entry.txn === undefined && this.entries.get(key) === entry) this.entries.delete(key);
    };
    first.then(releaseIfUnbound, releaseIfUnbound);
    return first;
  }

  /**
   * A later caller's answer: the first call's result when it has one (it is the key's answer, even
   * when the first call found an older transaction in the log), else the transaction's outcome once
   * decided (the first call may have failed with the outcome unknown, e.g. a COMMIT not yet forced).
   */
  private async waitFor(entry: KeyEntry, waitMs: number): Promise<TxnOutcome> {
    const { clock } = this.deps;
    const deadlineMs = clock.nowMs() + waitMs;
    const first = entry.first;
    if (first !== undefined) {
      if (!(await settlesWithin(clock, first, waitMs))) throw stillRunning(entry.txn?.id);
      try {
        return await first;
      } catch (err) {
        if (entry.txn === undefined) throw err;
      }
    }
    const txn = entry.txn;
    assert(txn !== undefined, 'idempotency entry with neither a transaction nor a first call');
    if (txn.outcome === undefined && !(await settlesWithin(clock, txn.settled, deadlineMs - clock.nowMs()))) {
      throw stillRunning(txn.id);
    }
    return answer(txn, txn.outcome as TxnOutcome);
  }
}

function stillRunning(txnId: string | undefined): TwopcError {
  return new TwopcError(
    'UNAVAILABLE',
    `the transaction with this idempotency key${txnId ? ` (${txnId})` : ''} is still running`,
    {
      hint: 'retry later with the same idempotency key',
    },
  );
}

/**
 * Runs a keyed transaction: its INTENT first, then the protocol. If another transaction claimed the
 * key in the log first, this one is dropped (nothing was sent) and the other one's outcome returned.
 */
export async function runWithIntent(
  ctx: ProtocolContext,
  txn: Transaction,
  plan: TxnPlan,
  outcomeOfRecord: (record: DecisionRecord) => Promise<TxnOutcome>,
): Promise<TxnOutcome> {
  if (plan.shards.length > 0) {
    const owner = await forceIntent(ctx.log, ctx.clock, txn, plan.shards);
    if (owner !== txn.id) {
      txn.tryAbort('CLIENT_ABORT', `superseded: idempotency key already used by ${owner}`, ctx.clock.nowMs());
      const record = await ctx.log.get(owner);
      if (record === undefined)
        throw new TwopcError('UNAVAILABLE', `idempotency key owner ${owner} left the log; retry`);
      return outcomeOfRecord(record);
    }
  }
  return runProtocol(ctx, txn, plan);
}

/**
 * Forces the INTENT of a keyed transaction before any Prepare. Resolves with the id of the
 * transaction that owns the key (another one if it was claimed first). If the write fails, the
 * transaction is aborted (nothing was sent anywhere) and the client gets UNAVAILABLE: the key's fate
 * is unknown, so claiming ABORTED could contradict a later retry.
 */
export async function forceIntent(
  log: DecisionLog,
  clock: Clock,
  txn: Transaction,
  shards: readonly string[],
): Promise<string> {
  try {
    return await log.logIntent({
      txnId: txn.id,
      idempotencyKey: txn.idempotencyKey,
      shards,
      atMs: clock.nowMs(),
    });
  } catch (err) {
    txn.tryAbort('UNAVAILABLE', `decision log unavailable: ${describeError(err)}`, clock.nowMs());
    throw new TwopcError(
      'UNAVAILABLE',
      `txn ${txn.id}: its idempotency key could not be recorded; nothing was applied`,
      {
        cause: err,
      },
    );
  }
}

/**
 * Records a keyed transaction's outcome when nothing else does: it reached the participants and has
 * no COMMIT record (aborted, or committed in one phase). Lazy.
 */
export function recordKeyedOutcome(log: DecisionLog, txn: Transaction, outcome: TxnOutcome): Promise<void> {
  const shards = [...txn.shards, ...txn.readOnlyShards];
  if (txn.idempotencyKey === '' || shards.length === 0 || outcome.decisionSeq > 0n) return Promise.resolve();
  return log.logOutcome({
    txnId: txn.id,
    outcome: outcome.outcome,
    shards,
    idempotencyKey: txn.idempotencyKey,
    ...(outcome.abortReason === undefined ? {} : { abortReason: outcome.abortReason }),
    reason: outcome.reason,
    invalid: txn.invalid,
    startedAtMs: txn.startedAtMs,
    atMs: txn.decidedAtMs,
  });
}
