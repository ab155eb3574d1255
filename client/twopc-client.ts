/**
 * The TypeScript SDK for twopc's public API (`twopc.v1.Transactions` on the coordinator).
 *
 *   const client = new TwopcClient('127.0.0.1:7400');
 *   const r = await client.execute([{ shard: 'shard-a', table: 'accounts', kind: 'ADD',
 *                                     key: { id: 1n }, values: { balance: -10n } }, …]);
 *   const v = await client.transaction(async (tx) => { … tx.read … tx.write … return value; });
 *
 * Every call has a deadline. Every failure is a TwopcError (gRPC statuses mapped by
 * common/grpc-status.ts). `execute` resolves with the outcome, ABORTED included; `transaction`
 * retries conflict aborts and throws TransactionAbortedError for any other abort.
 */
import type * as grpc from '@grpc/grpc-js';
import { queryResultFromPb, txnOutcomeFromPb, txnViewFromPb } from '../common/api-codec.ts';
import type { TxnOutcome, TxnPage, TxnState, TxnView } from '../common/api.ts';
import { backoffDelayMs, type BackoffPolicy } from '../common/backoff.ts';
import { systemClock } from '../common/clock.ts';
import { TwopcError, invalidArgument } from '../common/errors.ts';
import type { QueryResult } from '../common/protocol.ts';
import { opsToWire, type OpInput } from './ops.ts';
import { ActiveTransaction, type Transaction } from './transaction.ts';
import { TransactionAbortedError } from './transaction-aborted-error.ts';
import { TransactionsStub } from './transactions-stub.ts';
import { toValue, type PlainValue } from './values.ts';

/** Deadline of each call when the client is not given one. */
export const clientDeadlineMsDefault = 10_000;
/** Extra time a call gets beyond the transaction timeout it carries, for the coordinator to answer. */
export const deadlineSlackMs = 2_000;
/** How long a best-effort Abort may take; the coordinator's timeout aborts the transaction anyway. */
export const abortDeadlineMs = 2_000;
/** transaction(): retries after the first attempt, by default. */
export const transactionRetriesDefault = 8;
/** transaction(): the most retries a caller may ask for (a livelock must end somewhere). */
export const transactionRetriesMax = 1_000;
/** transaction(): wait before retry n is random in [1, min(maxMs, baseMs * 2^n)]. */
export const transactionBackoffDefault: BackoffPolicy = Object.freeze({ baseMs: 5, maxMs: 500 });
/** The longest delay a Node.js timer takes (about 24.8 days). */
const timerMsMax = 2 ** 31 - 1;
/** timeout_ms is a uint32 on the wire. */
const timeoutMsMax = 0xffffffff;

export interface TwopcClientOptions {
  /** Deadline of each call, in ms (default clientDeadlineMsDefault). */
  readonly deadlineMs?: number;
  /**
   * How `execute` reaches the coordinator: 'stream' (default) multiplexes every call over one
   * long-lived ExecuteStream, batched; 'unary' makes one Execute call each. Same answers and errors.
   */
  readonly executeTransport?: 'stream' | 'unary';
  /** Default: insecure (plaintext), as the coordinator serves. */
  readonly credentials?: grpc.ChannelCredentials;
}

export interface ExecuteOptions {
  /** Same key => same transaction: a retry returns the first outcome and never applies twice. */
  readonly idempotencyKey?: string;
  /** The transaction's timeout at the coordinator (0 or absent = the coordinator's default). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface TransactionOptions {
  /** Retries after the first attempt on a conflict abort (default transactionRetriesDefault). */
  readonly retries?: number;
  /** Wait between attempts (default transactionBackoffDefault). */
  readonly backoff?: BackoffPolicy;
  /** Each attempt's timeout at the coordinator (absent = the coordinator's default). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Uniform in [0, 1); injectable so tests and simulations stay seeded. */
  readonly random?: () => number;
}

export interface ListTransactionsOptions {
  /** Only these states (default: every state). */
  readonly states?: readonly TxnState[];
  /** At most this many (0 or absent = the coordinator's default, 100; at most 1000). */
  readonly pageSize?: number;
  /** From a previous page's nextPageToken. */
  readonly pageToken?: string;
}

export class TwopcClient {
  readonly address: string;
  private readonly deadlineMs: number;
  private readonly stub: TransactionsStub;
  private readonly executeTransport: 'stream' | 'unary';

