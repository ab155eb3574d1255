/**
 * The in-doubt resolver as the participant server runs it: asking the coordinator (if an address is
 * configured) and the peers over gRPC, and applying decisions through the Batcher, so they share
 * the group-commit path (and the failpoints) with decisions from the coordinator. Started once the
 * server is up, so a participant restarted after a crash resolves what it left in doubt; stopped
 * before the Batcher is closed.
 */
import type { Logger } from '../common/log.ts';
import type { Ack, DecisionMessage, InDoubtTxn } from '../common/protocol.ts';
import { GrpcDecisionSource } from './decision-source.ts';
import { InDoubtResolver, type InDoubtResolverConfig } from './in-doubt-resolver.ts';

export interface StartInDoubtResolverOptions {
  /** The shard store (only its list of PREPARED transactions is read). */
  readonly store: { listInDoubt(): InDoubtTxn[] };
  /** Where decisions are applied: the participant's Batcher. */
  readonly batcher: { decide(message: DecisionMessage): Promise<Ack> };
  /** HOST:PORT of the coordinator; without it only peers are asked, which cannot settle a
   * transaction every shard voted YES on (a coordinator crash before its decision). */
  readonly coordinatorAddress?: string;
  readonly config?: Partial<InDoubtResolverConfig>;
  readonly logger: Logger;
}

export interface RunningInDoubtResolver {
  readonly resolver: InDoubtResolver;
  /**
   * Closes the gRPC channels (questions in flight fail at once, so nothing waits for their
   * deadlines), then stops scanning and waits for the scan in progress. Idempotent.
   */
  stop(): Promise<void>;
}

export function startInDoubtResolver(options: StartInDoubtResolverOptions): RunningInDoubtResolver {
  const { store, batcher, logger } = options;
  const source = new GrpcDecisionSource(options.coordinatorAddress);
  const resolver = new InDoubtResolver({
    store: { listInDoubt: () => store.listInDoubt(), decide: (m) => batcher.decide(m) },
    source,
    ...(options.config === undefined ? {} : { config: options.config }),
    logger,
  });
  if (options.coordinatorAddress === undefined) {
    logger.warn('no coordinator address: in-doubt transactions are resolved through peers only', {
      hint: 'pass --coordinator HOST:PORT, or a transaction every shard voted YES on stays in doubt after a coordinator crash',
    });
  }
  resolver.start();
  let stopping: Promise<void> | undefined;
  return {
    resolver,
    stop: () => {
      source.close();
      return (stopping ??= resolver.stop());
    },
  };
}
