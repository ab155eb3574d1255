/**
 * How the in-doubt resolver (in-doubt-resolver.ts) looks up the decision for a transaction this
 * shard voted YES on: first at the coordinator, which knows (COMMIT is logged; no record means
 * abort); while the coordinator is unreachable, at the peers named in the prepare (cooperative
 * termination), all asked at once:
 *   - a peer that COMMITTED proves the decision was COMMIT (and wins over any other answer);
 *   - a peer that ABORTED (voted NO, or was told abort) proves it was not COMMIT;
 *   - a peer that never saw the transaction is asked to abort it, which leaves a tombstone there: it
 *     can then never vote YES, so the coordinator can never decide COMMIT, and abort is safe;
 *   - a peer that is itself PREPARED knows nothing.
 * A coordinator that answers "still deciding" is believed: the peers cannot know more than it does.
 *
 * No transport here: DecisionSource is implemented over gRPC in decision-source.ts and by fakes in
 * tests and the simulator.
 */
import { describeError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import type { InDoubtTxn, LocalState, Peer } from '../common/protocol.ts';

/** What the coordinator says about a transaction. */
export type CoordinatorAnswer =
  | { readonly kind: 'COMMIT'; readonly decisionSeq: bigint }
  | { readonly kind: 'ABORT' }
  /** Still deciding (the transaction is live at the coordinator): ask again later. */
  | { readonly kind: 'PENDING' };

/** A peer's state for the transaction, and its decision sequence number if it committed. */
export interface PeerAnswer {
  readonly state: LocalState;
  readonly decisionSeq: bigint;
}

/**
 * How a participant learns outcomes. Every method rejects when its target cannot be reached or
 * cannot say; a rejection is never read as an answer.
 */
export interface DecisionSource {
  /** Absent when this participant has no coordinator address configured. */
  askCoordinator?(txnId: string): Promise<CoordinatorAnswer>;
  /**
   * A peer's state for the transaction. A peer that never saw it must write a tombstone first
   * (atomically with the lookup) and answer ABORTED: that is what makes an abort safe.
   */
  askPeer(peer: Peer, txnId: string): Promise<PeerAnswer>;
}

/** The decision and who gave it, or UNKNOWN when nobody could answer. */
export type FoundDecision =
  | { readonly kind: 'COMMIT'; readonly decisionSeq: bigint; readonly via: string }
  | { readonly kind: 'ABORT'; readonly via: string }
  | { readonly kind: 'UNKNOWN' };

/** Asks the coordinator, then, if it cannot answer, the peers; UNKNOWN if none of them can say. */
export async function findDecision(
  source: DecisionSource,
  logger: Logger,
  txn: InDoubtTxn,
): Promise<FoundDecision> {
  if (source.askCoordinator) {
    try {
      const answer = await source.askCoordinator(txn.txnId);
      if (answer.kind === 'COMMIT')
        return { kind: 'COMMIT', decisionSeq: answer.decisionSeq, via: 'coordinator' };
      if (answer.kind === 'ABORT') return { kind: 'ABORT', via: 'coordinator' };
      return { kind: 'UNKNOWN' }; // alive and still deciding: peers cannot know more
    } catch (err) {
      logger.debug('coordinator cannot answer; asking peers', {
        txnId: txn.txnId,
        error: describeError(err),
      });
    }
  }
  return askPeers(source, logger, txn);
}

async function askPeers(source: DecisionSource, logger: Logger, txn: InDoubtTxn): Promise<FoundDecision> {
  const answers = await Promise.all(
    txn.peers.map((peer) =>
      source.askPeer(peer, txn.txnId).then(
        (answer) => ({ peer, answer }),
        (err: unknown) => {
          logger.debug('peer cannot answer', {
            txnId: txn.txnId,
            peer: peer.shard,
            error: describeError(err),
          });
          return undefined;
        },
      ),
    ),
  );
  const committed = answers.find((a) => a?.answer.state === 'COMMITTED');
  const aborted = answers.find((a) => a?.answer.state === 'ABORTED');
  if (committed && aborted) {
    // COMMITTED anywhere proves the decision was COMMIT (it needs every YES); the ABORTED peer
    // broke its promise (a heuristic abort, a restore that lost its state). Follow the decision.
    logger.error('peers disagree on an in-doubt transaction: one of them broke atomicity', {
      txnId: txn.txnId,
      committedAt: committed.peer.shard,
      abortedAt: aborted.peer.shard,
    });
  }
  if (committed)
    return {
      kind: 'COMMIT',
      decisionSeq: committed.answer.decisionSeq,
      via: `peer ${committed.peer.shard}`,
    };
  if (aborted) return { kind: 'ABORT', via: `peer ${aborted.peer.shard}` };
  return { kind: 'UNKNOWN' };
}
