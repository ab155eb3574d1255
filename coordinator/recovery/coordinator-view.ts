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

  async close(): Promise<void> {
    this.client.close();
  }
}
