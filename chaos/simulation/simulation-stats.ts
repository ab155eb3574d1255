/** What one simulation run did, for the batch summary and for reading a failing seed. */
import { BANK_READ_F, BANK_TRANSFER_F } from '../checkers/bank.ts';
import type { CompletionType, Op } from '../history.ts';
import type { FaultKind } from './nemesis.ts';
import type { NetworkStats } from './network.ts';

export type OutcomeCounts = Record<CompletionType, number>;

export interface SimulationStats {
  /** Completed ops by kind and outcome. */
  readonly ops: { readonly transfer: OutcomeCounts; readonly read: OutcomeCounts };
  /** Transfers of unknown outcome re-sent with their idempotency key after the heal. */
  readonly reSent: number;
  readonly faults: Partial<Record<FaultKind, number>>;
  readonly crashes: { readonly coordinator: number; readonly participants: number };
  /** In-doubt transactions the participants' resolvers settled themselves (asking the coordinator or peers). */
  readonly resolvedInDoubt: { readonly committed: number; readonly aborted: number };
  readonly network: NetworkStats;
  /** Error-level log lines of the nodes (live and crashed incarnations alike). */
  readonly errorsLogged: number;
  /** Scheduler events run. */
  readonly events: number;
  readonly virtualMs: number;
  readonly realMs: number;
}

export function countOps(history: readonly Op[]): SimulationStats['ops'] {
  const zero = (): OutcomeCounts => ({ ok: 0, fail: 0, info: 0 });
  const counts = { transfer: zero(), read: zero() };
  for (const op of history) {
    if (op.type === 'invoke') continue;
    const kind = op.f === BANK_TRANSFER_F ? counts.transfer : op.f === BANK_READ_F ? counts.read : undefined;
    if (kind !== undefined) kind[op.type]++;
  }
  return counts;
}
