/**
 * A participant's DecisionSource (participant/decision-lookup.ts) over the simulated network: it
 * asks the coordinator (GetTransaction, mapped exactly as the gRPC source maps it) and its peers
 * (GetTxnState with abort_if_unknown), each question with the gRPC source's deadline in the
 * participant's virtual time. One source per participant incarnation.
 */
import type { TxnView } from '../../common/api.ts';
import { TwopcError } from '../../common/errors.ts';
import type { Peer } from '../../common/protocol.ts';
import { coordinatorAnswerFromView, decisionQueryTimeoutMs } from '../../participant/decision-source.ts';
import type { CoordinatorAnswer, DecisionSource, PeerAnswer } from '../../participant/decision-lookup.ts';
import { COORDINATOR_NODE } from './incarnation.ts';
import type { SimNetwork } from './network.ts';
import type { NodeClock } from './node-clock.ts';
import type { ParticipantEndpoint } from './participant-link.ts';

/** What the coordinator answers a participant (the live incarnation's Coordinator). */
export interface CoordinatorEndpoint {
  getTransaction(txnId: string): Promise<TxnView>;
}

export class SimDecisionSource implements DecisionSource {
  constructor(
    private readonly clock: NodeClock,
    private readonly network: SimNetwork,
    private readonly coordinator: CoordinatorEndpoint,
    private readonly peers: (shard: string) => ParticipantEndpoint | undefined,
  ) {}

  async askCoordinator(txnId: string): Promise<CoordinatorAnswer> {
    const what = `coordinator: GetTransaction ${txnId}`;
    const view = await this.network.call(this.clock, COORDINATOR_NODE, what, decisionQueryTimeoutMs, () =>
      this.coordinator.getTransaction(txnId),
    );
    return coordinatorAnswerFromView(view, txnId, what);
  }

  async askPeer(peer: Peer, txnId: string): Promise<PeerAnswer> {
    const what = `peer ${peer.shard}: GetTxnState ${txnId}`;
    const endpoint = this.peers(peer.shard);
    if (endpoint === undefined) throw new TwopcError('UNAVAILABLE', `${what}: no such peer`);
    const info = await this.network.call(this.clock, peer.shard, what, decisionQueryTimeoutMs, () =>
      endpoint.txnState(txnId, true),
    );
    if (info.txnId !== txnId) throw new TwopcError('INTERNAL', `${what}: answered for ${info.txnId}`);
    if (info.state === 'UNKNOWN') throw new TwopcError('INTERNAL', `${what}: answered UNKNOWN`);
    return { state: info.state, decisionSeq: info.decisionSeq };
  }
}
