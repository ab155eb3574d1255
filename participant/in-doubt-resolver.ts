/**
 * Resolves this shard's in-doubt transactions: ones it voted YES on and has heard no decision for.
 *
 * A prepared transaction normally hears its decision within milliseconds. One that stays PREPARED
 * past `inDoubtAfterMs` (a crash, a lost message, a participant restored or restarted) is looked
 * up: at the coordinator, else at the peers named in the prepare (decision-lookup.ts). Locks stay
 * held the whole time: nothing is released until a decision is known. A transaction nobody could
 * answer for is asked about again after a capped, jittered, growing backoff.
 *
 * The decision is applied through `store.decide`, which in the participant server is the Batcher's
 * (the same group-commit path, and failpoints, as a decision from the coordinator). Applying a
 * decision twice is harmless: decisions are idempotent at the shard.
 */
import { backoffDelayMs, type BackoffPolicy } from '../common/backoff.ts';
import { resolvedEpoch } from './epoch-fence.ts';
import type { Clock } from '../common/clock.ts';
import { systemClock } from '../common/clock.ts';
import { describeError, invalidArgument } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import { silentLogger } from '../common/log.ts';
import type { Ack, DecisionMessage, InDoubtTxn } from '../common/protocol.ts';
import { findDecision, type DecisionSource } from './decision-lookup.ts';

/** The parts of the participant the resolver needs: the shard store's list, the batcher's decide. */
export interface ResolvableStore {
  /** PREPARED transactions, oldest first. */
  listInDoubt(): InDoubtTxn[];
  /** Applies a decision durably; resolves with the shard's state afterwards. Idempotent. */
  decide(message: DecisionMessage): Promise<Ack>;
}

export interface InDoubtResolverConfig {
  /**
   * A transaction prepared less than this long ago is presumed to be on its normal path (default
   * 2 s: far above a healthy decision's few ms, well below the 10 s transaction timeout).
   */
  readonly inDoubtAfterMs: number;
  /** How often the resolver scans for in-doubt transactions (default 500 ms). */
  readonly scanIntervalMs: number;
  /** Backoff between rounds for a transaction nobody could answer for (default 200 ms to 5 s). */
  readonly retryBackoff: BackoffPolicy;
  /**
   * Transactions looked up per scan (default 256); the rest wait for the next scan. Bounds the
   * questions in flight at once (each asks the coordinator, then at most every peer).
   */
  readonly txnsPerScanMax: number;
  /** A transaction still unresolved after this many rounds is logged as a warning, and again every as many. */
  readonly warnEveryAttempts: number;
}

export const IN_DOUBT_RESOLVER_DEFAULTS: InDoubtResolverConfig = Object.freeze({
  inDoubtAfterMs: 2_000,
  scanIntervalMs: 500,
  retryBackoff: Object.freeze({ baseMs: 200, maxMs: 5_000 }),
  txnsPerScanMax: 256,
  warnEveryAttempts: 20,
});

export type Resolution = 'COMMIT' | 'ABORT' | 'UNKNOWN';

export interface InDoubtResolverStats {
  readonly scans: number;
  readonly committed: number;
  readonly aborted: number;
  /**
   * Attempts, one per transaction per round, that ended without an answer (or with a decision that
   * could not be applied); each schedules a retry.
   */
  readonly unresolvedRounds: number;
  /** Decisions found that contradict what the shard already holds: atomicity broken elsewhere. */
  readonly contradictions: number;
}

/** A resolver that has done nothing yet (also what a scrape reports before one has started). */
export const NO_RESOLVER_STATS: InDoubtResolverStats = Object.freeze({
  scans: 0,
  committed: 0,
  aborted: 0,
  unresolvedRounds: 0,
  contradictions: 0,
});

/** Validates and freezes a partial config over the defaults; a bad value is INVALID_ARGUMENT. */
export function resolveInDoubtResolverConfig(
  overrides: Partial<InDoubtResolverConfig> = {},
): InDoubtResolverConfig {
  const c = { ...IN_DOUBT_RESOLVER_DEFAULTS, ...overrides };
  for (const field of ['inDoubtAfterMs', 'scanIntervalMs', 'txnsPerScanMax', 'warnEveryAttempts'] as const) {
    const min = field === 'inDoubtAfterMs' ? 0 : 1;
    if (!Number.isSafeInteger(c[field]) || c[field] < min)
      throw invalidArgument(
        `in-doubt resolver config: ${field} must be an integer >= ${min}, got ${c[field]}`,
      );
  }
  const b = c.retryBackoff;
  if (!(b.baseMs > 0 && b.maxMs >= b.baseMs))
    throw invalidArgument('in-doubt resolver config: retryBackoff needs 0 < baseMs <= maxMs');
  return Object.freeze({ ...c, retryBackoff: Object.freeze({ ...b }) });
}

