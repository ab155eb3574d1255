/**
 * The transactions the coordinator holds in memory: `active` ones (not yet decided, bounded by
 * `activeTxnsMax`) and a bounded window of `recent` decided ones, so GetTransaction and
 * ListTransactions can answer without the log (aborts are never logged, except for keyed ones).
 */
import { assert } from '../common/assert.ts';
import { TwopcError } from '../common/errors.ts';
import type { Transaction } from './transaction.ts';

export class TxnTable {
  private readonly active = new Map<string, Transaction>();
  /** Insertion-ordered: the oldest entry is evicted first. */
  private readonly recent = new Map<string, Transaction>();

  constructor(
    private readonly activeMax: number,
    private readonly recentMax: number,
  ) {}

  get activeCount(): number {
    return this.active.size;
  }

  /** RESOURCE_EXHAUSTED when full: the client should back off. */
  checkCapacity(): void {
    if (this.active.size >= this.activeMax) {
      throw new TwopcError('RESOURCE_EXHAUSTED', `too many transactions in flight (${this.activeMax})`, {
        hint: 'retry with backoff, or raise activeTxnsMax',
      });
    }
  }

  add(txn: Transaction): void {
    this.checkCapacity();
    assert(!this.active.has(txn.id) && !this.recent.has(txn.id), `txn ${txn.id} added twice`);
    this.active.set(txn.id, txn);
  }

  /** Moves a decided transaction from active to recent. */
  finish(txn: Transaction): void {
    assert(txn.outcome !== undefined, `txn ${txn.id}: finished undecided`);
    this.active.delete(txn.id);
    this.remember(txn);
  }

  /** Keeps a decided transaction not made here (e.g. resolved from the log) in the recent window. */
  remember(txn: Transaction): void {
    this.recent.delete(txn.id);
    this.recent.set(txn.id, txn);
    while (this.recent.size > this.recentMax) {
      const oldest = this.recent.keys().next().value as string;
      this.recent.delete(oldest);
    }
  }

  get(txnId: string): Transaction | undefined {
    return this.active.get(txnId) ?? this.recent.get(txnId);
  }

  getActive(txnId: string): Transaction | undefined {
    return this.active.get(txnId);
  }

  activeTxns(): Transaction[] {
    return [...this.active.values()];
  }

  /** Every transaction in memory with an id greater than `afterTxnId`, sorted by id. */
  after(afterTxnId: string): Transaction[] {
    const out: Transaction[] = [];
    for (const map of [this.active, this.recent])
      for (const t of map.values()) if (t.id > afterTxnId) out.push(t);
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
