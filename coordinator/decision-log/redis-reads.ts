/**
 * Reads of the Redis decision log. A read over the whole log (unfinished, list, the heuristic trail)
 * asks every slot group for its first `limit` entries — one pipeline on a single server, one per group
 * on a Cluster — merges them, keeps the first `limit`, and reads those records. Reads are not one
 * snapshot across groups: a record that changed between its index entry and its hash is skipped (it
 * is no longer what was asked for), exactly as if it had changed a moment before the read.
 */
import { assert } from '../../common/assert.ts';
import { unavailable } from '../../common/errors.ts';
import {
  LOG_STATUSES,
  logStatus,
  type DecisionRecord,
  type HeuristicRecord,
  type LogListQuery,
} from '../decision-log.ts';
import type { CommandResult, RedisConnection, SlotCommand } from './redis-connection.ts';
import type { KeyLayout } from './redis-keys.ts';
import { heuristicFromJson, recordFromHash } from './redis-records.ts';

function replyOf(result: CommandResult | undefined, what: string): unknown {
  assert(result !== undefined, `${what}: missing reply`);
  const [error, reply] = result;
  if (error !== null) throw unavailable(`decision log read failed (${what}): ${error.message}`, error);
  return reply;
}

function stringList(reply: unknown, what: string): string[] {
  assert(Array.isArray(reply) && reply.every((x) => typeof x === 'string'), `${what}: not a list of strings`);
  return reply as string[];
}

export class RedisLogReader {
  constructor(
    private readonly connection: RedisConnection,
    private readonly layout: KeyLayout,
  ) {}

  async get(txnId: string): Promise<DecisionRecord | undefined> {
    const [record] = await this.records([txnId]);
    return record;
  }

  async byIdempotencyKey(key: string): Promise<DecisionRecord | undefined> {
    const group = this.layout.ofIdempotencyKey(key);
    const [result] = await this.connection.exec([
      { tag: group.tag, add: (p) => p.get(group.idempotencyKey(key)) },
    ]);
    const owner = replyOf(result, 'key index');
    if (owner === null) return undefined;
    assert(typeof owner === 'string' && owner !== '', 'key index: bad owner');
    // A stale entry (its record collected) answers nothing, like a missing one.
    const record = await this.get(owner);
    return record?.idempotencyKey === key ? record : undefined;
  }

  async unfinished(afterSeq: bigint, limit: number): Promise<readonly DecisionRecord[]> {
    const replies = await this.connection.exec(
      this.layout.groups.map((g): SlotCommand => ({
        tag: g.tag,
        add: (p) => p.zrangebyscore(g.unfinished, `(${afterSeq}`, '+inf', 'WITHSCORES', 'LIMIT', 0, limit),
      })),
    );
    const entries: { txnId: string; seq: bigint }[] = [];
    for (const result of replies) {
      const flat = stringList(replyOf(result, 'unfinished index'), 'unfinished index');
      for (let i = 0; i + 1 < flat.length; i += 2)
        entries.push({ txnId: flat[i] as string, seq: BigInt(flat[i + 1] as string) });
    }
    entries.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
    const chosen = entries.slice(0, limit);
    const records = await this.records(chosen.map((e) => e.txnId));
    return records.filter(
      (r, i): r is DecisionRecord =>
        r !== undefined && logStatus(r) === 'COMMITTING' && r.decisionSeq === chosen[i]?.seq,
    );
  }

  async list(q: LogListQuery): Promise<readonly DecisionRecord[]> {
    const statuses = q.statuses.length === 0 ? LOG_STATUSES : q.statuses;
    const min = q.afterTxnId === '' ? '-' : `(${q.afterTxnId}`;
    const commands: SlotCommand[] = [];
    for (const g of this.layout.groups)
      for (const s of statuses)
        commands.push({ tag: g.tag, add: (p) => p.zrangebylex(g.status[s], min, '+', 'LIMIT', 0, q.limit) });
    const replies = await this.connection.exec(commands);
    const ids = new Set<string>();
    for (const result of replies)
      for (const id of stringList(replyOf(result, 'status index'), 'status index')) ids.add(id);
    const chosen = [...ids].sort().slice(0, q.limit);
    const records = await this.records(chosen);
    return records.filter((r): r is DecisionRecord => r !== undefined && statuses.includes(logStatus(r)));
  }

  async heuristics(txnId: string): Promise<readonly HeuristicRecord[]> {
    const group = this.layout.ofTxn(txnId);
    const [result] = await this.connection.exec([
      { tag: group.tag, add: (p) => p.lrange(group.txnHeuristics(txnId), 0, -1) },
    ]);
    return stringList(replyOf(result, 'heuristics'), 'heuristics').map(heuristicFromJson);
  }

  /** The audit trail, oldest first (by time; ties in group order), at most `limit`. */
  async listHeuristics(limit: number): Promise<readonly HeuristicRecord[]> {
    const replies = await this.connection.exec(
      this.layout.groups.map((g) => ({ tag: g.tag, add: (p) => p.lrange(g.heuristics, 0, limit - 1) })),
    );
    const all = replies.flatMap((result) =>
      stringList(replyOf(result, 'heuristic trail'), 'heuristic trail').map(heuristicFromJson),
    );
    return all.sort((a, b) => a.atMs - b.atMs).slice(0, limit);
  }

  /** The records of `txnIds`, in order; undefined where there is none. */
  async records(txnIds: readonly string[]): Promise<(DecisionRecord | undefined)[]> {
    const groups = txnIds.map((id) => this.layout.ofTxn(id));
    const replies = await this.connection.exec(
      txnIds.map((id, i) => {
        const group = groups[i] as (typeof groups)[number];
        return { tag: group.tag, add: (p) => p.hgetall(group.record(id)) };
      }),
    );
    return txnIds.map((id, i) => {
      const fields = replyOf(replies[i], `record ${id}`);
      assert(typeof fields === 'object' && fields !== null, `record ${id}: not a hash`);
      return recordFromHash(id, fields as Record<string, string>);
    });
  }
}