export class InDoubtResolver {
  readonly config: InDoubtResolverConfig;
  private readonly store: ResolvableStore;
  private readonly source: DecisionSource;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly random: () => number;
  /** txnId -> rounds so far and when to try next; only for transactions still in doubt. */
  private readonly retries = new Map<string, { attempts: number; nextAtMs: number }>();
  private readonly stopController = new AbortController();
  private loop: Promise<void> | undefined;
  private scanning: Promise<Map<string, Resolution>> | undefined;
  private counters = { ...NO_RESOLVER_STATS };

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
    this.config = resolveInDoubtResolverConfig(options.config);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.random = options.random ?? Math.random;
  }

  /** Scans now, then every `scanIntervalMs`, until `stop()`. */
  start(): void {
    if (this.loop || this.stopController.signal.aborted) return;
    this.loop = this.run();
  }

  /** Stops the loop and waits for the scan in progress (its questions have deadlines). */
  async stop(): Promise<void> {
    this.stopController.abort(new Error('resolver stopped'));
    await this.loop;
  }

  stats(): InDoubtResolverStats {
    return { ...this.counters };
  }

  /** When a transaction is next due, if it has been asked about without an answer. */
  nextAttemptAtMs(txnId: string): number | undefined {
    return this.retries.get(txnId)?.nextAtMs;
  }

  /**
   * One pass over the in-doubt transactions that are due. Returns how each one ended. Never
   * rejects for a single transaction's trouble; concurrent calls share one pass.
   */
  scan(): Promise<Map<string, Resolution>> {
    this.scanning ??= this.scanOnce().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  /** Finds the outcome of one transaction and applies it locally if found. */
  async resolve(txn: InDoubtTxn): Promise<Resolution> {
    const found = await findDecision(this.source, this.logger, txn);
    if (found.kind === 'UNKNOWN') return 'UNKNOWN';
    const commit = found.kind === 'COMMIT';
    const ack = await this.store.decide({
      txnId: txn.txnId,
      commit,
      decisionSeq: commit ? found.decisionSeq : 0n,
      // Looked up, not sent by a coordinator: final, never refused as stale (epoch-fence.ts).
      epoch: resolvedEpoch,
    });
    const expected = commit ? 'COMMITTED' : 'ABORTED';
    if (ack.state !== expected) {
      // The shard holds the other outcome: atomicity is already broken somewhere. Loud, and left to
      // an operator: applying anything more cannot repair it.
      this.counters.contradictions++;
      this.logger.error('in-doubt decision contradicts the shard', {
        txnId: txn.txnId,
        decision: found.kind,
        via: found.via,
        shardState: ack.state,
      });
      return 'UNKNOWN';
    }
    if (commit) this.counters.committed++;
    else this.counters.aborted++;
    this.logger.info('in-doubt transaction resolved', {
      txnId: txn.txnId,
      outcome: found.kind,
      via: found.via,
      inDoubtForMs: this.clock.nowMs() - txn.preparedAtMs,
    });
    return found.kind;
  }

  private async scanOnce(): Promise<Map<string, Resolution>> {
    this.counters.scans++;
    const now = this.clock.nowMs();
    const inDoubt = this.store.listInDoubt();
    this.forgetSettled(inDoubt);
    const due = inDoubt
      .filter((t) => now - t.preparedAtMs >= this.config.inDoubtAfterMs)
      .filter((t) => (this.retries.get(t.txnId)?.nextAtMs ?? 0) <= now)
      .slice(0, this.config.txnsPerScanMax);
    const results = new Map<string, Resolution>();
    await Promise.all(
      due.map(async (txn) => {
        const resolution = await this.resolve(txn).catch((err: unknown) => {
          this.logger.warn('applying an in-doubt decision failed; will retry', {
            txnId: txn.txnId,
            error: describeError(err),
          });
          return 'UNKNOWN' as const;
        });
        results.set(txn.txnId, resolution);
        if (resolution === 'UNKNOWN') this.scheduleRetry(txn, now);
        else this.retries.delete(txn.txnId);
      }),
    );
    return results;
  }

  /** Drops retry state of transactions decided meanwhile (by the coordinator, or an operator). */
  private forgetSettled(inDoubt: readonly InDoubtTxn[]): void {
    if (this.retries.size === 0) return;
    const live = new Set(inDoubt.map((t) => t.txnId));
    for (const txnId of this.retries.keys()) if (!live.has(txnId)) this.retries.delete(txnId);
  }

  private scheduleRetry(txn: InDoubtTxn, now: number): void {
    this.counters.unresolvedRounds++;
    const attempts = (this.retries.get(txn.txnId)?.attempts ?? 0) + 1;
    const delayMs = backoffDelayMs(this.config.retryBackoff, attempts, this.random);
    this.retries.set(txn.txnId, { attempts, nextAtMs: now + delayMs });
    if (attempts % this.config.warnEveryAttempts === 0) {
      this.logger.warn('transaction still in doubt; its locks stay held', {
        txnId: txn.txnId,
        attempts,
        inDoubtForMs: now - txn.preparedAtMs,
        peers: txn.peers.map((p) => p.shard),
        hint: 'check that the coordinator (--coordinator) or a peer is reachable',
      });
    }
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
