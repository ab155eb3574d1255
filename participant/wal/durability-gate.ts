/**
 * Sync replication at the participant: the batcher writes a flush's votes and acks locally as usual,
 * then hands their delivery to `hold`, which releases them once everything committed so far is in
 * the replica — or, past `waitMs`, releases them with the error (UNAVAILABLE), so a YES vote fails
 * (the coordinator aborts the transaction) and a commit ack fails (the coordinator re-sends the
 * decision). One wait covers a whole flush; concurrent holds share uploads.
 */
import { assert } from '../../common/assert.ts';

export interface DurableWaiter {
  waitDurable(options?: { readonly timeoutMs?: number }): Promise<void>;
}

/** How long a vote or an ack may wait for the replica by default: well inside prepare and RPC deadlines. */
export const DURABLE_WAIT_MS_DEFAULT = 1_500;

export class DurabilityGate {
  private readonly waiter: DurableWaiter;
  private readonly waitMs: number;
  private held = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(waiter: DurableWaiter, waitMs = DURABLE_WAIT_MS_DEFAULT) {
    assert(Number.isSafeInteger(waitMs) && waitMs > 0, 'waitMs is a positive integer');
    this.waiter = waiter;
    this.waitMs = waitMs;
  }

  /** Calls `release()` once durable, or `release(error)` if not within `waitMs`. Never throws. */
  hold(release: (error?: unknown) => void): void {
    this.held++;
    this.waiter
      .waitDurable({ timeoutMs: this.waitMs })
      .then(
        () => release(),
        (err: unknown) => release(err),
      )
      .finally(() => {
        this.held--;
        if (this.held === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
  }

  /** Deliveries being held. */
  get holding(): number {
    return this.held;
  }

  /** Resolves when nothing is held (for a graceful close). */
  idle(): Promise<void> {
    if (this.held === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
