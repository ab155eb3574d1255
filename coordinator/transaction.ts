/**
 * One transaction's state machine at the coordinator. The decision is made here, exactly once:
 *
 *     ACTIVE ──> PREPARING ──> COMMIT_DECIDED ──> COMMITTED
 *       │  \          │   \──────────────────────/^   (all READ_ONLY: no record)
 *       │   \         v                          │
 *       │    \──> ONE_PHASE ─────────────────────┘
 *       │             │  (the participant decides; we learn it from its vote or an Abort's ack)
 *       v             v
 *     ABORTED <───────┘  (also from PREPARING)
 *
 * - PREPARING may be aborted by anyone (a NO, a timeout, the client, shutdown).
 * - ONE_PHASE may not: the only participant may commit on its own; only its answer settles it.
 * - COMMIT_DECIDED is entered before the COMMIT record is forced. From then on nothing can abort the
 *   transaction: a timeout or a client Abort racing the log write sees `tryAbort` return false.
 *   So once anything has said ABORTED, `decideCommit` returns false and no COMMIT is ever logged.
 */
import { setMaxListeners } from 'node:events';
import { assert } from '../common/assert.ts';
import type { TxnOutcome, TxnState, TxnView } from '../common/api.ts';
import { TwopcError } from '../common/errors.ts';
import type { AbortReason } from '../common/protocol.ts';

/** Listeners on one transaction's abort signal: above readsPerTxnMax's default plus a call per shard. */
const txnSignalListenersMax = 2_048;

export const TXN_PHASES = [
  'ACTIVE',
  'PREPARING',
  'ONE_PHASE',
  'COMMIT_DECIDED',
  'COMMITTED',
  'ABORTED',
] as const;
export type TxnPhase = (typeof TXN_PHASES)[number];

export interface TxnInit {
  readonly id: string;
  readonly startedAtMs: number;
  readonly deadlineMs: number;
  /** '' = none. */
  readonly idempotencyKey: string;
  readonly interactive: boolean;
}

export class Transaction {
  readonly id: string;
  readonly startedAtMs: number;
  readonly deadlineMs: number;
  readonly idempotencyKey: string;
  readonly interactive: boolean;
  /** Every shard involved (set when preparing starts). */
  shards: readonly string[] = [];
  /** Shards that voted READ_ONLY. */
  readOnlyShards: readonly string[] = [];
  decidedAtMs = 0;
  /** A participant refused the request as malformed: the client gets INVALID_ARGUMENT. */
  invalid = false;
  /** Every participant acknowledged the commit (or none needed to). */
  acknowledged = false;
  /** Resolves once, with the outcome, when the transaction is decided and durable. Never rejects. */
  readonly settled: Promise<TxnOutcome>;
  private phaseValue: TxnPhase = 'ACTIVE';
  private result: TxnOutcome | undefined;
  private resolveSettled!: (outcome: TxnOutcome) => void;
  private readonly aborter = new AbortController();

  constructor(init: TxnInit) {
    assert(init.deadlineMs >= init.startedAtMs, `txn ${init.id}: deadline before start`);
    // Every call made for this transaction listens on its signal: concurrent reads (at most
    // readsPerTxnMax) plus a prepare and a decision per shard. Node's default cap of 10 would flag an
    // ordinary interactive transaction as a listener leak.
    setMaxListeners(txnSignalListenersMax, this.aborter.signal);
    this.id = init.id;
    this.startedAtMs = init.startedAtMs;
    this.deadlineMs = init.deadlineMs;
    this.idempotencyKey = init.idempotencyKey;
    this.interactive = init.interactive;
    this.settled = new Promise((resolve) => (this.resolveSettled = resolve));
  }

  get phase(): TxnPhase {
    return this.phaseValue;
  }

  get outcome(): TxnOutcome | undefined {
    return this.result;
  }

  /** Aborts (with a TwopcError reason) when the transaction is decided ABORTED: stops waiting on votes. */
  get abortSignal(): AbortSignal {
    return this.aborter.signal;
  }

  startPreparing(shards: readonly string[], onePhase: boolean): void {
    assert(this.phaseValue === 'ACTIVE', `txn ${this.id}: prepare from ${this.phaseValue}`);
    assert(
      onePhase ? shards.length === 1 : shards.length > 1,
      `txn ${this.id}: ${shards.length} shards, onePhase=${onePhase}`,
    );
    this.shards = shards;
    this.phaseValue = onePhase ? 'ONE_PHASE' : 'PREPARING';
  }

