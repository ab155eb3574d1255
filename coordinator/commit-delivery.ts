/**
 * Phase two of a logged COMMIT: deliver Commit to every participant that voted YES until each
 * acknowledges, then write END (lazily) so the record can age out. Used on the normal path right
 * after the COMMIT is durable, and by the re-drive, which reads every COMMIT without END from the log
 * at start-up and then every `redriveIntervalMs` (that covers a coordinator restart, commits beyond
 * `pendingDecisionsMax`, and deliveries interrupted by a failure). Each transaction is delivered by at
 * most one loop at a time.
 */
import type { Clock } from '../common/clock.ts';
import { describeError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import type { CoordinatorConfig } from './config.ts';
import type { DecisionLog } from './decision-log.ts';
import type { DecisionSender } from './decision-sender.ts';

export interface CommitDeliveryDeps {
  readonly log: DecisionLog;
  readonly sender: DecisionSender;
  readonly clock: Clock;
  readonly config: CoordinatorConfig;
  readonly logger: Logger;
  /** Runs after a transaction's END is written. */
  readonly onEnded: (txnId: string) => void;
}

export class CommitDelivery {
  private readonly delivering = new Set<string>();
  private redriving: Promise<number> | undefined;

  constructor(private readonly deps: CommitDeliveryDeps) {}

  get inFlight(): number {
    return this.delivering.size;
  }

  isDelivering(txnId: string): boolean {
    return this.delivering.has(txnId);
  }

  /**
   * Starts delivering in the background. Undefined when not started: already being delivered, or
   * over `pendingDecisionsMax` (the next re-drive picks it up from the log). Otherwise a promise that
   * resolves true once every participant acknowledged COMMITTED (false if delivery stopped first);
   * it never rejects.
   */
  drive(txnId: string, shards: readonly string[], decisionSeq: bigint): Promise<boolean> | undefined {
    const { config, logger, log, sender, clock } = this.deps;
    if (this.delivering.has(txnId)) return undefined;
    if (this.delivering.size >= config.pendingDecisionsMax) {
      logger.debug('commit delivery deferred to the re-drive: too many in flight', { txnId });
      return undefined;
    }
    this.delivering.add(txnId);
    const acknowledged = sender
      .deliver({ txnId, commit: true, decisionSeq, epoch: log.epoch }, shards)
      .then((acks) => shards.every((s) => acks.get(s)?.state === 'COMMITTED'));
    // END is lazy and off the answer's path: callers wait for the acks, not for this write.
    void acknowledged
      .then(async (all) => {
        if (!all) return;
        await log.logEnd(txnId, clock.nowMs());
        this.deps.onEnded(txnId);
      })
      .catch((err: unknown) =>
        logger.warn('commit delivery interrupted; the re-drive will resume it', {
          txnId,
          error: describeError(err),
        }),
      )
      .finally(() => this.delivering.delete(txnId));
    return acknowledged.catch(() => false);
  }

  /** One pass over every COMMIT without END not being delivered now. Resolves with how many it started. */
  redriveFromLog(): Promise<number> {
    this.redriving ??= this.redriveRound().finally(() => (this.redriving = undefined));
    return this.redriving;
  }

  private async redriveRound(): Promise<number> {
    const { config, log, logger } = this.deps;
    let started = 0;
    let afterSeq = 0n;
    for (;;) {
      const batch = await log.unfinished(afterSeq, config.redriveBatchMax);
      for (const record of batch) {
        afterSeq = record.decisionSeq;
        if (this.delivering.has(record.txnId)) continue;
        if (this.drive(record.txnId, record.shards, record.decisionSeq) === undefined) {
          logger.debug('re-drive round stopped: delivery capacity is full', { started });
          return started;
        }
        started++;
      }
      if (batch.length < config.redriveBatchMax) break;
    }
    if (started > 0) logger.info('re-driving logged commits', { count: started });
    return started;
  }
}
