/**
 * The liveness phase: after the heal, ask every participant (directly, not through a proxy — the
 * question is whether the cluster resolved its doubts, not whether the harness can reach it) which
 * transactions it holds PREPARED with no decision, until none anywhere or the bound runs out.
 *
 * A round counts only if every shard answered: a shard that cannot be asked might be hiding doubts.
 * After the first empty round a few more confirm that nothing comes back (the checker's in-doubt-again).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GrpcParticipantClient } from '../coordinator/grpc-participant-client.ts';
import type { InDoubtPoll, InDoubtTxn } from './checkers/liveness.ts';

/** Every in-doubt transaction must be resolved this long after the heal (invariant 5). */
export const resolutionBoundMsDefault = 30_000;
export const pollIntervalMs = 250;
/** Empty rounds after the first one, to see that nothing comes back. */
const confirmRounds = 3;
/** Deadline of one ListInDoubt. */
const listTimeoutMs = 2_000;

export interface PollOutcome {
  readonly polls: InDoubtPoll[];
  /** Rounds in which some shard did not answer (not counted as polls). */
  readonly incompleteRounds: number;
}

export async function pollInDoubt(options: {
  readonly participants: ReadonlyArray<{ shard: string; address: string }>;
  readonly clockMs: () => number;
  readonly boundMs: number;
}): Promise<PollOutcome> {
  const clients = options.participants.map(
    (p) => [p.shard, new GrpcParticipantClient({ shard: p.shard, address: p.address })] as const,
  );
  const polls: InDoubtPoll[] = [];
  let incompleteRounds = 0;
  const deadlineMs = options.clockMs() + options.boundMs;
  let emptyRounds = 0;
  try {
    while (emptyRounds <= confirmRounds) {
      const timeMs = options.clockMs();
      const answers = await Promise.all(
        clients.map(([shard, client]) =>
          client.listInDoubt(listTimeoutMs).then(
            (list): InDoubtTxn[] => list.map((t) => ({ txnId: t.txnId, shard })),
            () => undefined,
          ),
        ),
      );
      if (answers.every((a) => a !== undefined)) {
        const inDoubt = answers.flat() as InDoubtTxn[];
        polls.push({ timeMs, inDoubt });
        emptyRounds = inDoubt.length === 0 ? emptyRounds + 1 : 0;
      } else {
        incompleteRounds++;
      }
      // Past the bound, one more round (if the last one was not already past it) says what is stuck.
      if (timeMs > deadlineMs && emptyRounds === 0) break;
      await sleep(pollIntervalMs);
    }
  } finally {
    for (const [, c] of clients) c.close();
  }
  return { polls, incompleteRounds };
}
