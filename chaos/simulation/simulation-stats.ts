/** What one simulation run did, for the batch summary and for reading a failing seed. */
import type { CompletionType, Op } from '../history.ts';
import type { FaultKind } from './nemesis.ts';
import type { NetworkStats } from './network.ts';

export type OutcomeCounts = Record<CompletionType, number>;

export interface SimulationStats {
  /** Completed ops by kind (transfer and read; txn for list-append) and outcome. */
  readonly ops: Readonly<Record<string, OutcomeCounts>>;
  /** Ops of unknown outcome settled after the heal (bank: re-sent with their key; list-append: looked up). */
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
  const counts: Record<string, OutcomeCounts> = {};
  for (const op of history) {
    if (op.type === 'invoke') continue;
    (counts[op.f] ??= { ok: 0, fail: 0, info: 0 })[op.type]++;
  }
  return counts;
}
