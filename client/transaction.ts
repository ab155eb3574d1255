/**
 * The handle a `TwopcClient.transaction()` callback gets. Reads go to the coordinator at once and
 * return the committed row and its version (the coordinator adds them to the read set, validated
 * at commit). Writes are buffered here and sent in one Write call just before Commit, so `write()`
 * is synchronous and a transaction costs Begin + reads + Write + Commit round trips.
 *
 * A read does not see this transaction's own buffered writes: it returns the committed state.
 */
import { readResultFromPb } from '../common/api-codec.ts';
import { TwopcError } from '../common/errors.ts';
import type { Outcome } from '../common/api.ts';
import type { ReadResult } from '../common/protocol.ts';
import { opsToWire, type OpInput } from './ops.ts';
import type { TransactionsStub } from './transactions-stub.ts';
import { toValueMap, type PlainRow } from './values.ts';

/** Ops one transaction may buffer; far above what a coordinator accepts in one commit. */
export const bufferedOpsMax = 10_000;

/** What a transaction() callback may do. */
export interface Transaction {
  readonly txnId: string;
  /** The committed row under `key` and its version (found=false, version 0n if absent). */
  read(shard: string, table: string, key: PlainRow): Promise<ReadResult>;
  write(...ops: ReadonlyArray<OpInput | readonly OpInput[]>): void;
  /** Ops buffered so far. */
  readonly bufferedOps: number;
}

/** The client's side of a running transaction: the callback's handle plus commit and abort. */
export class ActiveTransaction implements Transaction {
  readonly txnId: string;
  private readonly stub: TransactionsStub;
  private readonly deadlineMs: number;
  private readonly signal: AbortSignal | undefined;
  private readonly buffered: OpInput[] = [];
  private finished = false;
  /** True once Commit went out: from then on the outcome may be COMMITTED even if the call failed. */
  commitSent = false;

  constructor(options: { txnId: string; stub: TransactionsStub; deadlineMs: number; signal?: AbortSignal }) {
    this.txnId = options.txnId;
    this.stub = options.stub;
    this.deadlineMs = options.deadlineMs;
    this.signal = options.signal;
  }

  async read(shard: string, table: string, key: PlainRow): Promise<ReadResult> {
    this.checkOpen('read');
    const request = { txn_id: this.txnId, shard, table, key: toValueMap(key, 'key') };
    const response = await this.stub.call('Read', request, this.callOptions(`read ${shard}/${table}`));
    return readResultFromPb(response);
  }

  write(...ops: ReadonlyArray<OpInput | readonly OpInput[]>): void {
    this.checkOpen('write');
    const flat = ops.flat() as OpInput[];
    // Encode now, so a bad value throws here, where the caller can see which op it was.
    opsToWire(flat, `ops[${this.buffered.length}+]`);
    if (this.buffered.length + flat.length > bufferedOpsMax) {
      throw new TwopcError(
        'RESOURCE_EXHAUSTED',
        `transaction ${this.txnId}: more than ${bufferedOpsMax} buffered ops`,
      );
    }
    this.buffered.push(...flat);
  }

  get bufferedOps(): number {
    return this.buffered.length;
  }

  /** Sends the buffered writes, then Commit; returns the raw ExecuteResponse. */
  async commit(): Promise<Record<string, unknown>> {
    this.checkOpen('commit');
    this.finished = true;
    if (this.buffered.length > 0) {
      await this.stub.call(
        'Write',
        { txn_id: this.txnId, ops: opsToWire(this.buffered) },
        this.callOptions('write'),
      );
    }
    this.commitSent = true;
    return this.stub.call('Commit', { txn_id: this.txnId }, this.callOptions('commit'));
  }

  /**
   * Best effort: resolves with the outcome the coordinator reports — ABORTED, or COMMITTED if the
   * commit decision was already made — or undefined if it could not be asked. Safe at any time.
   */
  async abort(deadlineMs: number): Promise<Outcome | undefined> {
    this.finished = true;
    try {
      const response = await this.stub.call('Abort', { txn_id: this.txnId }, { deadlineMs, what: 'abort' });
      return response.outcome === 'COMMITTED'
        ? 'COMMITTED'
        : response.outcome === 'ABORTED'
          ? 'ABORTED'
          : undefined;
    } catch {
      // Presumed abort: a transaction nobody commits is aborted at its timeout anyway.
      return undefined;
    }
  }

  private callOptions(what: string) {
    return { deadlineMs: this.deadlineMs, what, ...(this.signal ? { signal: this.signal } : {}) };
  }

  private checkOpen(what: string): void {
    if (this.finished) {
      throw new TwopcError('FAILED_PRECONDITION', `${what}: transaction ${this.txnId} is already finished`, {
        hint: 'use the tx handle only inside the transaction() callback, and await every read',
      });
    }
  }
}