  /** Every participant voted YES (or READ_ONLY): commit, unless something aborted it first. */
  decideCommit(): boolean {
    if (this.phaseValue === 'ABORTED') return false;
    assert(
      this.phaseValue === 'PREPARING' || this.phaseValue === 'ONE_PHASE',
      `txn ${this.id}: decide commit from ${this.phaseValue}`,
    );
    this.phaseValue = 'COMMIT_DECIDED';
    return true;
  }

  /** The COMMIT record is durable. */
  commitLogged(decisionSeq: bigint, atMs: number): TxnOutcome {
    assert(this.phaseValue === 'COMMIT_DECIDED', `txn ${this.id}: commit logged in ${this.phaseValue}`);
    assert(decisionSeq > 0n, `txn ${this.id}: decisionSeq ${decisionSeq}`);
    return this.settle('COMMITTED', atMs, { txnId: this.id, outcome: 'COMMITTED', reason: '', decisionSeq });
  }

  /** Committed with no decision record: one phase, all read-only, or nothing to do. */
  commitWithoutLog(atMs: number): TxnOutcome {
    assert(
      this.phaseValue === 'ONE_PHASE' || this.phaseValue === 'COMMIT_DECIDED' || this.phaseValue === 'ACTIVE',
      `txn ${this.id}: commit without log from ${this.phaseValue}`,
    );
    this.acknowledged = true;
    return this.settle('COMMITTED', atMs, {
      txnId: this.id,
      outcome: 'COMMITTED',
      reason: '',
      decisionSeq: 0n,
    });
  }

  /**
   * Decides ABORTED if still possible. True when the transaction is (now, or already) aborted; false
   * when it cannot be: a commit is decided, or the one-phase participant holds the decision.
   */
  tryAbort(abortReason: AbortReason, reason: string, atMs: number): boolean {
    if (this.phaseValue === 'ABORTED') return true;
    if (this.phaseValue !== 'ACTIVE' && this.phaseValue !== 'PREPARING') return false;
    this.abort(abortReason, reason, atMs);
    return true;
  }

  /** The one-phase participant said it did not commit (a NO, or an Abort acknowledged ABORTED). */
  onePhaseAborted(abortReason: AbortReason, reason: string, atMs: number): TxnOutcome {
    assert(this.phaseValue === 'ONE_PHASE', `txn ${this.id}: one-phase abort from ${this.phaseValue}`);
    return this.abort(abortReason, reason, atMs);
  }

  markInvalid(): void {
    this.invalid = true;
  }

  /** Decided but not applied everywhere: COMMITTING; every ack in: COMMITTED. */
  view(): TxnView {
    const r = this.result;
    return {
      txnId: this.id,
      state: this.viewState(),
      ...(r === undefined ? {} : { outcome: r.outcome }),
      shards: [...this.shards, ...this.readOnlyShards].sort(),
      decisionSeq: r?.decisionSeq ?? 0n,
      startedAtMs: this.startedAtMs,
      decidedAtMs: this.decidedAtMs,
      reason: r?.reason ?? '',
      ...(r?.abortReason === undefined ? {} : { abortReason: r.abortReason }),
      idempotencyKey: this.idempotencyKey,
    };
  }

  private viewState(): TxnState {
    switch (this.phaseValue) {
      case 'ACTIVE':
        return 'ACTIVE';
      case 'PREPARING':
      case 'ONE_PHASE':
      case 'COMMIT_DECIDED':
        return 'PREPARING';
      case 'COMMITTED':
        return this.acknowledged ? 'COMMITTED' : 'COMMITTING';
      case 'ABORTED':
        return 'ABORTED';
    }
  }

  private abort(abortReason: AbortReason, reason: string, atMs: number): TxnOutcome {
    const outcome = this.settle('ABORTED', atMs, {
      txnId: this.id,
      outcome: 'ABORTED',
      reason,
      abortReason,
      decisionSeq: 0n,
    });
    this.aborter.abort(new TwopcError('ABORTED', `txn ${this.id} aborted: ${reason}`));
    return outcome;
  }

  private settle(phase: 'COMMITTED' | 'ABORTED', atMs: number, outcome: TxnOutcome): TxnOutcome {
    assert(
      this.result === undefined,
      `txn ${this.id}: decided twice (${this.result?.outcome} then ${outcome.outcome})`,
    );
    this.phaseValue = phase;
    this.decidedAtMs = atMs;
    this.result = Object.freeze(outcome);
    this.resolveSettled(this.result);
    return this.result;
  }
}
