/**
 * ParticipantClient over gRPC (the Session stream machinery is coordinator/participant-session.ts).
 *
 * The hot path (prepare, decide) rides ONE long-lived Session stream per participant. Messages issued
 * in the same event-loop turn leave as one CoordinatorBatch (flushed in a setImmediate, at most
 * `sessionBatchMessagesMax` each); every message carries a seq unique for this client's lifetime, and
 * the reply with that seq settles its promise, whatever stream it came on.
 *
 * Failure semantics, per message:
 * - each call has its own timeout. If the message went out on a session the participant had accepted,
 *   the timeout rejects DEADLINE_EXCEEDED; if no session ever came up in that time (participant down,
 *   unreachable), it rejects UNAVAILABLE with the last connection error. Either way the message may
 *   or may not have been applied; every message is idempotent, so the caller may resend it.
 * - if the stream breaks, every message sent on it rejects UNAVAILABLE at once; messages not yet sent
 *   wait for the next stream. Consecutive breaks with no reply in between delay the next stream by a
 *   capped, jittered backoff, so a dead or refusing participant is not hammered.
 * - streams wait for the channel to be ready (gRPC wait-for-ready) instead of failing on the first
 *   refused connection; the per-message timeout bounds that wait, and a stream that never came up is
 *   cancelled once nobody waits on it, so stale messages are not delivered much later.
 * Read, Query, Describe, GetTxnState and ListInDoubt are unary calls with a deadline, wait-for-ready.
 */
import * as grpc from '@grpc/grpc-js';
import { queryResultFromPb, readResultFromPb } from '../common/api-codec.ts';
import {
  describeFromPb,
  inDoubtFromPb,
  sessionRequestToPb,
  shardMetadataKey,
  shardQueryToPb,
  shardReadToPb,
  txnStateFromPb,
} from '../common/protocol-codec.ts';
import { type Pb } from '../common/pb-fields.ts';
import { ParticipantSession, type SessionStats } from './participant-session.ts';
import { assert } from '../common/assert.ts';
import type { BackoffPolicy } from '../common/backoff.ts';
import { TwopcError, describeError } from '../common/errors.ts';
import { fromStatus } from '../common/grpc-status.ts';
import type { Logger } from '../common/log.ts';
import { silentLogger } from '../common/log.ts';
import { CHANNEL_OPTIONS, loadServices } from '../common/proto.ts';
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
} from '../common/protocol.ts';
import type { Row, SqlValue } from '../common/value.ts';

export interface GrpcParticipantClientConfig {
  /** Messages per CoordinatorBatch (default 256, the participant's group-commit batch size). */
  readonly sessionBatchMessagesMax: number;
  /**
   * Messages waiting for a reply or for a stream (default 16384). Past it a call is refused with
   * RESOURCE_EXHAUSTED: memory stays bounded when a participant falls behind.
   */
  readonly inflightMessagesMax: number;
  /** Delay before re-opening a Session after consecutive breaks (default 20 ms doubling to 1 s). */
  readonly sessionBackoff: BackoffPolicy;
  /** gRPC's own reconnect backoff for the channel (defaults 100 ms doubling to 1 s; gRPC's are 1 s to 120 s). */
  readonly channelBackoff: BackoffPolicy;
}

export const GRPC_PARTICIPANT_CLIENT_DEFAULTS: GrpcParticipantClientConfig = Object.freeze({
  sessionBatchMessagesMax: 256,
  inflightMessagesMax: 16_384,
  sessionBackoff: Object.freeze({ baseMs: 20, maxMs: 1_000 }),
  channelBackoff: Object.freeze({ baseMs: 100, maxMs: 1_000 }),
});

export class GrpcParticipantClient implements ParticipantClient {
  readonly shard: string;
  readonly address: string;
  private readonly config: GrpcParticipantClientConfig;
  private readonly logger: Logger;
  private readonly client: grpc.Client;
  private readonly methods: grpc.ServiceDefinition;
  private readonly session: ParticipantSession;
  private closed = false;

