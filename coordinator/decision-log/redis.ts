/**
 * The decision log on Redis (ioredis: one server, Sentinel, or Cluster), with the contracts of
 * DecisionLog and HeuristicDecisionLog (decision-log.ts), for coordinators that share one log.
 *
 * - Durable when a forced write resolves: the server was checked at open (redis-durability.ts) to
 *   fsync its AOF before replying (`appendfsync always`), or every forced batch ends with WAIT for
 *   the replicas the operator asked for. Lazy writes are the same commands without the WAIT.
 * - Atomic: each record is written by one Lua script that also keeps its indexes (status, unfinished,
 *   done) and refuses what SQLite refuses (a COMMIT for an ABORTED transaction...). Scripts touch one
 *   slot group each, so the log runs on Redis Cluster; the key layout and what it costs are in
 *   redis-keys.ts.
 * - Group commit: writes of one event-loop turn share pipelines (redis-batch.ts).
 * - Bounded: GC removes ENDed commits, outcomes and stale INTENTs past retention (redis-gc.ts);
 *   nothing has a TTL, so a `volatile-*` eviction policy never touches the log. Heuristic records
 *   are kept forever, as in SQLite.
 *
 * Idempotency keys, two slots: an INTENT is written first (in the transaction's group), then its key
 * is claimed (`SET NX GET` in the key's group); if another transaction holds the key, this INTENT is
 * dropped and the holder's id returned, as SQLite does. Because a record always exists before its
 * claim, a claim whose record is gone is stale and is taken over. A crash between the two steps leaves
 * an unclaimed INTENT: nothing was prepared under it (logIntent had not resolved), and GC removes it.
 * Where SQLite refuses a COMMIT or an outcome whose key belongs to another transaction (unique index),
 * this backend writes the record and leaves the key with its first owner: the coordinator never asks
 * for that (a keyed transaction claims its key with an INTENT first).
 */
import type { Logger } from '../../common/log.ts';
import { silentLogger } from '../../common/log.ts';
import { assert } from '../../common/assert.ts';
import { TwopcError, unavailable } from '../../common/errors.ts';
import type {
  CommitRecord,
  DecisionLog,
  DecisionLogStats,
  DecisionRecord,
  HeuristicDecision,
  HeuristicDecisionLog,
  HeuristicDecisionResult,
  HeuristicRecord,
  IntentRecord,
  LogListQuery,
  OutcomeRecord,
} from '../decision-log.ts';
import { BatchCounters } from './batch-counters.ts';
import { RedisWriteBatcher, type RedisBatchSummary, type RedisWrite } from './redis-batch.ts';
import { RedisConnection, type WaitPolicy } from './redis-connection.ts';
import { FencedError, type ReplicaInfo, type ReplicaRegistry } from '../replica-registry.ts';
import { RedisReplicaRegistry, listReplicas } from './redis-lease.ts';
import { checkDurability, type DurabilityPlan, type DurabilityPolicy } from './redis-durability.ts';
import { collectGarbage } from './redis-gc.ts';
import { KeyLayout } from './redis-keys.ts';
import { openRedisMeta } from './redis-meta.ts';
import { RedisLogReader } from './redis-reads.ts';
import {
  commitWrite,
  endWrite,
  heuristicDecisionWrite,
  heuristicWrite,
  intentWrite,
  outcomeWrite,
} from './redis-writes.ts';
import { parseRedisLogUrl, type RedisLogUrl } from './redis-url.ts';
import type { LogOpenMode } from './sqlite-open.ts';

export interface RedisDecisionLogOptions {
  /** As for SQLite: `coordinator` bumps the epoch; `tool` and `read-only` never do (default coordinator). */
  readonly mode?: LogOpenMode;
  /** `tool` mode only: create the log's meta keys if missing (default false). */
  readonly create?: boolean;
  /** Required for `coordinator` and `tool`; `read-only` never writes and skips the check. */
  readonly durability?: DurabilityPolicy;
  readonly logger?: Logger;
  /** Default redisCommandTimeoutMs (5 s); tests shorten it to see writes whose outcome is unknown. */
  readonly commandTimeoutMs?: number;
  readonly onBatch?: (summary: RedisBatchSummary) => void;
}

