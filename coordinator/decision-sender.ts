/**
 * Delivers decisions (Commit / Abort) to participants: each shard gets its own loop that re-sends
 * with capped exponential backoff and full jitter until the shard acknowledges. A Commit is re-sent
 * until acknowledged or the coordinator closes (after a restart the log re-drives it); an Abort is
 * sent at most `abortSendAttemptsMax` times unless the caller needs its answer (presumed abort: a
 * participant that missed it asks and hears ABORT). Never rejects; an undelivered decision shows up
 * as `undefined` in the result.
 */
import { backoffDelayMs } from '../common/backoff.ts';
import type { Clock } from '../common/clock.ts';
import { failpoint } from '../common/failpoints.ts';
import type { Logger } from '../common/log.ts';
import type { Ack, DecisionMessage, ParticipantClient } from '../common/protocol.ts';
import type { CoordinatorConfig } from './config.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import { callParticipant, pause, settle } from './participant-call.ts';

export interface DecisionSenderDeps {
  readonly participants: ReadonlyMap<string, ParticipantClient>;
  readonly clock: Clock;
  readonly random: () => number;
  readonly config: CoordinatorConfig;
  readonly logger: Logger;
  readonly metrics: CoordinatorMetrics;
  /** Aborts when the coordinator closes: every loop stops at its next wait. */
  readonly stopSignal: AbortSignal;
}

export type Acks = ReadonlyMap<string, Ack | undefined>;

export class DecisionSender {
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly deps: DecisionSenderDeps) {}

  /**
   * Sends `decision` to every shard in `shards` in parallel. `untilAcked` makes an Abort behave like a
   * Commit: re-sent until answered (used when the ack is how the outcome is learned).
   */
  deliver(decision: DecisionMessage, shards: readonly string[], untilAcked = decision.commit): Promise<Acks> {
    const loops = new Map<string, Promise<Ack | undefined>>();
    shards.forEach((shard, i) => {
      loops.set(shard, this.deliverOne(decision, shard, untilAcked));
      if (i === 0 && decision.commit) failpoint('coordinator.after-first-commit-sent');
    });
    const all = (async () => {
      const acks = new Map<string, Ack | undefined>();
      for (const [shard, loop] of loops) acks.set(shard, await loop);
      return acks;
    })();
    this.running.add(all);
    void all.finally(() => this.running.delete(all));
    return all;
  }

  get inFlight(): number {
    return this.running.size;
  }

  /** Waits for every loop to return (they stop once `stopSignal` aborts). */
  async drain(): Promise<void> {
    await Promise.all([...this.running]);
  }

  private async deliverOne(
    decision: DecisionMessage,
    shard: string,
    untilAcked: boolean,
  ): Promise<Ack | undefined> {
    const { clock, config, logger, metrics, random } = this.deps;
    const client = this.deps.participants.get(shard);
    if (client === undefined) {
      logger.error('decision for a shard that is not configured; it cannot be delivered', {
        txnId: decision.txnId,
        shard,
      });
      return undefined;
    }
    const what = `${decision.commit ? 'Commit' : 'Abort'} ${decision.txnId} to ${shard}`;
    for (let attempt = 0; ; attempt++) {
      if (this.deps.stopSignal.aborted) return undefined;
      if (attempt > 0) metrics.decisionsResent++;
      const sent = await settle(
        callParticipant(clock, what, config.rpcTimeoutMs, this.deps.stopSignal, (t) =>
          client.decide(decision, t),
        ),
        what,
      );
      if (sent.ok && this.isFinal(decision, shard, sent.value, attempt)) return sent.value;
      if (!sent.ok && attempt === 0)
        logger.debug('decision not delivered; re-sending', { what, error: sent.error.message });
      if (!untilAcked && attempt + 1 >= config.abortSendAttemptsMax) {
        metrics.decisionsUndelivered++;
        logger.warn('giving up sending Abort; the participant will ask', { what, attempts: attempt + 1 });
        return undefined;
      }
      const delayMs = backoffDelayMs(config.decisionRetryBackoff, attempt, random);
      if (!(await pause(clock, delayMs, this.deps.stopSignal))) return undefined;
    }
  }

  /** Is this ack the end of the road for this shard? */
  private isFinal(decision: DecisionMessage, shard: string, ack: Ack, attempt: number): boolean {
    const { logger, metrics } = this.deps;
    const fields = { txnId: decision.txnId, shard, state: ack.state };
    if (decision.commit) {
      if (ack.state === 'COMMITTED') return true;
      if (ack.state === 'ABORTED') {
        // A participant that voted YES aborted anyway: atomicity is broken on this shard. Re-sending
        // cannot repair it; an operator must (heuristic resolution).
        metrics.protocolViolations++;
        logger.error('participant acknowledged a Commit with ABORTED after voting YES', fields);
        return true;
      }
    } else if (ack.state === 'ABORTED' || ack.state === 'COMMITTED') {
      return true;
    }
    if (attempt === 0) logger.warn('decision acknowledged with an unexpected state; re-sending', fields);
    return false;
  }
}
