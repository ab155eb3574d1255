/**
 * The server half of a batched request/reply stream (the participant's Session, the coordinator's
 * ExecuteStream). Requests arrive in batches and are answered out of order, each reply carrying its
 * request's seq; every reply produced in one turn of the event loop leaves as ONE message
 * (`{ [field]: replies }`, written after a microtask), so a group commit that settles a whole batch
 * at once costs one write.
 *
 * The caller counts each request it starts with `begin()` and answers it with `finish(reply)`; a
 * request refused on arrival is answered with `reply()` alone. The stream ends when the client
 * half-closes, or on `drain()` (the server is closing), once nothing is in flight: the replies owed
 * are sent first. Replies for a client that has gone are dropped.
 */
import type * as grpc from '@grpc/grpc-js';
import * as grpcRuntime from '@grpc/grpc-js';
import type { Logger } from './log.ts';
import type { Pb } from './pb-fields.ts';

export class ReplyStream {
  private outbox: Pb[] = [];
  private sendScheduled = false;
  private inflight = 0;
  /** No more requests are taken: the client half-closed, or the server is draining. */
  private ending = false;
  /** Nothing more can be written: finished, cancelled or failed. */
  private done = false;
  private drained: Array<() => void> = [];

  constructor(
    private readonly call: grpc.ServerDuplexStream<Pb, Pb>,
    private readonly field: string,
    private readonly logger: Logger,
    private readonly onDone: () => void,
  ) {
    // Headers now, so the client knows the stream is up before its first reply.
    call.sendMetadata(new grpcRuntime.Metadata());
    call.on('end', () => {
      this.ending = true;
      this.finishIfIdle();
    });
    call.on('cancelled', () => this.stop('cancelled'));
    call.on('error', (err: Error) => this.stop(err.message));
    call.on('close', () => this.stop('closed'));
  }

  /** True once draining or half-closed: new requests should be refused. */
  get closing(): boolean {
    return this.ending || this.done;
  }

  get inFlight(): number {
    return this.inflight;
  }

  /** Ends the stream once the replies owed are sent; resolves then (at once if already done). */
  drain(): Promise<void> {
    if (this.done) return Promise.resolve();
    this.ending = true;
    const p = new Promise<void>((resolve) => this.drained.push(resolve));
    this.finishIfIdle();
    return p;
  }

  /** A request was taken: the stream stays open until it is finished. */
  begin(): void {
    this.inflight++;
  }

  /** Answers a request counted by `begin()`. */
  finish(reply: Pb): void {
    this.inflight--;
    this.reply(reply);
    this.finishIfIdle();
  }

  /** Answers a request that was never counted (refused on arrival). */
  reply(message: Pb): void {
    if (this.done) return; // the client is gone; it learns the outcome another way
    this.outbox.push(message);
    if (this.sendScheduled) return;
    this.sendScheduled = true;
    queueMicrotask(() => this.send());
  }

  private send(): void {
    this.sendScheduled = false;
    if (this.done || this.outbox.length === 0) return;
    const replies = this.outbox;
    this.outbox = [];
    this.call.write({ [this.field]: replies });
  }

  private finishIfIdle(): void {
    if (!this.ending || this.inflight > 0 || this.done) return;
    this.send();
    this.call.end();
    this.stop('ended');
  }

  private stop(why: string): void {
    if (this.done) return;
    this.done = true;
    this.outbox = [];
    this.logger.debug('stream closed', { why });
    this.onDone();
    for (const wake of this.drained.splice(0)) wake();
  }
}
