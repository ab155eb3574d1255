/**
 * The decision log as recovery sees it: a SQLite file, or a Redis log (`redis://…`, `rediss://…`,
 * `redis+sentinel://…`, `redis+cluster://…`, or `sqlite:PATH`; see decision-log/spec.ts). Looking
 * opens it read-only (no epoch bump, no checkpoint: the file does not change). Writing, which only a
 * heuristic decision does, opens it in `tool` mode (never bumps the epoch, so a coordinator started
 * later is not fenced by the tool). A SQLite file is claimed first: a log a running coordinator holds
 * is refused. A Redis log is shared by design (coordinator replicas write it all the time): the
 * heuristic decision is one atomic script that refuses where the log already decided, so it needs no
 * claim; the Redis must pass the same durability check as for a coordinator.
 *
 * A log that does not exist is not an error here: `exists` is false and every read is empty.
 * Callers decide what that means (status: "decision unknown"; resolve: refused).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { TwopcError } from '../../common/errors.ts';
import type {
  DecisionRecord,
  HeuristicDecision,
  HeuristicDecisionResult,
  HeuristicRecord,
  LogListQuery,
} from '../decision-log.ts';
import { SqliteDecisionLog } from '../decision-log/sqlite.ts';
import { RedisDecisionLog } from '../decision-log/redis.ts';
import { parseRedisLogUrl, type RedisLogUrl } from '../decision-log/redis-url.ts';
import { claimFile } from './file-claim.ts';

type Reader = Pick<
  SqliteDecisionLog,
  'get' | 'heuristics' | 'list' | 'listHeuristics' | 'logHeuristicDecision' | 'close'
>;

export class LogView {
  private log: Reader | undefined;

  private constructor(
    /** Where the log is, for messages: the file, or the Redis URL without its password. */
    readonly file: string,
    private readonly redis: RedisLogUrl | undefined,
    log: Reader | undefined,
    private readonly redisLog?: RedisDecisionLog,
  ) {
    this.log = log;
  }

  /** FAILED_PRECONDITION if the file exists but is not a decision log. */
  static open(file: string): LogView {
    return new LogView(file, undefined, openIfExists(file));
  }

  /**
   * A file path, `sqlite:PATH`, or a Redis log URL. A Redis log that was never created does not
   * exist; an unreachable Redis is UNAVAILABLE.
   */
  static async openAt(location: string): Promise<LogView> {
    if (!isRedisLocation(location))
      return LogView.open(location.startsWith('sqlite:') ? location.slice('sqlite:'.length) : location);
    const url = parseRedisLogUrl(location);
    let log: RedisDecisionLog | undefined;
    try {
      log = await RedisDecisionLog.open(url, { mode: 'read-only' });
    } catch (err) {
      if (!(err instanceof TwopcError && err.code === 'NOT_FOUND')) throw err;
    }
    return new LogView(url.display, url, log, log);
  }

  get exists(): boolean {
    return this.log !== undefined;
  }

  async get(txnId: string): Promise<DecisionRecord | undefined> {
    return this.log?.get(txnId);
  }

  async heuristics(txnId: string): Promise<readonly HeuristicRecord[]> {
    return this.log?.heuristics(txnId) ?? [];
  }

  async list(query: LogListQuery): Promise<readonly DecisionRecord[]> {
    return this.log?.list(query) ?? [];
  }

  async listHeuristics(limit: number): Promise<readonly HeuristicRecord[]> {
    return this.log?.listHeuristics(limit) ?? [];
  }

  /**
   * Rejects with FAILED_PRECONDITION when a running process (the coordinator) has the log open.
   * `hint` says what to do instead, which depends on the command. Writes nothing.
   */
  async checkNotInUse(hint: string): Promise<void> {
    if (this.redis !== undefined) return; // shared by design: see the top of this file
    if (!existsSync(this.file)) return;
    await this.log?.close();
    this.log = undefined;
    let claim;
    try {
      claim = claimFile(this.file);
    } finally {
      this.log = openIfExists(this.file);
    }
    if (claim.inUse) {
      throw new TwopcError(
        'FAILED_PRECONDITION',
        `${path.basename(this.file)} is in use by a running coordinator`,
        { hint },
      );
    }
    claim.reader.close();
  }

  /**
   * Rejects with FAILED_PRECONDITION when a coordinator replica holds a live lease on this Redis log:
   * it may be about to log a COMMIT that is not in the log yet, so "not in the log" does not mean
   * aborted. (A SQLite log is covered by checkNotInUse.) Writes nothing.
   */
  async checkNoLiveReplica(hint: string): Promise<void> {
    if (this.redisLog === undefined) return;
    const live = (await this.redisLog.replicas()).filter((r) => r.alive);
    if (live.length === 0) return;
    const names = live.map((r) => `${r.coordinatorId} at ${r.address}`).join(', ');
    throw new TwopcError(
      'FAILED_PRECONDITION',
      `${live.length} coordinator replica(s) hold a live lease on ${this.file} (${names}): they may be deciding transactions right now`,
      { hint },
    );
  }

  /**
   * Records a heuristic decision (HeuristicDecisionLog.logHeuristicDecision), forced. Claims the file
   * first; `create` makes a missing log file (for a log that was lost).
   */
  async recordHeuristic(
    decision: HeuristicDecision,
    options: { create: boolean; inUseHint: string },
  ): Promise<HeuristicDecisionResult> {
    if (this.redis !== undefined) return this.recordHeuristicInRedis(this.redis, decision, options.create);
    await this.checkNotInUse(options.inUseHint);
    const writer = SqliteDecisionLog.open(this.file, { mode: 'tool', create: options.create });
    try {
      return await writer.logHeuristicDecision(decision);
    } finally {
      await writer.close();
      await this.log?.close();
      this.log = openIfExists(this.file);
    }
  }

  async close(): Promise<void> {
    await this.log?.close();
    this.log = undefined;
  }

  private async recordHeuristicInRedis(
    url: RedisLogUrl,
    decision: HeuristicDecision,
    create: boolean,
  ): Promise<HeuristicDecisionResult> {
    const writer = await RedisDecisionLog.open(url, {
      mode: 'tool',
      create,
      durability: { allowNonDurable: false },
    });
    try {
      return await writer.logHeuristicDecision(decision);
    } finally {
      await writer.close();
    }
  }
}

/** A Redis URL rather than a file (decision-log/redis-url.ts lists the schemes). */
function isRedisLocation(location: string): boolean {
  return /^(rediss?|redis\+sentinel|redis\+cluster):\/\//.test(location);
}

function openIfExists(file: string): SqliteDecisionLog | undefined {
  return existsSync(file) ? SqliteDecisionLog.open(file, { mode: 'read-only' }) : undefined;
}
