/**
 * Group commit for the Redis log: writes queued in one event-loop turn (or while the previous batch
 * is in flight) go out together, one batch at a time, in at most four round trips whatever the
 * batch's size (two in the common cases: COMMITs = 1 + 2, keyed INTENTs = 2 + 3):
 *
 *   1. seqs:    one INCRBY of `{twopc}:seq` by the number of writes that need a decisionSeq; they
 *               take the range in queue order (skipped when none does);
 *   2. records: one Lua script per write, in its transaction's slot group, one pipeline;
 *   3. claims:  `SET key txnId NX GET` for each idempotency key a record asks to claim (skipped when
 *               none); only where a claim was lost: 3b, take over the key if its owner's record is
 *               gone (a stale claim), two more round trips;
 *   4. undo:    drop the INTENTs whose key another transaction holds (rare).
 *
 * On a Cluster "one pipeline" is one per slot group touched (redis-connection.ts). Steps 1–3 end with
 * WAIT when the durability plan asks for replicas and the batch holds a forced write. A batch holding
 * a forced write starts on the next `setImmediate`; one of only lazy writes waits up to
 * `lazyFlushDelayMs` for company (the constants are the SQLite group commit's).
 *
 * Failures are per write: a `TWOPC_FENCED` reply is a FencedError (this replica was taken over, see
 * redis-lease.ts); a `TWOPC_REFUSED` reply is an AssertionError (a bug caught by a script, as
 * SQLite's assertions); anything else is UNAVAILABLE with the outcome unknown (the write may have
 * been applied): every write is idempotent, so callers retry. A seq taken by a write that fails or
 * turns out to be a retry is never used: seqs have gaps, never repeats.
 */
import { AssertionError, assert } from '../../common/assert.ts';
import { unavailable } from '../../common/errors.ts';
import { batchRecordsMax, lazyFlushDelayMs } from './group-commit.ts';
import type { CommandResult, RedisConnection, SlotCommand, WaitPolicy } from './redis-connection.ts';
import { metaKeys, metaTag, type KeyLayout, type SlotGroup } from './redis-keys.ts';
import { seqFromReply } from './redis-records.ts';
import { FENCED_PREFIX, REFUSED_PREFIX } from './redis-scripts.ts';
import { FencedError } from '../replica-registry.ts';
import type { ChainableCommander } from 'ioredis';

/** One record write, described for the batch. */
export interface RedisWrite {
  readonly txnId: string;
  readonly forced: boolean;
  readonly needsSeq: boolean;
  /** Adds the record's script call to the pipeline (`keys` = the group's txnScriptKeys, `seq` 0n unless needsSeq). */
  readonly record: (pipeline: ChainableCommander, keys: string[], seq: bigint) => void;
  /** The idempotency key this write still has to claim, from the script's reply ('' = none). */
  readonly claimAfter?: (reply: unknown) => string;
  /** Undo the record when the claim is lost (an INTENT whose key belongs to another transaction). */
  readonly dropIfClaimLost?: boolean;
  /** The value the write resolves with, from the script's reply and the key's owner (if claimed). */
  readonly result: (reply: unknown, seq: bigint, owner: string | undefined) => unknown;
}

interface Queued {
  readonly write: RedisWrite;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

interface InFlight extends Queued {
  readonly group: SlotGroup;
  seq: bigint;
  reply?: unknown;
  claimKey?: string;
  owner?: string;
  error?: unknown;
}

export interface RedisBatchSummary {
  readonly forced: boolean;
  readonly size: number;
}

function writeError(error: Error): unknown {
  if (error.message.startsWith(FENCED_PREFIX))
    return new FencedError(error.message.slice(FENCED_PREFIX.length + 1));
  if (error.message.startsWith(REFUSED_PREFIX))
    return new AssertionError(`assertion failed: ${error.message.slice(REFUSED_PREFIX.length + 1)}`);
  return unavailable(`decision log write failed: ${error.message}`, error);
}

export class RedisWriteBatcher {
  private readonly queue: Queued[] = [];
  private running: Promise<void> | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly connection: RedisConnection,
    private readonly layout: KeyLayout,
    private readonly wait: WaitPolicy | undefined,
    private readonly onBatch: (summary: RedisBatchSummary) => void,
  ) {}

  enqueue(write: RedisWrite): Promise<unknown> {
    if (this.closed) return Promise.reject(unavailable('decision log is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ write, resolve, reject });
      this.schedule();
    });
  }

  /** Sends everything queued, waits for it, then refuses new writes. */
  async close(): Promise<void> {
    this.closed = true;
    this.cancelTimers();
    while (this.running !== undefined || this.queue.length > 0) {
      if (this.running === undefined) this.start();
      await this.running;
    }
  }

