/**
 * Resolves this shard's in-doubt transactions: ones it voted YES on and has heard no decision for.
 *
 * A prepared transaction normally hears its decision within milliseconds. One that stays PREPARED
 * past `inDoubtAfterMs` (a crash, a lost message, a participant restored or restarted) is looked
 * up: first at the coordinator, which knows (COMMIT is logged; no record means abort); while the
 * coordinator is unreachable, at the peers named in the prepare (cooperative termination):
 *   - a peer that COMMITTED proves the decision was COMMIT;
 *   - a peer that ABORTED (voted NO, or was told abort) proves it was not COMMIT;
 *   - a peer that never saw the transaction is asked to abort it, which leaves a tombstone there: it
 *     can then never vote YES, so the coordinator can never decide COMMIT, and abort is safe;
 *   - a peer that is itself PREPARED knows nothing.
 * Locks stay held the whole time: nothing is released until a decision is known.
 */
import type { Clock } from '../common/clock.ts';
import { systemClock } from '../common/clock.ts';
import { backoffDelayMs, type BackoffPolicy } from '../common/backoff.ts';
import type { DecisionMessage, InDoubtTxn, LocalState, Peer } from '../common/protocol.ts';
import type { Logger } from '../common/log.ts';
import { silentLogger } from '../common/log.ts';
import { describeError } from '../common/errors.ts';

/** What the coordinator says about a transaction. */
export type CoordinatorAnswer =
  | { readonly kind: 'COMMIT'; readonly decisionSeq: bigint }
  | { readonly kind: 'ABORT' }
  /** Still deciding (the transaction is live at the coordinator): ask again later. */
  | { readonly kind: 'PENDING' };

/** How a participant learns outcomes. Every method rejects when its target cannot be reached. */
export interface DecisionSource {
  /** Undefined when this participant has no coordinator address configured. */
  askCoordinator?(txnId: string): Promise<CoordinatorAnswer>;
  /**
   * A peer's state for the transaction. With `abortIfUnknown`, a peer that never saw it writes a
   * tombstone first and answers ABORTED.
   */
  askPeer(peer: Peer, txnId: string): Promise<{ readonly state: LocalState; readonly decisionSeq: bigint }>;
}

/** The parts of the shard store the resolver needs. */
export interface ResolvableStore {
  listInDoubt(): InDoubtTxn[];
  decide(message: DecisionMessage): Promise<unknown>;
}

export interface InDoubtResolverConfig {
  /** A transaction prepared less than this long ago is presumed to be on its normal path. */
  readonly inDoubtAfterMs: number;
  /** How often the resolver scans for in-doubt transactions. */
  readonly scanIntervalMs: number;
  /** Backoff between rounds for a transaction nobody could answer for. */
  readonly retryBackoff: BackoffPolicy;
  /** Transactions looked up per scan; the rest wait for the next scan. */
  readonly txnsPerScanMax: number;
}

export const IN_DOUBT_RESOLVER_DEFAULTS: InDoubtResolverConfig = Object.freeze({
  inDoubtAfterMs: 2_000,
  scanIntervalMs: 500,
  retryBackoff: Object.freeze({ baseMs: 200, maxMs: 5_000 }),
  txnsPerScanMax: 256,
});

export type Resolution = 'COMMIT' | 'ABORT' | 'UNKNOWN';

export class InDoubtResolver {
  private readonly store: ResolvableStore;
  private readonly source: DecisionSource;
  private readonly config: InDoubtResolverConfig;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly random: () => number;
  /** txnId -> attempts so far and when to try next. */
  private readonly retries = new Map<string, { attempts: number; nextAtMs: number }>();
  private readonly stopController = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(options: {
    store: ResolvableStore;
    source: DecisionSource;
    config?: Partial<InDoubtResolverConfig>;
    clock?: Clock;
    logger?: Logger;
    random?: () => number;
  }) {
    this.store = options.store;
    this.source = options.source;
    this.config = Object.freeze({ ...IN_DOUBT_RESOLVER_DEFAULTS, ...options.config });
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.random = options.random ?? Math.random;
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopController.abort(new Error('resolver stopped'));
    await this.loop;
  }

