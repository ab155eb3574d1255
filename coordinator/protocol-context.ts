/**
 * What the protocol code (prepare, decide, deliver) needs from the coordinator, in one object, so
 * each step is a plain function of (context, transaction) that a test or the simulator can drive.
 * `createProtocolContext` wires the parts that send decisions.
 */
import { assert } from '../common/assert.ts';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/log.ts';
import type { ParticipantClient } from '../common/protocol.ts';
import { CommitDelivery } from './commit-delivery.ts';
import type { CoordinatorConfig } from './config.ts';
import type { DecisionLog } from './decision-log.ts';
import { DecisionSender } from './decision-sender.ts';
import type { CoordinatorMetrics } from './metrics.ts';

export interface ProtocolContext {
  readonly coordinatorId: string;
  readonly log: DecisionLog;
  readonly participants: ReadonlyMap<string, ParticipantClient>;
  readonly config: CoordinatorConfig;
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
  readonly metrics: CoordinatorMetrics;
  readonly sender: DecisionSender;
  readonly delivery: CommitDelivery;
  /** Aborts when the coordinator closes: background loops stop, waits end. */
  readonly stopSignal: AbortSignal;
  /** Registers a write of a COMMIT record, so that close() waits for it. */
  trackCommitWrite(write: Promise<unknown>): void;
}

/** The participant for `shard`; validation has made sure it exists. */
export function participantFor(ctx: ProtocolContext, shard: string): ParticipantClient {
  const client = ctx.participants.get(shard);
  assert(client !== undefined, `no participant for shard ${shard}`);
  return client;
}

/** What the context is made from: its plain fields, plus what the wiring needs. */
export interface ProtocolContextOptions extends Omit<
  ProtocolContext,
  'sender' | 'delivery' | 'trackCommitWrite'
> {
  /** Runs after a commit's END is written. */
  readonly onEnded: (txnId: string) => void;
  /** COMMIT writes in flight are kept here until they settle. */
  readonly commitWrites: Set<Promise<unknown>>;
}

/** Wires the decision sender and commit delivery into one context. */
export function createProtocolContext(o: ProtocolContextOptions): ProtocolContext {
  const { log, clock, config, logger, stopSignal, commitWrites } = o;
  const sender = new DecisionSender({
    participants: o.participants,
    clock,
    random: o.random,
    config,
    logger,
    metrics: o.metrics,
    stopSignal,
  });
  const delivery = new CommitDelivery({ log, sender, clock, config, logger, onEnded: o.onEnded });
  return {
    coordinatorId: o.coordinatorId,
    log,
    participants: o.participants,
    config,
    clock,
    random: o.random,
    logger,
    metrics: o.metrics,
    sender,
    delivery,
    stopSignal,
    trackCommitWrite: (write) => {
      const tracked: Promise<void> = write.then(
        () => void commitWrites.delete(tracked),
        () => void commitWrites.delete(tracked),
      );
      commitWrites.add(tracked);
    },
  };
}