  private schedule(): void {
    if (this.running !== undefined) return; // the batch in flight schedules the next one
    const forced = this.queue.some((q) => q.write.forced);
    if (forced && this.immediate === undefined) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.immediate = setImmediate(() => this.start());
    } else if (!forced && this.immediate === undefined && this.timer === undefined) {
      this.timer = setTimeout(() => this.start(), lazyFlushDelayMs);
    }
  }

  private cancelTimers(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.immediate = undefined;
    this.timer = undefined;
  }

  private start(): void {
    this.cancelTimers();
    const batch = this.queue.splice(0, batchRecordsMax);
    if (batch.length === 0) return;
    this.running = this.runBatch(batch).finally(() => {
      this.running = undefined;
      if (this.queue.length > 0) this.schedule();
    });
  }

  private async runBatch(batch: readonly Queued[]): Promise<void> {
    const forced = batch.some((q) => q.write.forced);
    const wait = forced ? this.wait : undefined;
    const items: InFlight[] = batch.map((q) => ({ ...q, group: this.layout.ofTxn(q.write.txnId), seq: 0n }));
    try {
      await this.assignSeqs(items, wait);
      await this.writeRecords(items, wait);
      await this.claimKeys(items, wait);
      await this.takeOverStaleClaims(items, wait);
      await this.dropLostIntents(items);
    } catch (err) {
      for (const item of items) item.error ??= err;
    }
    this.onBatch({ forced, size: items.length });
    for (const item of items) {
      if (item.error !== undefined) {
        item.reject(item.error);
        continue;
      }
      try {
        item.resolve(item.write.result(item.reply, item.seq, item.owner));
      } catch (err) {
        item.reject(err);
      }
    }
  }

  /** Step 1: one INCRBY for every write that needs a seq; they take the range in queue order. */
  private async assignSeqs(items: InFlight[], wait: WaitPolicy | undefined): Promise<void> {
    const wanting = items.filter((i) => i.write.needsSeq);
    if (wanting.length === 0) return;
    const [[error, reply]] = (await this.connection.exec(
      [{ tag: metaTag, add: (p) => p.incrby(metaKeys.seq, wanting.length) }],
      wait,
    )) as [CommandResult];
    if (error !== null) throw unavailable(`decision seq allocation failed: ${error.message}`, error);
    const last = seqFromReply(reply, 'INCRBY decision seq');
    let seq = last - BigInt(wanting.length);
    assert(seq >= 0n, 'decision seq counter went backwards');
    for (const item of wanting) item.seq = ++seq;
  }

  /** Step 2: every record's script, in its own slot group. */
  private async writeRecords(items: InFlight[], wait: WaitPolicy | undefined): Promise<void> {
    const commands: SlotCommand[] = items.map((item) => ({
      tag: item.group.tag,
      add: (p) => item.write.record(p, item.group.txnScriptKeys(item.write.txnId), item.seq),
    }));
    const results = await this.connection.exec(commands, wait);
    items.forEach((item, i) => {
      const [error, reply] = results[i] as CommandResult;
      if (error !== null) {
        item.error = writeError(error);
        return;
      }
      item.reply = reply;
      const key = item.write.claimAfter?.(reply) ?? '';
      if (key !== '') item.claimKey = key;
    });
  }

  /** Step 3: claim idempotency keys in their own groups (after the record: see redis.ts). */
  private async claimKeys(items: InFlight[], wait: WaitPolicy | undefined): Promise<void> {
    const claiming = items.filter((i) => i.error === undefined && i.claimKey !== undefined);
    if (claiming.length === 0) return;
    const results = await this.connection.exec(
      claiming.map((item) => {
        const group = this.layout.ofIdempotencyKey(item.claimKey as string);
        const key = group.idempotencyKey(item.claimKey as string);
        return { tag: group.tag, add: (p) => p.set(key, item.write.txnId, 'NX', 'GET') };
      }),
      wait,
    );
    claiming.forEach((item, i) => {
      const [error, previous] = results[i] as CommandResult;
      if (error !== null) item.error = writeError(error);
      else item.owner = typeof previous === 'string' ? previous : item.write.txnId;
    });
  }

  /**
   * Step 3b, only when a claim was lost: a key whose owner has no record any more is stale (its
   * record was collected, or lost in a failover, after the key's entry survived), since an owner's
   * record is always written before its claim. Such a key passes to the claimant, atomically.
   */
  private async takeOverStaleClaims(items: InFlight[], wait: WaitPolicy | undefined): Promise<void> {
    const lost = items.filter(
      (i) => i.error === undefined && i.write.dropIfClaimLost === true && i.owner !== i.write.txnId,
    );
    if (lost.length === 0) return;
    const exists = await this.connection.exec(
      lost.map((item) => {
        const group = this.layout.ofTxn(item.owner as string);
        return { tag: group.tag, add: (p) => p.exists(group.record(item.owner as string)) };
      }),
    );
    const stale = lost.filter((_, i) => {
      const [error, count] = exists[i] as CommandResult;
      return error === null && count === 0;
    });
    if (stale.length === 0) return;
    const results = await this.connection.exec(
      stale.map((item) => {
        const group = this.layout.ofIdempotencyKey(item.claimKey as string);
        const key = group.idempotencyKey(item.claimKey as string);
        return {
          tag: group.tag,
          add: (p) => p.twopcTakeOverKey(1, key, item.owner as string, item.write.txnId),
        };
      }),
      wait,
    );
    stale.forEach((item, i) => {
      const [error, owner] = results[i] as CommandResult;
      if (error !== null) item.error = writeError(error);
      else if (typeof owner === 'string') item.owner = owner;
    });
  }

  /** Step 4: an INTENT whose key another transaction owns is removed (left behind it would only age out). */
  private async dropLostIntents(items: InFlight[]): Promise<void> {
    const lost = items.filter(
      (i) => i.error === undefined && i.write.dropIfClaimLost === true && i.owner !== i.write.txnId,
    );
    if (lost.length === 0) return;
    // A failed drop leaves an INTENT nobody will act on; GC removes it with the other old INTENTs.
    await this.connection.exec(
      lost.map((item) => {
        const keys = item.group.txnScriptKeys(item.write.txnId);
        return {
          tag: item.group.tag,
          add: (p) => p.twopcDropIntent(keys.length, ...keys, item.write.txnId, item.claimKey ?? ''),
        };
      }),
    );
  }
}
