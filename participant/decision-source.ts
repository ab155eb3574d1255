/**
 * How a participant learns the outcome of an in-doubt transaction over gRPC (the DecisionSource of
 * decision-lookup.ts, used by in-doubt-resolver.ts):
 *
 * - the coordinator (or, with several replicas, the first that answers), through the public
 *   `twopc.v1.Transactions/GetTransaction`. A transaction the
 *   coordinator no longer holds is settled there before it answers (coordinator/txn-resolution.ts:
 *   presumed abort, with Abort sent to every shard), so every answer is final or PENDING. Mapping:
 *   COMMITTING / COMMITTED -> COMMIT with its decision_seq; ABORTED -> ABORT; ACTIVE / PREPARING ->
 *   PENDING (it is deciding right now). NOT_FOUND is NOT read as ABORT: the coordinator answers it only
 *   for ids not shaped like its own (coordinator/txn-id.ts isTxnId), i.e. ids it never issued, so it
 *   says nothing about their outcome. It rejects instead, and the resolver asks the peers, whose
 *   answers are safe whoever the coordinator was.
 * - a peer participant, through `twopc.internal.v1.Participant/GetTxnState` with abort_if_unknown:
 *   a peer that never saw the transaction tombstones it (it can then never vote YES) and says ABORTED.
 *
 * Every call has a deadline (`decisionQueryTimeoutMs`) and fails fast on a channel that is down (no
 * wait-for-ready): an unreachable target is an answer too, and the resolver moves on. Clients are
 * cached per address and closed by `close()`.
 */
import * as grpc from '@grpc/grpc-js';
import { txnViewFromPb } from '../common/api-codec.ts';
import type { TxnView } from '../common/api.ts';
import { shardMetadataKey, txnStateFromPb } from '../common/protocol-codec.ts';
import { type Pb } from '../common/pb-fields.ts';
import { TwopcError, describeError } from '../common/errors.ts';
import { fromStatus } from '../common/grpc-status.ts';
import { CHANNEL_OPTIONS, loadServices } from '../common/proto.ts';
import type { Peer } from '../common/protocol.ts';
import type { CoordinatorAnswer, DecisionSource, PeerAnswer } from './decision-lookup.ts';
import { coordinatorAddressesMax, splitCoordinatorAddresses } from './coordinator-addresses.ts';

/**
 * 3 s: deadline of one question to the coordinator or a peer. Above the coordinator's
 * outcomeProbeWaitMs (2 s), which GetTransaction may spend settling a transaction it no longer
 * holds (Abort to every shard, waiting for their acks), so that answer arrives instead of a
 * timeout; a slower answer just means the peers are asked, and the next round asks again.
 */
export const decisionQueryTimeoutMs = 3_000;

/**
 * 100 ms doubling to 2 s: gRPC's reconnect backoff for these channels (gRPC's own default grows to
 * 120 s). Without wait-for-ready a call on a channel that is backing off fails at once, so a long
 * backoff would hide a coordinator or peer that came back for up to two minutes.
 */
export const decisionChannelBackoffMs = Object.freeze({ initial: 100, max: 2_000 });

const channelOptions: grpc.ChannelOptions = Object.freeze({
  ...CHANNEL_OPTIONS,
  'grpc.initial_reconnect_backoff_ms': decisionChannelBackoffMs.initial,
  'grpc.max_reconnect_backoff_ms': decisionChannelBackoffMs.max,
});

export class GrpcDecisionSource implements DecisionSource {
  readonly askCoordinator?: (txnId: string) => Promise<CoordinatorAnswer>;
  /** Coordinator replicas, in the order given; `preferred` is the one that answered last. */
  private readonly coordinators: { readonly address: string; readonly client: grpc.Client }[] = [];
  private preferred = 0;
  /** Peer address -> client; one channel per address, whatever shard is asked for on it. */
  private readonly peers = new Map<string, grpc.Client>();
  private closed = false;

  /**
   * `coordinatorAddresses`: one coordinator, or several replicas sharing a log, comma-separated; a
   * question goes to the one that answered last, then to each other in turn until one answers.
   * Without any, only the peers are asked (cooperative termination).
   */
  constructor(coordinatorAddresses?: string) {
    if (coordinatorAddresses === undefined) return;
    const Ctor = loadServices().transactions;
    for (const address of splitCoordinatorAddresses(coordinatorAddresses).slice(0, coordinatorAddressesMax)) {
      const client = new Ctor(address, grpc.credentials.createInsecure(), channelOptions);
      this.coordinators.push({ address, client });
    }
    if (this.coordinators.length > 0) this.askCoordinator = (txnId) => this.askAnyCoordinator(txnId);
  }