export interface RedisLogStats extends DecisionLogStats {
  /** Pipelines sent (round trips, each with at most one WAIT), reads and GC included. */
  readonly pipelines: number;
}

export class RedisDecisionLog implements DecisionLog, HeuristicDecisionLog {
  readonly writable: boolean;
  private closed = false;
  private readonly counters = new BatchCounters();
  private readonly batcher: RedisWriteBatcher;
  private readonly reader: RedisLogReader;
  /** This open's epoch as the write scripts check it; '' for tools (not fenced, see redis-scripts.ts). */
  private readonly fence: string;
  private readonly waitPolicy: WaitPolicy | undefined;
  private registry: RedisReplicaRegistry | undefined;
  private messageEpoch: bigint;
  private readonly fencedListeners: ((err: FencedError) => void)[] = [];

  private constructor(
    private readonly connection: RedisConnection,
    private readonly layout: KeyLayout,
    /** The epoch this open took: its identity as a replica (record owner, lease, fences). */
    readonly ownerEpoch: bigint,
    readonly durability: DurabilityPlan | undefined,
    mode: LogOpenMode,
    onBatch?: (summary: RedisBatchSummary) => void,
  ) {
    this.writable = mode !== 'read-only';
    this.fence = mode === 'coordinator' ? ownerEpoch.toString() : '';
    this.messageEpoch = ownerEpoch;
    const wait =
      durability === undefined
        ? undefined
        : { replicas: durability.waitReplicas, timeoutMs: durability.waitTimeoutMs };
    this.waitPolicy = wait;
    this.batcher = new RedisWriteBatcher(connection, layout, wait, (summary) => {
      this.counters.count(summary);
      onBatch?.(summary);
    });
    this.reader = new RedisLogReader(connection, layout);
  }

  /**
   * The epoch this coordinator's messages carry (DecisionLog.epoch): the open's, raised to a fresh
   * one (a new INCR of the counter) at every takeover, so that the decisions it sends for the
   * transactions it adopted outrank the dead owner's at the participants (participant/epoch-fence.ts)
   * even when the dead replica started later than this one.
   */
  get epoch(): bigint {
    return this.messageEpoch;
  }

  /**
   * Connects, checks durability (refusing a non-durable server: FAILED_PRECONDITION), creates or
   * checks the log's meta keys, and takes the epoch (INCR in `coordinator` mode).
   */
  static async open(
    url: string | RedisLogUrl,
    options: RedisDecisionLogOptions = {},
  ): Promise<RedisDecisionLog> {
    const parsed = typeof url === 'string' ? parseRedisLogUrl(url) : url;
    const mode = options.mode ?? 'coordinator';
    const logger = options.logger ?? silentLogger;
    const connection = await RedisConnection.open(parsed, logger, options.commandTimeoutMs);
    try {
      let plan: DurabilityPlan | undefined;
      if (mode !== 'read-only') {
        assert(options.durability !== undefined, 'a writable Redis log needs a durability policy');
        plan = await checkDurability(connection.masters(), options.durability, parsed.display);
      }
      const wait =
        plan === undefined ? undefined : { replicas: plan.waitReplicas, timeoutMs: plan.waitTimeoutMs };
      const meta = await openRedisMeta(connection, parsed, mode, options.create === true, wait);
      return new RedisDecisionLog(
        connection,
        new KeyLayout(meta.groups),
        meta.epoch,
        plan,
        mode,
        options.onBatch,
      );
    } catch (err) {
      await connection.close();
      throw err;
    }
  }

  logIntent(r: IntentRecord): Promise<string> {
    return this.write(() => intentWrite(r, this.fence)) as Promise<string>;
  }

  logCommit(r: CommitRecord): Promise<bigint> {
    return this.write(() => commitWrite(r, this.fence)) as Promise<bigint>;
  }

  logOutcome(r: OutcomeRecord): Promise<void> {
    return this.write(() => outcomeWrite(r, this.fence)) as Promise<void>;
  }

  logEnd(txnId: string, atMs: number): Promise<void> {
    return this.write(() => endWrite(txnId, atMs, this.fence)) as Promise<void>;
  }

