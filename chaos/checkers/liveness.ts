/**
 * The liveness checker. After the nemesis heals every fault the harness polls each shard for in-doubt
 * transactions (prepared, no decision known) and records what it saw. Valid iff some poll taken after
 * the heal and no later than `resolutionBoundMs` after it saw nothing in doubt, and nothing was in doubt
 * again afterwards. A run with no poll after the heal proves nothing, so it is invalid too.
 */
import { HistoryError } from '../history.ts';
import { ANOMALIES_PER_TYPE_MAX_DEFAULT, AnomalyCollector, type Verdict } from './verdict.ts';

export interface InDoubtTxn {
  readonly txnId: string;
  readonly shard: string;
}

export interface InDoubtPoll {
  /** Same clock as the history's timeMs. */
  readonly timeMs: number;
  /** Everything in doubt on every shard at that moment (an empty list: nothing). */
  readonly inDoubt: readonly InDoubtTxn[];
}

export interface LivenessInput {
  /** When the last fault was healed. */
  readonly healedAtMs: number;
  /** How long after the heal every in-doubt transaction must be resolved. */
  readonly resolutionBoundMs: number;
  /** In time order. */
  readonly polls: readonly InDoubtPoll[];
}

export type LivenessAnomaly =
  | { readonly type: 'no-poll-after-heal'; readonly message: string }
  | {
      readonly type: 'unresolved' | 'in-doubt-again';
      readonly message: string;
      /** The poll that shows them. */
      readonly timeMs: number;
      readonly inDoubt: readonly InDoubtTxn[];
    };

export interface LivenessStats {
  readonly polls: number;
  /** Distinct (txn, shard) pairs seen in doubt after the heal. */
  readonly inDoubtAfterHeal: number;
  /** Time from the heal to the first empty poll; -1 if there was none. */
  readonly resolvedAfterMs: number;
}

export type LivenessVerdict = Verdict<LivenessAnomaly, LivenessStats>;

export function checkLiveness(
  input: LivenessInput,
  options: { readonly anomaliesPerTypeMax?: number } = {},
): LivenessVerdict {
  const collector = new AnomalyCollector<LivenessAnomaly>(
    options.anomaliesPerTypeMax ?? ANOMALIES_PER_TYPE_MAX_DEFAULT,
  );
  if (!(input.resolutionBoundMs >= 0))
    throw new HistoryError(`resolutionBoundMs must be >= 0, got ${input.resolutionBoundMs}`);
  for (let i = 1; i < input.polls.length; i++) {
    if (input.polls[i]!.timeMs < input.polls[i - 1]!.timeMs)
      throw new HistoryError(`in-doubt poll ${i} goes back in time`);
  }
  const deadlineMs = input.healedAtMs + input.resolutionBoundMs;
  const after = input.polls.filter((p) => p.timeMs >= input.healedAtMs);
  const seen = new Set(after.flatMap((p) => p.inDoubt.map((t) => `${t.txnId}@${t.shard}`)));
  const resolved = after.find((p) => p.inDoubt.length === 0 && p.timeMs <= deadlineMs);
  if (after.length === 0) {
    collector.add({
      type: 'no-poll-after-heal',
      message: `no in-doubt poll was taken after the heal at ${input.healedAtMs} ms`,
    });
  } else if (!resolved) {
    // The most telling poll: the last one within the bound, else the first one after it.
    const within = after.filter((p) => p.timeMs <= deadlineMs);
    const poll = within.at(-1) ?? after[0]!;
    const sinceHealMs = poll.timeMs - input.healedAtMs;
    const message =
      within.length === 0
        ? `no poll was taken within ${input.resolutionBoundMs} ms of the heal; the first came ${sinceHealMs} ms after it`
        : `${poll.inDoubt.length} transaction(s) still in doubt ${sinceHealMs} ms after the heal, the last poll within the ${input.resolutionBoundMs} ms bound`;
    collector.add({ type: 'unresolved', message, timeMs: poll.timeMs, inDoubt: poll.inDoubt });
  } else {
    for (const poll of after) {
      if (poll.timeMs <= resolved.timeMs || poll.inDoubt.length === 0) continue;
      const message = `${poll.inDoubt.length} transaction(s) in doubt at ${poll.timeMs} ms, after all were resolved at ${resolved.timeMs} ms`;
      collector.add({ type: 'in-doubt-again', message, timeMs: poll.timeMs, inDoubt: poll.inDoubt });
    }
  }
  const stats: LivenessStats = {
    polls: input.polls.length,
    inDoubtAfterHeal: seen.size,
    resolvedAfterMs: resolved ? resolved.timeMs - input.healedAtMs : -1,
  };
  return collector.verdict('liveness', stats);
}
