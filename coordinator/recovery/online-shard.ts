/**
 * A shard reached through its running participant, over the internal gRPC protocol: ListInDoubt,
 * GetTxnState (never with abort_if_unknown: looking must not write tombstones) and Decide, which the
 * participant applies through its batcher like a decision from the coordinator. Every call has
 * recoveryRpcTimeoutMs as its deadline; the participant refuses calls meant for another shard.
 */
import type { Ack, DecisionMessage, InDoubtTxn } from '../../common/protocol.ts';
import { GrpcParticipantClient } from '../grpc-participant-client.ts';
import { recoveryRpcTimeoutMs } from './config.ts';
import type { ShardTxn, ShardView } from './shard-view.ts';

export class OnlineShard implements ShardView {
  readonly online = true;
  private readonly client: GrpcParticipantClient;

  constructor(
    readonly shard: string,
    readonly location: string,
  ) {
    this.client = new GrpcParticipantClient({ shard, address: location });
  }

  listInDoubt(): Promise<readonly InDoubtTxn[]> {
    return this.client.listInDoubt(recoveryRpcTimeoutMs);
  }

  async txnState(txnId: string): Promise<ShardTxn> {
    const info = await this.client.txnState(txnId, recoveryRpcTimeoutMs);
    return {
      shard: this.shard,
      state: info.state,
      decisionSeq: info.decisionSeq,
      preparedAtMs: info.preparedAtMs,
      decidedAtMs: info.decidedAtMs,
    };
  }

  /** A running participant applies decisions itself: always writable. */
  async checkWritable(): Promise<void> {}

  decide(messages: readonly DecisionMessage[]): Promise<readonly Ack[]> {
    // Sent together: the client batches them on its Session stream, the participant group-commits.
    return Promise.all(messages.map((m) => this.client.decide(m, recoveryRpcTimeoutMs)));
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