  /** One pass over the in-doubt transactions that are due. Returns how each one ended. */
  async scan(): Promise<Map<string, Resolution>> {
    const now = this.clock.nowMs();
    const due = this.store
      .listInDoubt()
      .filter((t) => now - t.preparedAtMs >= this.config.inDoubtAfterMs)
      .filter((t) => (this.retries.get(t.txnId)?.nextAtMs ?? 0) <= now)
      .slice(0, this.config.txnsPerScanMax);
    const results = new Map<string, Resolution>();
    await Promise.all(
      due.map(async (txn) => {
        const resolution = await this.resolve(txn);
        results.set(txn.txnId, resolution);
        if (resolution === 'UNKNOWN') this.scheduleRetry(txn.txnId, now);
        else this.retries.delete(txn.txnId);
      }),
    );
    return results;
  }

  /** Finds the outcome of one transaction and applies it locally if found. */
  async resolve(txn: InDoubtTxn): Promise<Resolution> {
    const decision = await this.findDecision(txn);
    if (decision.kind === 'UNKNOWN') return 'UNKNOWN';
    const commit = decision.kind === 'COMMIT';
    await this.store.decide({
      txnId: txn.txnId,
      commit,
      decisionSeq: commit ? decision.decisionSeq : 0n,
      epoch: 0n,
    });
    this.logger.info('in-doubt transaction resolved', {
      txnId: txn.txnId,
      outcome: decision.kind,
      via: decision.via,
    });
    return decision.kind;
  }

  private async findDecision(
    txn: InDoubtTxn,
  ): Promise<
    | { kind: 'COMMIT'; decisionSeq: bigint; via: string }
    | { kind: 'ABORT'; via: string }
    | { kind: 'UNKNOWN' }
  > {
    if (this.source.askCoordinator) {
      try {
        const answer = await this.source.askCoordinator(txn.txnId);
        if (answer.kind === 'COMMIT')
          return { kind: 'COMMIT', decisionSeq: answer.decisionSeq, via: 'coordinator' };
        if (answer.kind === 'ABORT') return { kind: 'ABORT', via: 'coordinator' };
        return { kind: 'UNKNOWN' }; // the coordinator is alive and still deciding: peers cannot know more
      } catch (err) {
        this.logger.debug('coordinator unreachable; asking peers', {
          txnId: txn.txnId,
          error: describeError(err),
        });
      }
    }
    return this.askPeers(txn);
  }

  private async askPeers(
    txn: InDoubtTxn,
  ): Promise<
    | { kind: 'COMMIT'; decisionSeq: bigint; via: string }
    | { kind: 'ABORT'; via: string }
    | { kind: 'UNKNOWN' }
  > {
    for (const peer of txn.peers) {
      let answer: { state: LocalState; decisionSeq: bigint };
      try {
        answer = await this.source.askPeer(peer, txn.txnId);
      } catch (err) {
        this.logger.debug('peer unreachable', {
          txnId: txn.txnId,
          peer: peer.shard,
          error: describeError(err),
        });
        continue;
      }
      if (answer.state === 'COMMITTED')
        return { kind: 'COMMIT', decisionSeq: answer.decisionSeq, via: `peer ${peer.shard}` };
      if (answer.state === 'ABORTED') return { kind: 'ABORT', via: `peer ${peer.shard}` };
    }
    return { kind: 'UNKNOWN' };
  }

  private scheduleRetry(txnId: string, now: number): void {
    const attempts = (this.retries.get(txnId)?.attempts ?? 0) + 1;
    const delay = backoffDelayMs(this.config.retryBackoff, attempts, this.random);
    this.retries.set(txnId, { attempts, nextAtMs: now + delay });
  }

  private async run(): Promise<void> {
    const signal = this.stopController.signal;
    while (!signal.aborted) {
      try {
        await this.scan();
      } catch (err) {
        this.logger.warn('in-doubt scan failed', { error: describeError(err) });
      }
      await this.clock.sleep(this.config.scanIntervalMs, signal).catch(() => undefined);
    }
  }
}