  /** Fails over: the last error is thrown only when no replica answered. */
  private async askAnyCoordinator(txnId: string): Promise<CoordinatorAnswer> {
    let lastError: unknown;
    for (let i = 0; i < this.coordinators.length; i++) {
      const index = (this.preferred + i) % this.coordinators.length;
      const { client, address } = this.coordinators[index] as (typeof this.coordinators)[number];
      try {
        const answer = await this.getTransaction(client, address, txnId);
        this.preferred = index;
        return answer;
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  async askPeer(peer: Peer, txnId: string): Promise<PeerAnswer> {
    const what = `peer ${peer.shard} at ${peer.address}: GetTxnState ${txnId}`;
    const metadata = new grpc.Metadata();
    // The peer refuses (FAILED_PRECONDITION) if it serves another shard: a stale address must not
    // answer, let alone write a tombstone, for the wrong shard.
    metadata.set(shardMetadataKey, peer.shard);
    const def = loadServices().participant.service.GetTxnState as grpc.MethodDefinition<Pb, Pb>;
    const request = { txn_id: txnId, abort_if_unknown: true };
    const res = await this.unary(this.peerClient(peer.address), def, request, metadata, what);
    const info = decode(what, () => txnStateFromPb(res));
    if (info.txnId !== txnId) throw new TwopcError('INTERNAL', `${what}: answered for ${info.txnId}`);
    // abort_if_unknown never leaves UNKNOWN: a peer answering it does not honour the flag.
    if (info.state === 'UNKNOWN') throw new TwopcError('INTERNAL', `${what}: answered UNKNOWN`);
    return { state: info.state, decisionSeq: info.decisionSeq };
  }

  /** Closes every channel; calls in flight fail (CANCELLED), later calls fail UNAVAILABLE. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const { client } of this.coordinators) client.close();
    for (const client of this.peers.values()) client.close();
    this.peers.clear();
  }

  private async getTransaction(
    client: grpc.Client,
    address: string,
    txnId: string,
  ): Promise<CoordinatorAnswer> {
    const what = `coordinator at ${address}: GetTransaction ${txnId}`;
    const def = loadServices().transactions.service.GetTransaction as grpc.MethodDefinition<Pb, Pb>;
    const res = await this.unary(client, def, { txn_id: txnId }, new grpc.Metadata(), what);
    return coordinatorAnswerFromView(
      decode(what, () => txnViewFromPb(res)),
      txnId,
      what,
    );
  }

  private peerClient(address: string): grpc.Client {
    let client = this.peers.get(address);
    if (client === undefined) {
      const Ctor = loadServices().participant;
      client = new Ctor(address, grpc.credentials.createInsecure(), channelOptions);
      this.peers.set(address, client);
    }
    return client;
  }

  private unary(
    client: grpc.Client,
    def: grpc.MethodDefinition<Pb, Pb>,
    request: Pb,
    metadata: grpc.Metadata,
    what: string,
  ): Promise<Pb> {
    if (this.closed) return Promise.reject(new TwopcError('UNAVAILABLE', `${what}: decision source closed`));
    const deadline = Date.now() + decisionQueryTimeoutMs;
    return new Promise((resolve, reject) =>
      client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        request,
        metadata,
        { deadline },
        (err, res) => (err ? reject(fromStatus(err, what)) : resolve(res ?? {})),
      ),
    );
  }
}

/**
 * The coordinator's view of a transaction as an answer for the resolver (the mapping at the top of
 * this file). Shared with the simulator's decision source (chaos/simulation/decision-link.ts).
 */
export function coordinatorAnswerFromView(view: TxnView, txnId: string, what: string): CoordinatorAnswer {
  if (view.txnId !== txnId) throw new TwopcError('INTERNAL', `${what}: answered for ${view.txnId}`);
  switch (view.state) {
    case 'COMMITTING':
    case 'COMMITTED':
      if (view.outcome !== 'COMMITTED')
        throw new TwopcError('INTERNAL', `${what}: state ${view.state} with outcome ${view.outcome}`);
      return { kind: 'COMMIT', decisionSeq: view.decisionSeq };
    case 'ABORTED':
      return { kind: 'ABORT' };
    case 'ACTIVE':
    case 'PREPARING':
      return { kind: 'PENDING' };
  }
}

/** A malformed answer is the other side's bug: an error naming the call, never a TypeError. */
function decode<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new TwopcError('INTERNAL', `${what}: malformed answer: ${describeError(err)}`, { cause: err });
  }
}
