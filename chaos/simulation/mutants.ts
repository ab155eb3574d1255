/**
 * Deliberately broken builds, for proving that the simulator catches real bugs (issue 6, "Done
 * means"). A harness that passes a broken build proves nothing about a correct one. Each mutant wraps
 * a real interface; the protocol code itself is unchanged.
 *
 * - `answer-before-forced`: the decision log resolves logCommit at once and forces the record only
 *   `answerBeforeForcedLagMs` later, and Commit messages wait for that write (phase two needs the
 *   record, as in the production mutant of common/mutations.ts). The coordinator therefore answers
 *   COMMITTED before the decision is durable; a crash in between forgets a decision it acknowledged.
 * - `vote-before-durable`: a participant votes YES on receipt, before its prepare is checked or
 *   durable (participant-node.ts); a crash, a conflict or an overdraft then breaks the YES promise.
 * - `commit-dropped-acked`: Commit messages to one shard are dropped while the coordinator is told
 *   they were applied. Not a safety bug by itself: the participant's in-doubt resolver asks the
 *   coordinator and applies the commit. The test suite keeps it to show that this path heals.
 */
import type { CommitRecord, DecisionLog } from '../../coordinator/decision-log.ts';
import { ForwardingDecisionLog } from '../../coordinator/decision-log/forwarding.ts';
import type { Ack, DecisionMessage, ParticipantClient } from '../../common/protocol.ts';
import type { NodeClock } from './node-clock.ts';

export const MUTANTS = ['answer-before-forced', 'vote-before-durable', 'commit-dropped-acked'] as const;
export type Mutant = (typeof MUTANTS)[number];

/** Long enough to outlast the coordinator's commit-visibility wait (2 s by default). */
export const answerBeforeForcedLagMs = 3_000;
/** Seqs handed out before the real record exists; far above any real one, so they are recognisable. */
const provisionalSeqBase = 1n << 40n;

/** The decision log of `answer-before-forced`: claims a COMMIT is durable before writing it. */
export class EagerCommitLog extends ForwardingDecisionLog {
  private provisionalSeq = provisionalSeqBase;
  private readonly writes = new Map<string, Promise<void>>();

  constructor(
    inner: DecisionLog,
    private readonly clock: NodeClock,
  ) {
    super(inner);
  }

  /** Resolves when the COMMIT of `txnId` is really written (at once if it was never deferred). */
  whenWritten(txnId: string): Promise<void> {
    return this.writes.get(txnId) ?? Promise.resolve();
  }

  override logCommit(record: CommitRecord): Promise<bigint> {
    if (!this.writes.has(record.txnId)) {
      const write = this.clock
        .sleep(answerBeforeForcedLagMs)
        .then(() => this.inner.logCommit(record))
        .then(() => undefined);
      write.catch(() => {});
      this.writes.set(record.txnId, write);
    }
    return Promise.resolve(this.provisionalSeq++);
  }
}

/**
 * Wraps a coordinator's participant client for a mutant: `answer-before-forced` holds each Commit
 * until its record is written; `commit-dropped-acked` drops Commits and acknowledges them itself.
 */
export function mutantClient(
  mutant: Mutant,
  client: ParticipantClient,
  log: EagerCommitLog | undefined,
): ParticipantClient {
  if (mutant === 'vote-before-durable') return client;
  const decide = (message: DecisionMessage, timeoutMs: number): Promise<Ack> => {
    if (!message.commit) return client.decide(message, timeoutMs);
    if (mutant === 'commit-dropped-acked')
      return Promise.resolve({ txnId: message.txnId, state: 'COMMITTED' });
    return (log?.whenWritten(message.txnId) ?? Promise.resolve()).then(() =>
      client.decide(message, timeoutMs),
    );
  };
  return Object.assign(Object.create(client) as ParticipantClient, { decide });
}
