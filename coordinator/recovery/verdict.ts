/**
 * What recovery does with an in-doubt transaction, from what the decision sources say. Pure.
 *
 * From the decision log (presumed abort): a COMMIT record commits, with its decisionSeq; an ABORTED
 * record aborts; a heuristic audit row without a decision record (written by an older tool) decides
 * as it says; an INTENT or no record at all aborts, because no COMMIT was ever logged and the
 * coordinator only tells anyone COMMIT after logging it.
 *
 * From the running coordinator (preferred when given: it knows what it holds in memory): a
 * transaction it is still deciding (ACTIVE, PREPARING) is LIVE and must be left alone; COMMITTING or
 * COMMITTED commits with its decisionSeq; ABORTED aborts; absent from its in-flight list means it has
 * no COMMIT, so abort. If a log file was given too and it holds a COMMIT the coordinator does not
 * know, the two disagree (the file is probably not this coordinator's log): UNKNOWN, touch nothing.
 */
import type { TxnView } from '../../common/api.ts';
import type { DecisionRecord, HeuristicRecord } from '../decision-log.ts';

export const VERDICT_SOURCES = ['log', 'heuristic', 'presumed-abort', 'coordinator'] as const;
export type VerdictSource = (typeof VERDICT_SOURCES)[number];

export type Verdict =
  | {
      readonly kind: 'COMMIT';
      readonly decisionSeq: bigint;
      readonly source: VerdictSource;
      readonly why: string;
    }
  | { readonly kind: 'ABORT'; readonly source: VerdictSource; readonly why: string }
  /** The coordinator is deciding it right now: recovery must not touch it. */
  | { readonly kind: 'LIVE'; readonly why: string }
  /** No source can tell (no log given, or the sources disagree): recovery must not touch it. */
  | { readonly kind: 'UNKNOWN'; readonly why: string };

export interface LogAnswer {
  readonly record: DecisionRecord | undefined;
  readonly heuristics: readonly HeuristicRecord[];
}

export function verdictFromLog(answer: LogAnswer): Verdict {
  const { record, heuristics } = answer;
  const forced = heuristics.length > 0 ? ' (heuristic)' : '';
  if (record?.state === 'COMMITTED') {
    return {
      kind: 'COMMIT',
      decisionSeq: record.decisionSeq,
      source: forced ? 'heuristic' : 'log',
      why: `COMMIT in the decision log, decision_seq ${record.decisionSeq}${forced}`,
    };
  }
  if (record?.state === 'ABORTED') {
    const heuristic = record.abortReason === 'HEURISTIC' || forced !== '';
    return {
      kind: 'ABORT',
      source: heuristic ? 'heuristic' : 'log',
      why: `ABORTED in the decision log (${record.abortReason ?? 'no reason'})${heuristic ? ' (heuristic)' : ''}`,
    };
  }
  const first = heuristics[0];
  if (first !== undefined) {
    const by = `heuristic ${first.outcome} by ${first.operator}`;
    return first.outcome === 'COMMITTED'
      ? { kind: 'COMMIT', decisionSeq: 0n, source: 'heuristic', why: by }
      : { kind: 'ABORT', source: 'heuristic', why: by };
  }
  const what = record?.state === 'INTENT' ? 'only an INTENT' : 'no record';
  return {
    kind: 'ABORT',
    source: 'presumed-abort',
    why: `${what} in the decision log: no COMMIT, presumed abort`,
  };
}

export function verdictFromView(view: TxnView): Verdict {
  switch (view.state) {
    case 'ACTIVE':
    case 'PREPARING':
      return { kind: 'LIVE', why: `the coordinator is still deciding it (${view.state})` };
    case 'COMMITTING':
    case 'COMMITTED':
      return {
        kind: 'COMMIT',
        decisionSeq: view.decisionSeq,
        source: 'coordinator',
        why: `the coordinator says ${view.state}, decision_seq ${view.decisionSeq}`,
      };
    case 'ABORTED':
      return {
        kind: 'ABORT',
        source: 'coordinator',
        why: `the coordinator says ABORTED (${view.abortReason ?? 'no reason'})`,
      };
  }
}

/**
 * The verdict for one transaction from every source given: `inFlight` is the coordinator's list
 * (undefined = no coordinator), `log` the log file's answer (undefined = no log file).
 */
export function verdictFor(
  txnId: string,
  sources: { inFlight?: ReadonlyMap<string, TxnView>; log?: LogAnswer },
): Verdict {
  const { inFlight, log } = sources;
  if (inFlight === undefined) {
    if (log === undefined) return { kind: 'UNKNOWN', why: 'no decision log or coordinator to ask' };
    return verdictFromLog(log);
  }
  const view = inFlight.get(txnId);
  if (view !== undefined) return verdictFromView(view);
  const logged = log === undefined ? undefined : verdictFromLog(log);
  if (logged?.kind === 'COMMIT') {
    return {
      kind: 'UNKNOWN',
      why: `the log file says ${logged.why}, but the coordinator is not committing it: is --log this coordinator's log?`,
    };
  }
  if (logged?.kind === 'ABORT' && logged.source !== 'presumed-abort') return logged;
  return { kind: 'ABORT', source: 'presumed-abort', why: 'no COMMIT at the coordinator: presumed abort' };
}
