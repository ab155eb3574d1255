/**
 * Interactive transactions (Begin / Read / Write / Commit / Abort). Between Begin and Commit the
 * transaction lives only here: buffered writes and the read set (shard, table, key, version). Reads
 * go to the participant and hold nothing there; at Commit every read becomes a ReadCheck in its
 * shard's Prepare (a shard that was only read is a participant too), so a row that changed since it
 * was read makes that shard vote NO (CONFLICT): optimistic, serializable.
 *
 * Bounded: `interactiveTxnsMax` open at once, `opsPerTxnMax` / `requestBytesMax` of writes and
 * `readsPerTxnMax` reads each. A transaction still ACTIVE at its deadline is aborted (TIMEOUT); no
 * participant holds anything for it, so nothing needs to be sent. Reads do not see the transaction's
 * own buffered writes (read-your-writes is the client's business).
 */
import type { ClientOp } from '../common/api.ts';
import { assert } from '../common/assert.ts';
import { TwopcError, invalidArgument, notFound } from '../common/errors.ts';
import type { ReadCheck, ReadResult } from '../common/protocol.ts';
import { encodeRow, type Row } from '../common/value.ts';
import {
  planTransaction,
  validateOps,
  validateRow,
  validateShard,
  validateTable,
  type TxnPlan,
  type ValidationContext,
} from './op-validation.ts';
import { callParticipant } from './participant-call.ts';
import type { ProtocolContext } from './protocol-context.ts';
import type { Transaction } from './transaction.ts';
import type { TxnTable } from './txn-table.ts';

interface OpenTxn {
  readonly txn: Transaction;
  readonly ops: ClientOp[];
  opsBytes: number;
  /** shard -> (table + key) -> the version read first. */
  readonly reads: Map<string, Map<string, ReadCheck>>;
  /** Set when two reads of one row returned different versions: the transaction must abort. */
  inconsistentRead?: string;
  readCount: number;
  /** Commit has taken the buffers: no more reads or writes. */
  committing: boolean;
  readonly expiry: AbortController;
}

export class InteractiveTxns {
  private readonly open = new Map<string, OpenTxn>();

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly validation: ValidationContext,
    private readonly table: TxnTable,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** RESOURCE_EXHAUSTED when `interactiveTxnsMax` transactions are open. */
  checkCapacity(): void {
    if (this.open.size >= this.ctx.config.interactiveTxnsMax) {
      throw new TwopcError(
        'RESOURCE_EXHAUSTED',
        `too many open interactive transactions (${this.ctx.config.interactiveTxnsMax})`,
        {
          hint: 'commit or abort open transactions, or retry later',
        },
      );
    }
  }

  /** Registers a new ACTIVE transaction and arms its expiry. */
  add(txn: Transaction): void {
    assert(txn.interactive && txn.phase === 'ACTIVE', `txn ${txn.id}: not a fresh interactive transaction`);
    this.checkCapacity();
    const { clock } = this.ctx;
    const entry: OpenTxn = {
      txn,
      ops: [],
      opsBytes: 0,
      reads: new Map(),
      readCount: 0,
      committing: false,
      expiry: new AbortController(),
    };
    this.open.set(txn.id, entry);
    clock.sleep(Math.max(0, txn.deadlineMs - clock.nowMs()), entry.expiry.signal).then(
      () => {
        // Only an ACTIVE transaction expires here; once Commit started, the protocol owns the deadline.
        if (txn.tryAbort('TIMEOUT', 'the interactive transaction expired before it committed', clock.nowMs()))
          this.forget(txn.id);
      },
      () => {},
    );
  }

  /** The open transaction, or FAILED_PRECONDITION if it is finished, NOT_FOUND if never seen. */
  private active(txnId: string): OpenTxn {
    const entry = this.open.get(txnId);
    if (entry !== undefined && entry.txn.phase === 'ACTIVE' && !entry.committing) return entry;
    if (entry !== undefined || this.table.get(txnId) !== undefined) {
      throw new TwopcError(
        'FAILED_PRECONDITION',
        `txn ${txnId} is committing or finished: it takes no more reads or writes`,
      );
    }
    throw notFound(
      `no open transaction ${txnId}`,
      'Begin first; transactions are forgotten after their timeout',
    );
  }

