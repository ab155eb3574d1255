/**
 * The running coordinator as recovery sees it, through the public Transactions API.
 *
 * - `inFlight()` lists, without side effects, every transaction the coordinator is still deciding
 *   (ACTIVE, PREPARING) or has decided to commit and not finished (COMMITTING): ListTransactions, all
 *   pages. A shard's in-doubt transaction missing from it has no COMMIT at the coordinator.
 * - `getTransaction()` is the authoritative answer just before a decision is pushed. It is NOT free
 *   of side effects: for a transaction the coordinator no longer holds it settles it itself
 *   (presumed abort, Abort sent to every shard; coordinator/txn-resolution.ts). So only a real
 *   `resolve` calls it, never `status`, `show` or a dry run.
 *
 * Several coordinator replicas sharing a Redis log (`--coordinator A,B,…`): each holds its own
 * transactions in memory, so `inFlight()` is the union over every replica that answers (one that
 * does not is skipped: its transactions are taken over by another within its lease); and
 * `getTransaction()` asks each in turn until one gives an answer (a replica that does not own the
 * transaction answers UNAVAILABLE rather than presume it aborted, coordinator/txn-resolution.ts).
 */
import type { TxnView } from '../../common/api.ts';
import { TwopcError } from '../../common/errors.ts';
import { TwopcClient } from '../../client/twopc-client.ts';
import { coordinatorPageSizeMax, coordinatorPagesMax, recoveryRpcTimeoutMs } from './config.ts';

/** What recovery asks of a running coordinator (CoordinatorView over gRPC; small fakes in tests). */
export interface CoordinatorSource {
  readonly address: string;
  /** ACTIVE, PREPARING and COMMITTING transactions, by id. No side effects. */
  inFlight(): Promise<ReadonlyMap<string, TxnView>>;
  /** The authoritative state; may settle a transaction the coordinator no longer holds. */
  getTransaction(txnId: string): Promise<TxnView>;
  close(): Promise<void>;
}

export class CoordinatorView implements CoordinatorSource {
  private readonly replicas: ReplicaView[];

  /** `address`: HOST:PORT, or several replicas' as HOST:PORT,HOST:PORT… */
  constructor(readonly address: string) {
    this.replicas = address.split(',').map((a) => new ReplicaView(a.trim()));
  }

  async inFlight(): Promise<ReadonlyMap<string, TxnView>> {
    if (this.replicas.length === 1) return (this.replicas[0] as ReplicaView).inFlight();
    const answers = await Promise.allSettled(this.replicas.map((r) => r.inFlight()));
    const ok = answers.filter((a) => a.status === 'fulfilled');
    if (ok.length === 0) throw (answers[0] as PromiseRejectedResult).reason;
    return new Map(ok.flatMap((a) => [...a.value]));
  }

  async getTransaction(txnId: string): Promise<TxnView> {
    let lastError: unknown;
    for (const r of this.replicas) {
      try {
        return await r.getTransaction(txnId);
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  async close(): Promise<void> {
    for (const r of this.replicas) r.close();
  }
}

/** One coordinator process. */
class ReplicaView {
  private readonly client: TwopcClient;

  constructor(readonly address: string) {
    this.client = new TwopcClient(address, { deadlineMs: recoveryRpcTimeoutMs });
  }

  async inFlight(): Promise<ReadonlyMap<string, TxnView>> {
    const out = new Map<string, TxnView>();
    let pageToken = '';
    for (let page = 0; page < coordinatorPagesMax; page++) {
      const res = await this.client.listTransactions({
        states: ['ACTIVE', 'PREPARING', 'COMMITTING'],
        pageSize: coordinatorPageSizeMax,
        pageToken,
      });
      for (const t of res.transactions) out.set(t.txnId, t);
      if (res.nextPageToken === '') return out;
      pageToken = res.nextPageToken;
    }
    throw new TwopcError(
      'RESOURCE_EXHAUSTED',
      `coordinator at ${this.address}: more than ${coordinatorPagesMax} pages of transactions in flight`,
    );
  }

  getTransaction(txnId: string): Promise<TxnView> {
    return this.client.getTransaction(txnId);
  }

  close(): void {
    this.client.close();
  }
}
