/**
 * The decision log file as recovery sees it. Looking opens it read-only (no epoch bump, no
 * checkpoint: the file does not change). Writing, which only a heuristic decision does, opens it in
 * `tool` mode (never bumps the epoch, so a coordinator started later is not fenced by the tool) and
 * only after claiming the file: a log a running coordinator holds is refused.
 *
 * A log file that does not exist is not an error here: `exists` is false and every read is empty.
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
import { claimFile } from './file-claim.ts';

export class LogView {
  private log: SqliteDecisionLog | undefined;

  private constructor(readonly file: string) {
    this.log = openIfExists(file);
  }

  /** FAILED_PRECONDITION if the file exists but is not a decision log. */
  static open(file: string): LogView {
    return new LogView(file);
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
   * Records a heuristic decision (HeuristicDecisionLog.logHeuristicDecision), forced. Claims the file
   * first; `create` makes a missing log file (for a log that was lost).
   */
  async recordHeuristic(
    decision: HeuristicDecision,
    options: { create: boolean; inUseHint: string },
  ): Promise<HeuristicDecisionResult> {
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
}

function openIfExists(file: string): SqliteDecisionLog | undefined {
  return existsSync(file) ? SqliteDecisionLog.open(file, { mode: 'read-only' }) : undefined;
}
