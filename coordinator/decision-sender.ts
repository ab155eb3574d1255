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
import { describeError } from '../common/errors.ts';
import { failpoint, failpointArmed } from '../common/failpoints.ts';
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
   *
   * With `coordinator.after-first-commit-sent` armed, a Commit goes to the first shard alone, and
   * the failpoint is marked only once that shard acknowledged: handing a message to the client does
   * not put it on the wire (the gRPC client flushes its stream later), so marking it any earlier
   * would crash before anything left the process. The rest follow after the failpoint.
   */
  deliver(decision: DecisionMessage, shards: readonly string[], untilAcked = decision.commit): Promise<Acks> {
    const firstThenRest =
      decision.commit && shards.length > 0 && failpointArmed('coordinator.after-first-commit-sent');
    const all = firstThenRest
      ? this.deliverFirstThenRest(decision, shards, untilAcked)
      : this.deliverEach(decision, shards, untilAcked);
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

  private async deliverEach(
    decision: DecisionMessage,
    shards: readonly string[],
    untilAcked: boolean,
  ): Promise<Map<string, Ack | undefined>> {
    const loops = shards.map((shard) => this.deliverOne(decision, shard, untilAcked));
    const acks = await Promise.all(loops);
    return new Map(shards.map((shard, i) => [shard, acks[i]]));
  }

  /** Only with the failpoint armed: see `deliver`. An `error` action leaves the rest undelivered. */
  private async deliverFirstThenRest(
    decision: DecisionMessage,
    shards: readonly string[],
    untilAcked: boolean,
  ): Promise<Map<string, Ack | undefined>> {
    const [first, ...rest] = shards as [string, ...string[]];
    const acks = await this.deliverEach(decision, [first], untilAcked);
    try {
      // Undefined only when the coordinator is closing: nothing was acknowledged, nothing to mark.
      if (acks.get(first) !== undefined) failpoint('coordinator.after-first-commit-sent');
    } catch (err) {
      this.deps.logger.warn('decision delivery interrupted by a failpoint', {
        txnId: decision.txnId,
        error: describeError(err),
      });
      for (const shard of rest) acks.set(shard, undefined);
      return acks;
    }
    for (const [shard, ack] of await this.deliverEach(decision, rest, untilAcked)) acks.set(shard, ack);
    return acks;
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
