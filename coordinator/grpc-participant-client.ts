/**
 * ParticipantClient over gRPC.
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
  sessionReplyFromPb,
  sessionRequestToPb,
  shardMetadataKey,
  shardQueryToPb,
  shardReadToPb,
  txnStateFromPb,
  type SessionReply,
} from '../common/protocol-codec.ts';
import { type Pb } from '../common/pb-fields.ts';
import { assert } from '../common/assert.ts';
import { backoffDelayMs, type BackoffPolicy } from '../common/backoff.ts';
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

type Expect = 'vote' | 'ack';

interface SessionStream {
  readonly stream: grpc.ClientDuplexStream<Pb, Pb>;
  readonly id: number;
  /** The participant accepted the stream (sent its headers). */
  ready: boolean;
  broken: boolean;
}

interface Pending {
  readonly seq: string;
  readonly what: string;
  readonly txnId: string;
  readonly expect: Expect;
  readonly pb: Pb;
  readonly resolve: (reply: Vote | Ack) => void;
  readonly reject: (err: TwopcError) => void;
  readonly timer: NodeJS.Timeout;
  /** The session it was written on; undefined while it waits for one. */
  session: SessionStream | undefined;
}

export interface SessionStats {
  readonly messagesSent: number;
  readonly batchesSent: number;
  readonly sessionsOpened: number;
  readonly batchMessagesPeak: number;
}