  constructor(options: {
    shard: string;
    address: string;
    config?: Partial<GrpcParticipantClientConfig>;
    logger?: Logger;
    random?: () => number;
  }) {
    this.shard = options.shard;
    this.address = options.address;
    this.config = Object.freeze({ ...GRPC_PARTICIPANT_CLIENT_DEFAULTS, ...options.config });
    const { sessionBatchMessagesMax, inflightMessagesMax, sessionBackoff, channelBackoff } = this.config;
    assert(sessionBatchMessagesMax >= 1 && inflightMessagesMax >= 1, 'client limits are positive');
    assert(sessionBackoff.baseMs > 0 && sessionBackoff.maxMs >= sessionBackoff.baseMs, 'sessionBackoff');
    assert(channelBackoff.baseMs > 0 && channelBackoff.maxMs >= channelBackoff.baseMs, 'channelBackoff');
    this.logger = options.logger ?? silentLogger;
    const ctor = loadServices().participant;
    this.methods = ctor.service;
    this.client = new ctor(options.address, grpc.credentials.createInsecure(), {
      ...CHANNEL_OPTIONS,
      'grpc.initial_reconnect_backoff_ms': this.config.channelBackoff.baseMs,
      'grpc.max_reconnect_backoff_ms': this.config.channelBackoff.maxMs,
    });
    this.session = new ParticipantSession(
      this.shard,
      this.address,
      this.client,
      this.methods.Session as grpc.MethodDefinition<Pb, Pb>,
      this.config,
      this.logger,
      options.random ?? Math.random,
    );
  }

  prepare(message: PrepareMessage, timeoutMs: number): Promise<Vote> {
    const pb = sessionRequestToPb('', { prepare: message, shard: this.shard });
    return this.session.submit('prepare', message.txnId, 'vote', pb, timeoutMs) as Promise<Vote>;
  }

  decide(message: DecisionMessage, timeoutMs: number): Promise<Ack> {
    const pb = sessionRequestToPb('', { decision: message });
    return this.session.submit(
      message.commit ? 'commit' : 'abort',
      message.txnId,
      'ack',
      pb,
      timeoutMs,
    ) as Promise<Ack>;
  }

  read(table: string, key: Row, timeoutMs: number): Promise<ReadResult> {
    return this.unary('Read', shardReadToPb(table, key), timeoutMs, readResultFromPb);
  }

  query(sql: string, params: readonly SqlValue[], timeoutMs: number): Promise<QueryResult> {
    return this.unary('Query', shardQueryToPb(sql, params), timeoutMs, queryResultFromPb);
  }

  /** `abortIfUnknown`: a shard that never saw the transaction tombstones it and answers ABORTED. */
  txnState(
    txnId: string,
    timeoutMs: number,
    options: { abortIfUnknown?: boolean } = {},
  ): Promise<TxnStateInfo> {
    const request = { txn_id: txnId, abort_if_unknown: options.abortIfUnknown ?? false };
    return this.unary('GetTxnState', request, timeoutMs, txnStateFromPb);
  }

  listInDoubt(timeoutMs: number): Promise<readonly InDoubtTxn[]> {
    return this.unary('ListInDoubt', {}, timeoutMs, inDoubtFromPb);
  }

  describe(timeoutMs: number): Promise<readonly TableInfo[]> {
    return this.unary('Describe', {}, timeoutMs, (pb) => describeFromPb(pb).tables);
  }

  stats(): SessionStats {
    return this.session.stats();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.session.close();
    this.client.close();
  }

  private error(code: TwopcError['code'], message: string): TwopcError {
    return new TwopcError(code, `participant ${this.shard} at ${this.address}: ${message}`);
  }

  // -------------------------------------------------------------------------------------------
  // Unary calls

  private unary<T>(method: string, request: Pb, timeoutMs: number, decode: (pb: unknown) => T): Promise<T> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(this.error('UNAVAILABLE', `${method}: client closed`));
      const def = this.methods[method] as grpc.MethodDefinition<Pb, Pb>;
      const metadata = new grpc.Metadata({ waitForReady: true });
      metadata.set(shardMetadataKey, this.shard);
      const deadline = Date.now() + Math.max(0, timeoutMs);
      this.client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        request,
        metadata,
        { deadline },
        (err, response) => {
          if (err) return reject(fromStatus(err, `participant ${this.shard} at ${this.address}: ${method}`));
          try {
            resolve(decode(response));
          } catch (decodeErr) {
            reject(this.error('INTERNAL', `${method}: malformed response: ${describeError(decodeErr)}`));
          }
        },
      );
    });
  }
}