  /** The registered coordinator replicas and whether each one's lease is alive; any open may ask. */
  replicas(): Promise<readonly ReplicaInfo[]> {
    return listReplicas(this.connection);
  }

  /**
   * The replicas of this log (coordinator/replicas.ts). Only a `coordinator` open has an epoch of its
   * own to register.
   */
  replicaRegistry(): ReplicaRegistry {
    assert(this.fence !== '', 'only a coordinator open of the log is a replica');
    this.registry ??= new RedisReplicaRegistry(
      this.connection,
      this.layout,
      this.ownerEpoch,
      this.waitPolicy,
      (takeoverEpoch) => {
        if (takeoverEpoch > this.messageEpoch) this.messageEpoch = takeoverEpoch;
      },
    );
    return this.registry;
  }

  /** Called once per write refused because this replica was fenced (a takeover happened). */
  onFenced(listener: (err: FencedError) => void): void {
    this.fencedListeners.push(listener);
  }

  logHeuristic(r: HeuristicRecord): Promise<void> {
    return this.write(() => heuristicWrite(r)) as Promise<void>;
  }

  async logHeuristicDecision(r: HeuristicDecision): Promise<HeuristicDecisionResult> {
    const decisionSeq = (await this.write(() => heuristicDecisionWrite(r))) as bigint | undefined;
    if (decisionSeq !== undefined) return { recorded: true, decisionSeq };
    return { recorded: false, existing: await this.get(r.txnId), heuristics: await this.heuristics(r.txnId) };
  }

  async get(txnId: string): Promise<DecisionRecord | undefined> {
    this.checkOpen();
    return this.reader.get(txnId);
  }

  async byIdempotencyKey(key: string): Promise<DecisionRecord | undefined> {
    this.checkOpen();
    return this.reader.byIdempotencyKey(key);
  }

  /**
   * Once `replicaRegistry()` was taken (replica mode), only the COMMITs this replica owns, or that
   * nobody owns (heuristic ones, records from before replicas): another replica's are its own to
   * re-drive, and a takeover moves a dead replica's here first. Otherwise every one.
   */
  async unfinished(afterSeq: bigint, limit: number): Promise<readonly DecisionRecord[]> {
    this.checkOpen();
    if (this.registry === undefined) return this.reader.unfinished(afterSeq, limit);
    const mine: DecisionRecord[] = [];
    let after = afterSeq;
    for (;;) {
      const page = await this.reader.unfinished(after, limit);
      for (const r of page) {
        after = r.decisionSeq;
        if (r.ownerEpoch === undefined || r.ownerEpoch === this.ownerEpoch) mine.push(r);
        if (mine.length === limit) return mine;
      }
      if (page.length < limit) return mine;
    }
  }

  async list(q: LogListQuery): Promise<readonly DecisionRecord[]> {
    this.checkOpen();
    return this.reader.list(q);
  }

  async heuristics(txnId: string): Promise<readonly HeuristicRecord[]> {
    this.checkOpen();
    return this.reader.heuristics(txnId);
  }

  async listHeuristics(limit: number): Promise<readonly HeuristicRecord[]> {
    this.checkOpen();
    return this.reader.listHeuristics(limit);
  }

  async gc(beforeMs: number, limit: number): Promise<number> {
    this.checkOpen();
    this.checkWritable();
    return collectGarbage(this.connection, this.layout, beforeMs, limit);
  }

  stats(): RedisLogStats {
    return { ...this.counters.stats(), pipelines: this.connection.pipelines };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.batcher.close();
    await this.connection.close();
  }

  private checkOpen(): void {
    if (this.closed) throw unavailable('decision log is closed');
  }

  private checkWritable(): void {
    if (!this.writable)
      throw new TwopcError('FAILED_PRECONDITION', 'decision log is open read-only: no writes');
  }

  /** Builds the write (which verifies it: a bad record rejects, nothing is sent) and queues it. */
  private write(describe: () => RedisWrite): Promise<unknown> {
    let w: RedisWrite;
    try {
      this.checkOpen();
      this.checkWritable();
      w = describe();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.batcher.enqueue(w).catch((err: unknown) => {
      if (err instanceof FencedError) for (const listener of this.fencedListeners) listener(err);
      throw err;
    });
  }
}