  constructor(address: string, options: TwopcClientOptions = {}) {
    const deadlineMs = options.deadlineMs ?? clientDeadlineMsDefault;
    if (!Number.isFinite(deadlineMs) || deadlineMs <= 0)
      throw invalidArgument(`deadlineMs: ${deadlineMs} is not a positive number`);
    const transport = options.executeTransport ?? 'stream';
    if (transport !== 'stream' && transport !== 'unary')
      throw invalidArgument(`executeTransport: ${String(transport)} is not 'stream' or 'unary'`);
    this.address = address;
    this.deadlineMs = deadlineMs;
    this.executeTransport = transport;
    this.stub = new TransactionsStub(address, options.credentials);
  }

  /** Runs `ops` as one transaction. Resolves with the outcome, ABORTED included (see `reason`). */
  async execute(ops: readonly OpInput[], options: ExecuteOptions = {}): Promise<TxnOutcome> {
    const timeoutMs = checkTimeout(options.timeoutMs);
    const request = {
      ops: opsToWire(ops),
      timeout_ms: timeoutMs,
      idempotency_key: options.idempotencyKey ?? '',
    };
    const callOptions = this.callOptions('execute', timeoutMs, options.signal);
    const response =
      this.executeTransport === 'stream'
        ? await this.stub.executeOnStream(request, callOptions)
        : await this.stub.call('Execute', request, callOptions);
    return txnOutcomeFromPb(response);
  }