  get(txnId: string): Transaction | undefined {
    return this.open.get(txnId)?.txn;
  }

  async read(txnId: string, shard: string, table: string, key: Row): Promise<ReadResult> {
    const entry = this.active(txnId);
    const where = `read (shard "${shard}", table "${table}")`;
    validateShard(shard, this.validation, where);
    validateTable(table, where);
    validateRow(key, 'key', this.validation, where);
    if (Object.keys(key).length === 0)
      throw invalidArgument(`${where}: key is empty (give the row's full primary key)`);
    if (entry.readCount >= this.ctx.config.readsPerTxnMax) {
      throw invalidArgument(`more than ${this.ctx.config.readsPerTxnMax} reads in one transaction`);
    }
    const { ctx } = this;
    const client = ctx.participants.get(shard);
    assert(client !== undefined, `validated shard ${shard} has no participant`);
    const timeoutMs = Math.min(ctx.config.rpcTimeoutMs, entry.txn.deadlineMs - ctx.clock.nowMs());
    if (timeoutMs <= 0) throw new TwopcError('DEADLINE_EXCEEDED', `txn ${txnId} is past its deadline`);
    const result = await callParticipant(
      ctx.clock,
      `read ${table} at ${shard}`,
      timeoutMs,
      entry.txn.abortSignal,
      (t) => client.read(table, key, t),
    );
    // The transaction may have expired or been aborted while the read was in flight.
    if (entry.txn.phase !== 'ACTIVE' || entry.committing) return result;
    let shardReads = entry.reads.get(shard);
    if (shardReads === undefined) entry.reads.set(shard, (shardReads = new Map()));
    const readKey = `${table}\u0000${encodeRow(sortedRow(key))}`;
    const earlier = shardReads.get(readKey);
    if (earlier === undefined) {
      shardReads.set(readKey, { table, key, version: result.version });
      entry.readCount++;
    } else if (earlier.version !== result.version && entry.inconsistentRead === undefined) {
      // Two reads of one row saw two versions (concurrent reads, or a retried one). The client may have
      // acted on either, and prepare can validate only one: no single moment has both, so the
      // transaction cannot be serializable. It aborts at Commit (found by the simulator, seed 337).
      entry.inconsistentRead = `${table} at ${shard} was read at versions ${earlier.version} and ${result.version}`;
    }
    return result;
  }

  write(txnId: string, ops: readonly ClientOp[]): { bufferedOps: number } {
    const entry = this.active(txnId);
    entry.opsBytes = validateOps(ops, this.validation, { ops: entry.ops.length, bytes: entry.opsBytes });
    entry.ops.push(...ops);
    return { bufferedOps: entry.ops.length };
  }

  /** Ends buffering: disarms the expiry and returns the plan to commit. The caller runs the protocol. */
  takeForCommit(txnId: string): { txn: Transaction; plan: TxnPlan } | undefined {
    const entry = this.open.get(txnId);
    if (entry === undefined || entry.txn.phase !== 'ACTIVE' || entry.committing) return undefined;
    entry.committing = true;
    entry.expiry.abort();
    if (entry.inconsistentRead !== undefined) {
      entry.txn.tryAbort('CONFLICT', `stale read: ${entry.inconsistentRead}`, this.ctx.clock.nowMs());
      this.open.delete(txnId);
      return undefined;
    }
    const reads = new Map<string, ReadCheck[]>();
    for (const [shard, checks] of entry.reads) reads.set(shard, [...checks.values()]);
    return { txn: entry.txn, plan: planTransaction(entry.ops, reads) };
  }

  forget(txnId: string): void {
    this.open.get(txnId)?.expiry.abort();
    this.open.delete(txnId);
  }

  /** Drops every open transaction (shutdown): they hold nothing anywhere, so they are simply aborted. */
  abortAll(reason: string, nowMs: number): void {
    for (const entry of [...this.open.values()]) {
      entry.txn.tryAbort('UNAVAILABLE', reason, nowMs);
      this.forget(entry.txn.id);
    }
  }
}

function sortedRow(row: Row): Row {
  return Object.fromEntries(Object.entries(row).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