export class GrpcParticipantClient implements ParticipantClient {
  readonly shard: string;
  readonly address: string;
  private readonly config: GrpcParticipantClientConfig;
  private readonly logger: Logger;
  private readonly random: () => number;
  private readonly client: grpc.Client;
  private readonly methods: grpc.ServiceDefinition;
  private readonly pending = new Map<string, Pending>();
  private outbox: Pending[] = [];
  private session: SessionStream | undefined;
  private nextSeq = 1;
  private flushScheduled = false;
  private breaksInARow = 0;
  private reopenAtMs = 0;
  private reopenTimer: NodeJS.Timeout | undefined;
  private lastError = 'not connected yet';
  private closed = false;
  private counters = { messagesSent: 0, batchesSent: 0, sessionsOpened: 0, batchMessagesPeak: 0 };

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
    this.random = options.random ?? Math.random;
    const ctor = loadServices().participant;
    this.methods = ctor.service;
    this.client = new ctor(options.address, grpc.credentials.createInsecure(), {
      ...CHANNEL_OPTIONS,
      'grpc.initial_reconnect_backoff_ms': this.config.channelBackoff.baseMs,
      'grpc.max_reconnect_backoff_ms': this.config.channelBackoff.maxMs,
    });
  }

  prepare(message: PrepareMessage, timeoutMs: number): Promise<Vote> {
    const pb = sessionRequestToPb('', { prepare: message, shard: this.shard });
    return this.submit('prepare', message.txnId, 'vote', pb, timeoutMs) as Promise<Vote>;
  }

  decide(message: DecisionMessage, timeoutMs: number): Promise<Ack> {
    const pb = sessionRequestToPb('', { decision: message });
    return this.submit(
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
    return { ...this.counters };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reopenTimer);
    for (const p of [...this.pending.values()])
      this.settle(p, this.error('UNAVAILABLE', `${p.what}: client closed`));
    this.outbox = [];
    this.session?.stream.cancel();
    this.client.close();
  }

  // -------------------------------------------------------------------------------------------
  // Session

  private submit(
    what: string,
    txnId: string,
    expect: Expect,
    pb: Pb,
    timeoutMs: number,
  ): Promise<Vote | Ack> {
    return new Promise((resolve, reject) => {
      const label = `${what} ${txnId}`;
      if (this.closed) return reject(this.error('UNAVAILABLE', `${label}: client closed`));
      if (this.pending.size >= this.config.inflightMessagesMax) {
        return reject(
          this.error('RESOURCE_EXHAUSTED', `${label}: ${this.pending.size} messages already in flight`),
        );
      }
      const seq = String(this.nextSeq++);
      const timer = setTimeout(() => this.timedOut(seq, timeoutMs), Math.max(0, timeoutMs));
      const p: Pending = {
        seq,
        what: label,
        txnId,
        expect,
        pb: { ...pb, seq },
        resolve,
        reject,
        timer,
        session: undefined,
      };
      this.pending.set(seq, p);
      this.outbox.push(p);
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const waiting = this.outbox.filter((p) => this.pending.has(p.seq));
    this.outbox = [];
    if (waiting.length === 0 || this.closed) return;
    const delayMs = this.session ? 0 : this.reopenAtMs - Date.now();
    if (delayMs > 0) {
      this.outbox = waiting;
      this.reopenTimer ??= setTimeout(() => {
        this.reopenTimer = undefined;
        this.scheduleFlush();
      }, delayMs);
      return;
    }
    const session = this.session ?? this.openSession();
    for (let i = 0; i < waiting.length; i += this.config.sessionBatchMessagesMax) {
      const chunk = waiting.slice(i, i + this.config.sessionBatchMessagesMax);
      for (const p of chunk) p.session = session;
      session.stream.write({ messages: chunk.map((p) => p.pb) });
      this.counters.batchesSent++;
      this.counters.messagesSent += chunk.length;
      this.counters.batchMessagesPeak = Math.max(this.counters.batchMessagesPeak, chunk.length);
    }
  }

  private openSession(): SessionStream {
    const metadata = new grpc.Metadata({ waitForReady: true });
    metadata.set(shardMetadataKey, this.shard);
    const def = this.methods.Session as grpc.MethodDefinition<Pb, Pb>;
    const stream = this.client.makeBidiStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      metadata,
    );
    const session: SessionStream = {
      stream,
      id: ++this.counters.sessionsOpened,
      ready: false,
      broken: false,
    };
    this.session = session;
    stream.on('metadata', () => {
      session.ready = true;
    });
    stream.on('data', (batch: Pb) => this.received(session, batch));
    stream.on('error', (err: grpc.ServiceError) =>
      this.broke(session, `${grpc.status[err.code]}: ${err.details}`),
    );
    stream.on('end', () => this.broke(session, 'the participant ended the session'));
    stream.on('close', () => this.broke(session, 'session closed'));
    this.logger.debug('session opening', { shard: this.shard, address: this.address, session: session.id });
    return session;
  }

  private received(session: SessionStream, batch: Pb): void {
    this.breaksInARow = 0;
    const messages = Array.isArray(batch?.messages) ? (batch.messages as unknown[]) : [];
    messages.forEach((raw, i) => {
      let reply: SessionReply;
      try {
        reply = sessionReplyFromPb(raw, `messages[${i}]`, `${this.shard} at ${this.address}`);
      } catch (err) {
        this.logger.error('malformed reply from participant', {
          shard: this.shard,
          session: session.id,
          error: err,
        });
        return;
      }
      const p = this.pending.get(reply.seq);
      if (p === undefined) return; // timed out already, or a duplicate: nothing waits for it
      if (reply.kind === 'error') return this.settle(p, reply.error);
      const answer = reply.kind === 'vote' ? reply.vote : reply.ack;
      if (reply.kind !== p.expect || answer.txnId !== p.txnId) {
        const got = `${reply.kind} for ${answer.txnId}`;
        return this.settle(p, this.error('INTERNAL', `${p.what}: participant answered with a ${got}`));
      }
      this.settle(p, answer);
    });
  }

  private broke(session: SessionStream, why: string): void {
    if (session.broken) return;
    session.broken = true;
    if (this.session === session) this.session = undefined;
    this.breaksInARow++;
    this.lastError = why;
    this.reopenAtMs =
      Date.now() + backoffDelayMs(this.config.sessionBackoff, this.breaksInARow - 1, this.random);
    session.stream.cancel();
    for (const p of [...this.pending.values()]) {
      if (p.session !== session) continue;
      this.settle(
        p,
        this.error(
          'UNAVAILABLE',
          `${p.what}: session broke (${why}); the message may or may not have been applied`,
        ),
      );
    }
    if (!this.closed) this.logger.debug('session broke', { shard: this.shard, session: session.id, why });
    if (this.outbox.length > 0) this.scheduleFlush();
  }

  private timedOut(seq: string, timeoutMs: number): void {
    const p = this.pending.get(seq);
    if (p === undefined) return;
    const session = p.session;
    if (session?.ready) {
      this.settle(p, this.error('DEADLINE_EXCEEDED', `${p.what}: no reply within ${timeoutMs} ms`));
      return;
    }
    const channel = grpc.connectivityState[this.client.getChannel().getConnectivityState(false)];
    const why = `channel ${channel}; last session error: ${this.lastError}`;
    this.settle(
      p,
      this.error('UNAVAILABLE', `${p.what}: participant not reachable within ${timeoutMs} ms (${why})`),
    );
    // A stream that never came up and that nobody waits on any more is dropped, so the messages
    // buffered in it are not delivered long after their callers gave up.
    if (session && !session.ready && ![...this.pending.values()].some((q) => q.session === session)) {
      this.broke(session, 'never became ready');
    }
  }

  private settle(p: Pending, result: Vote | Ack | TwopcError): void {
    if (!this.pending.delete(p.seq)) return;
    clearTimeout(p.timer);
    if (result instanceof TwopcError) p.reject(result);
    else p.resolve(result);
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
