/**
 * Thrown by `TwopcClient.transaction()` when the transaction ended ABORTED and will not be (or can
 * no longer be) retried: a constraint, a timeout, an unavailable shard, or conflicts past the retry
 * limit. It is a TwopcError with code ABORTED; `outcome` says exactly what the coordinator decided.
 */
import type { TxnOutcome } from '../common/api.ts';
import { TwopcError } from '../common/errors.ts';
import type { AbortReason } from '../common/protocol.ts';

export class TransactionAbortedError extends TwopcError {
  override name = 'TransactionAbortedError';
  /** The last attempt's outcome; undefined when the abort came as an ABORTED status instead. */
  readonly outcome: TxnOutcome | undefined;
  /** How many times the callback ran. */
  readonly attempts: number;

  constructor(
    message: string,
    options: { outcome?: TxnOutcome; attempts: number; cause?: unknown; hint?: string },
  ) {
    super('ABORTED', message, { cause: options.cause, hint: options.hint });
    this.outcome = options.outcome;
    this.attempts = options.attempts;
  }

  get abortReason(): AbortReason | undefined {
    return this.outcome?.abortReason;
  }
}