  /**
   * Begins a transaction, runs `fn` with its handle, commits, and resolves with what `fn` returned.
   * On a CONFLICT abort (or an ABORTED status from any call) it runs `fn` again, from scratch, after a
   * capped exponential backoff with jitter, up to `retries` times — so `fn` must be safe to re-run.
   * Any other abort throws TransactionAbortedError; an error thrown by `fn` aborts the transaction and
   * is rethrown. If Commit itself fails (say UNAVAILABLE), the outcome is unknown: the error says
   * which transaction to look up with getTransaction().
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const retries = options.retries ?? transactionRetriesDefault;
    if (!Number.isSafeInteger(retries) || retries < 0 || retries > transactionRetriesMax) {
      throw invalidArgument(`retries: ${retries} is not an integer from 0 to ${transactionRetriesMax}`);
    }
    const backoff = options.backoff ?? transactionBackoffDefault;
    const timeoutMs = checkTimeout(options.timeoutMs);
    let lastAbort: { outcome?: TxnOutcome; cause?: unknown } = {};
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await pause(backoffDelayMs(backoff, attempt - 1, options.random), options.signal);
      const result = await this.attempt(fn, timeoutMs, options.signal);
      if (result.kind === 'done') return result.value;
      lastAbort = { outcome: result.outcome, cause: result.cause };
      if (result.outcome !== undefined && result.outcome.abortReason !== 'CONFLICT') {
        throw new TransactionAbortedError(
          `transaction ${result.outcome.txnId} aborted: ${describeAbort(result.outcome)}`,
          {
            outcome: result.outcome,
            attempts: attempt + 1,
          },
        );
      }
    }
    const what = lastAbort.outcome ? describeAbort(lastAbort.outcome) : describeCause(lastAbort.cause);
    throw new TransactionAbortedError(`transaction aborted ${retries + 1} times; last: ${what}`, {
      ...lastAbort,
      attempts: retries + 1,
      hint: 'contention on the same rows: retry later, raise `retries`, or touch fewer hot rows per transaction',
    });
  }

  /** One run of the callback. Resolves 'done', or the abort to consider retrying; rethrows the rest. */
  private async attempt<T>(
    fn: (tx: Transaction) => Promise<T>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<{ kind: 'done'; value: T } | { kind: 'aborted'; outcome?: TxnOutcome; cause?: unknown }> {
    const options = this.callOptions('begin', timeoutMs, signal);
    const begun = await this.stub.call('Begin', { timeout_ms: timeoutMs }, options);
    const txnId = typeof begun.txn_id === 'string' ? begun.txn_id : '';
    const tx = new ActiveTransaction({
      txnId,
      stub: this.stub,
      deadlineMs: options.deadlineMs,
      ...(signal ? { signal } : {}),
    });
    let ran: { value: T } | undefined;
    let response: Record<string, unknown>;
    try {
      ran = { value: await fn(tx) };
      response = await tx.commit();
    } catch (err) {
      // Abort is safe at any point: it answers COMMITTED if the decision was already made. After a
      // commit lost in transit (UNAVAILABLE, DEADLINE_EXCEEDED) that is how the outcome becomes known.
      const settled = await tx.abort(abortDeadlineMs);
      if (ran !== undefined && tx.commitSent && settled === 'COMMITTED')
        return { kind: 'done', value: ran.value };
      if (err instanceof TwopcError && err.code === 'ABORTED' && !(err instanceof TransactionAbortedError)) {
        return { kind: 'aborted', cause: err };
      }
      if (tx.commitSent && settled === undefined && err instanceof TwopcError && AMBIGUOUS.has(err.code)) {
        throw new TwopcError(err.code, `commit of ${txnId}: outcome unknown (${err.message})`, {
          cause: err,
          hint: `look it up with getTransaction('${txnId}') before retrying`,
        });
      }
      throw err;
    }
    const outcome = txnOutcomeFromPb(response);
    return outcome.outcome === 'COMMITTED'
      ? { kind: 'done', value: ran.value }
      : { kind: 'aborted', outcome };
  }

  async getTransaction(txnId: string, options: { signal?: AbortSignal } = {}): Promise<TxnView> {
    const response = await this.stub.call(
      'GetTransaction',
      { txn_id: txnId },
      this.callOptions('get transaction', 0, options.signal),
    );
    return txnViewFromPb(response);
  }

  async listTransactions(options: ListTransactionsOptions = {}): Promise<TxnPage> {
    const request = {
      states: [...(options.states ?? [])],
      page_size: options.pageSize ?? 0,
      page_token: options.pageToken ?? '',
    };
    const response = await this.stub.call(
      'ListTransactions',
      request,
      this.callOptions('list transactions', 0),
    );
    const transactions = Array.isArray(response.transactions) ? response.transactions : [];
    return {
      transactions: transactions.map((t, i) => txnViewFromPb(t, `transactions[${i}]`)),
      nextPageToken: typeof response.next_page_token === 'string' ? response.next_page_token : '',
    };
  }

  /** Read-only SQL (one SELECT) on one shard's committed state; INTEGER columns come back as bigint. */
  async query(
    shard: string,
    sql: string,
    params: readonly PlainValue[] = [],
    options: { signal?: AbortSignal } = {},
  ): Promise<QueryResult> {
    const request = { shard, sql, params: params.map((p, i) => toValue(p, `params[${i}]`)) };
    const response = await this.stub.call(
      'Query',
      request,
      this.callOptions(`query ${shard}`, 0, options.signal),
    );
    return queryResultFromPb(response);
  }

  close(): void {
    this.stub.close();
  }

  private callOptions(what: string, timeoutMs: number, signal?: AbortSignal) {
    const wanted = Math.max(this.deadlineMs, timeoutMs > 0 ? timeoutMs + deadlineSlackMs : 0);
    // Timers (Node's and grpc-js's) take at most 2^31-1 ms; a longer one would fire at once.
    const deadlineMs = Math.min(wanted, timerMsMax);
    return { deadlineMs, what, ...(signal ? { signal } : {}) };
  }
}

/** Codes after which a sent Commit may or may not have been decided. */
const AMBIGUOUS: ReadonlySet<string> = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'CANCELLED', 'INTERNAL']);

/** The backoff wait; a cancel during it is a CANCELLED TwopcError like any other. */
async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await systemClock.sleep(ms, signal);
  } catch (err) {
    throw new TwopcError('CANCELLED', 'transaction: cancelled while waiting to retry', { cause: err });
  }
}

function checkTimeout(timeoutMs: number | undefined): number {
  const t = timeoutMs ?? 0;
  if (!Number.isSafeInteger(t) || t < 0 || t > timeoutMsMax)
    throw invalidArgument(`timeoutMs: ${t} is not an integer from 0 to ${timeoutMsMax}`);
  return t;
}

function describeAbort(outcome: TxnOutcome): string {
  const reason = outcome.abortReason ?? 'UNSPECIFIED';
  return outcome.reason ? `${reason} (${outcome.reason})` : reason;
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
