/**
 * The coordinator's ParticipantClient (common/protocol.ts) over the simulated network: every call is
 * a request and a reply that can be delayed, reordered, duplicated or lost, with its deadline in the
 * coordinator's virtual time. One client per coordinator incarnation and shard, so a crashed
 * coordinator's calls die with it.
 */
import type {
  Ack,
  DecisionMessage,
  InDoubtTxn,
  ParticipantClient,
  PrepareMessage,
  QueryResult,
  ReadResult,
  TableInfo,
  TxnStateInfo,
  Vote,
} from '../../common/protocol.ts';
import type { Row, SqlValue } from '../../common/value.ts';
import type { SimNetwork } from './network.ts';
import type { NodeClock } from './node-clock.ts';

/** What a participant node answers; the network calls it on the node's live incarnation. */
export interface ParticipantEndpoint {
  prepare(message: PrepareMessage): Promise<Vote>;
  decide(message: DecisionMessage): Promise<Ack>;
  read(table: string, key: Row): ReadResult;
  query(sql: string, params: readonly SqlValue[]): QueryResult;
  txnState(txnId: string, abortIfUnknown: boolean): TxnStateInfo;
  listInDoubt(): InDoubtTxn[];
  describe(): TableInfo[];
}

export function simAddress(shard: string): string {
  return `sim://${shard}`;
}

export class SimParticipantClient implements ParticipantClient {
  readonly address: string;

  constructor(
    readonly shard: string,
    private readonly endpoint: ParticipantEndpoint,
    private readonly clock: NodeClock,
    private readonly network: SimNetwork,
  ) {
    this.address = simAddress(shard);
  }

  prepare(message: PrepareMessage, timeoutMs: number): Promise<Vote> {
    return this.call(`Prepare ${message.txnId}`, timeoutMs, (e) => e.prepare(message));
  }

  decide(message: DecisionMessage, timeoutMs: number): Promise<Ack> {
    const what = `${message.commit ? 'Commit' : 'Abort'} ${message.txnId}`;
    return this.call(what, timeoutMs, (e) => e.decide(message));
  }

  read(table: string, key: Row, timeoutMs: number): Promise<ReadResult> {
    return this.call(`Read ${table}`, timeoutMs, (e) => e.read(table, key));
  }

  query(sql: string, params: readonly SqlValue[], timeoutMs: number): Promise<QueryResult> {
    return this.call('Query', timeoutMs, (e) => e.query(sql, params));
  }

  txnState(txnId: string, timeoutMs: number): Promise<TxnStateInfo> {
    return this.call(`GetTxnState ${txnId}`, timeoutMs, (e) => e.txnState(txnId, false));
  }

  listInDoubt(timeoutMs: number): Promise<readonly InDoubtTxn[]> {
    return this.call('ListInDoubt', timeoutMs, (e) => e.listInDoubt());
  }

  describe(timeoutMs: number): Promise<readonly TableInfo[]> {
    return this.call('Describe', timeoutMs, (e) => e.describe());
  }

  close(): void {}

  private call<T>(what: string, timeoutMs: number, handle: (e: ParticipantEndpoint) => T | Promise<T>) {
    return this.network.call(this.clock, this.shard, `${what} to ${this.shard}`, timeoutMs, () =>
      handle(this.endpoint),
    );
  }
}
