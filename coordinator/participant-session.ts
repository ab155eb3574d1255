/**
 * The hot path to one participant: one long-lived `Session` stream carrying batches of Prepare and
 * Decide messages. Messages submitted in the same event-loop turn go out as one CoordinatorBatch
 * (at most `sessionBatchMessagesMax`); each has a seq unique for the client's lifetime, and the reply
 * with that seq (of the expected kind, for the same transaction) settles it. Every message has its own
 * timeout. A broken stream rejects everything written on it with UNAVAILABLE at once (the message may
 * or may not have been applied: every message is idempotent, so callers re-send), and the next flush
 * opens a new stream after a capped backoff, so a dead participant is not hammered.
 */
import * as grpc from '@grpc/grpc-js';
import { sessionReplyFromPb, shardMetadataKey, type SessionReply } from '../common/protocol-codec.ts';
import { type Pb } from '../common/pb-fields.ts';
import { backoffDelayMs, type BackoffPolicy } from '../common/backoff.ts';
import { TwopcError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import type { Ack, Vote } from '../common/protocol.ts';

export type Expect = 'vote' | 'ack';

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
  /** Streams that broke (everything in flight on them failed UNAVAILABLE). */
  readonly sessionsBroken: number;
  readonly batchMessagesPeak: number;
}

export interface ParticipantSessionConfig {
  readonly sessionBatchMessagesMax: number;
  readonly inflightMessagesMax: number;
  readonly sessionBackoff: BackoffPolicy;
}

export class ParticipantSession {
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
  private counters = {
    messagesSent: 0,
    batchesSent: 0,
    sessionsOpened: 0,
    sessionsBroken: 0,
    batchMessagesPeak: 0,
  };

  constructor(
    private readonly shard: string,
    private readonly address: string,
    private readonly client: grpc.Client,
    private readonly method: grpc.MethodDefinition<Pb, Pb>,
    private readonly config: ParticipantSessionConfig,
    private readonly logger: Logger,
    private readonly random: () => number,
  ) {}

  stats(): SessionStats {
    return { ...this.counters };
  }

  /** Rejects everything in flight with UNAVAILABLE and ends the stream; the channel is the caller's. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reopenTimer);
    for (const p of [...this.pending.values()])
      this.settle(p, this.error('UNAVAILABLE', `${p.what}: client closed`));
    this.outbox = [];
    this.session?.stream.cancel();
  }

  submit(what: string, txnId: string, expect: Expect, pb: Pb, timeoutMs: number): Promise<Vote | Ack> {
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
    const def = this.method;
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
    if (!this.closed) this.counters.sessionsBroken++;
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
}
