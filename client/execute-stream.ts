/**
 * The SDK's side of `ExecuteStream`: every `execute()` of a TwopcClient rides one long-lived stream.
 * Requests submitted in the same event-loop turn leave as one message (at most
 * `executeStreamBatchMax`), each with a seq unique for the client's lifetime; the reply with that
 * seq settles it. At most `executeStreamInflightMax` are written and unanswered at a time (the
 * coordinator's limit per stream); the rest wait here, in order, for replies to make room. Each request keeps the deadline and AbortSignal a unary call would have had.
 *
 * Failures look exactly as the unary Execute's would: a reply's error status goes through
 * common/grpc-status.ts; a stream that breaks fails the requests written on it with its status (the
 * transaction may or may not have run — as when a unary call's connection drops) and the next
 * request opens a new stream. Nothing is retried here: a retry could apply a transaction twice,
 * unless it carries an idempotency key, and that is the caller's choice.
 *
 * A coordinator without ExecuteStream (older, or a test double) answers UNIMPLEMENTED: the requests
 * of that stream are sent again as unary Executes, and so is everything after.
 *
 * A stream with nothing in flight for `executeStreamIdleMs` is half-closed (the next call opens a
 * new one), so a program that never calls `close()` can still exit. `close()` half-closes at once:
 * calls already written are answered; calls not written yet fail CANCELLED.
 */
import * as grpc from '@grpc/grpc-js';
import { executeStreamBatchMax, executeStreamInflightMax } from '../common/api.ts';
import { TwopcError } from '../common/errors.ts';
import { fromStatus } from '../common/grpc-status.ts';
import type { Pb } from '../common/pb-fields.ts';
import type { CallOptions } from './transactions-stub.ts';

interface OpenStream {
  readonly call: grpc.ClientDuplexStream<Pb, Pb>;
  /** A reply came: the coordinator serves ExecuteStream. */
  answered: boolean;
  broken: boolean;
  /** Requests written on it and not settled yet. */
  inFlight: number;
}

interface Pending {
  readonly seq: string;
  readonly request: Pb;
  readonly options: CallOptions;
  readonly startedAtMs: number;
  readonly resolve: (response: Pb) => void;
  readonly reject: (err: TwopcError) => void;
  readonly timer: NodeJS.Timeout;
  readonly onAbort: () => void;
  stream: OpenStream | undefined;
}

export type UnaryExecute = (request: Pb, options: CallOptions) => Promise<Pb>;

/** An idle stream (nothing in flight) is half-closed after this long. */
export const executeStreamIdleMs = 2_000;

export class ExecuteStreamClient {
  private readonly pending = new Map<string, Pending>();
  private outbox: Pending[] = [];
  private stream: OpenStream | undefined;
  private nextSeq = 1;
  private flushScheduled = false;
  /** The coordinator answered UNIMPLEMENTED: every request goes unary from now on. */
  private unsupported = false;
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: grpc.Client,
    private readonly method: grpc.MethodDefinition<Pb, Pb>,
    private readonly unary: UnaryExecute,
  ) {}

  execute(request: Pb, options: CallOptions): Promise<Pb> {
    const { signal, what } = options;
    if (this.closed) return Promise.reject(new TwopcError('CANCELLED', `${what}: the client is closed`));
    if (this.unsupported) return this.unary(request, options);
    if (signal?.aborted) return Promise.reject(cancelled(what));
    return new Promise<Pb>((resolve, reject) => {
      const seq = String(this.nextSeq++);
      const onAbort = () => this.settle(seq, cancelled(what));
      const timer = setTimeout(
        () =>
          this.settle(
            seq,
            fromStatus(
              { code: grpc.status.DEADLINE_EXCEEDED, details: `no answer within ${options.deadlineMs} ms` },
              what,
            ),
          ),
        options.deadlineMs,
      );
      const p: Pending = {
        seq,
        request,
        options,
        startedAtMs: Date.now(),
        resolve,
        reject,
        timer,
        onAbort,
        stream: undefined,
      };
      this.pending.set(seq, p);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.outbox.push(p);
      this.scheduleFlush();
    });
  }

  /** Half-closes the stream: what is in flight is still answered; what is not sent yet, and new calls, fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    for (const p of this.outbox.splice(0))
      this.settle(
        p.seq,
        new TwopcError('CANCELLED', `${p.options.what}: the client was closed before sending it`),
      );
    this.stream?.call.end();
    this.stream = undefined;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    const waiting = this.outbox.filter((p) => this.pending.has(p.seq));
    this.outbox = [];
    if (waiting.length === 0) return;
    if (this.unsupported) return waiting.forEach((p) => this.sendUnary(p));
    let stream: OpenStream;
    try {
      stream = this.stream ?? this.open();
    } catch (err) {
      // The channel refused to start a call (it was closed): nothing was sent.
      for (const p of waiting) this.settle(p.seq, fromStatus(err, p.options.what));
      return;
    }
    const room = Math.max(0, executeStreamInflightMax - stream.inFlight);
    this.outbox = waiting.slice(room); // waits for replies (settle) to make room
    const sending = waiting.slice(0, room);
    for (let i = 0; i < sending.length; i += executeStreamBatchMax) {
      const chunk = sending.slice(i, i + executeStreamBatchMax);
      for (const p of chunk) p.stream = stream;
      stream.inFlight += chunk.length;
      stream.call.write({ requests: chunk.map((p) => ({ seq: p.seq, request: p.request })) });
    }
  }

  private open(): OpenStream {
    const { path, requestSerialize, responseDeserialize } = this.method;
    const call = this.client.makeBidiStreamRequest(path, requestSerialize, responseDeserialize);
    const stream: OpenStream = { call, answered: false, broken: false, inFlight: 0 };
    this.stream = stream;
    call.on('data', (batch: Pb) => this.received(stream, batch));
    call.on('error', (err: grpc.ServiceError) => this.broke(stream, err));
    call.on('end', () =>
      this.broke(stream, { code: grpc.status.UNAVAILABLE, details: 'the coordinator ended the stream' }),
    );
    return stream;
  }

  private received(stream: OpenStream, batch: Pb): void {
    stream.answered = true;
    const replies = Array.isArray(batch?.replies) ? (batch.replies as Pb[]) : [];
    for (const reply of replies) {
      const p = this.pending.get(String(reply?.seq));
      if (p === undefined) continue; // timed out or cancelled already
      if (reply.result === 'response') {
        this.settle(p.seq, (reply.response ?? {}) as Pb);
        continue;
      }
      const error = (reply.error ?? {}) as Pb;
      const code = typeof error.code === 'number' ? error.code : grpc.status.INTERNAL;
      const details = typeof error.message === 'string' ? error.message : 'no reply';
      this.settle(p.seq, fromStatus({ code, details }, p.options.what));
    }
  }

  private broke(stream: OpenStream, err: { code: grpc.status; details: string }): void {
    if (stream.broken) return;
    stream.broken = true;
    if (this.stream === stream) this.stream = undefined;
    const mine = [...this.pending.values()].filter((p) => p.stream === stream);
    if (err.code === grpc.status.UNIMPLEMENTED && !stream.answered) {
      this.unsupported = true;
      for (const p of mine) this.sendUnary(p);
      return;
    }
    for (const p of mine) this.settle(p.seq, fromStatus(err, p.options.what));
    if (this.outbox.length > 0) this.scheduleFlush(); // on a new stream
  }

  /** Sends a pending request as a unary Execute, with what is left of its deadline. */
  private sendUnary(p: Pending): void {
    p.stream = undefined;
    const deadlineMs = Math.max(1, p.options.deadlineMs - (Date.now() - p.startedAtMs));
    this.unary(p.request, { ...p.options, deadlineMs }).then(
      (response) => this.settle(p.seq, response),
      (err: unknown) => this.settle(p.seq, fromStatus(err, p.options.what)),
    );
  }

  private closeIfIdle(): void {
    this.idleTimer = undefined;
    if (this.pending.size > 0 || this.stream === undefined) return;
    this.stream.call.end(); // the coordinator ends its side; nothing is in flight on it
    this.stream = undefined;
  }

  private settle(seq: string, result: Pb | TwopcError): void {
    const p = this.pending.get(seq);
    if (p === undefined) return;
    this.pending.delete(seq);
    clearTimeout(p.timer);
    if (p.stream !== undefined) {
      p.stream.inFlight--;
      if (this.outbox.length > 0) this.scheduleFlush();
    }
    if (this.pending.size === 0 && this.stream !== undefined && this.idleTimer === undefined) {
      this.idleTimer = setTimeout(() => this.closeIfIdle(), executeStreamIdleMs);
      this.idleTimer.unref();
    }
    p.options.signal?.removeEventListener('abort', p.onAbort);
    if (result instanceof TwopcError) p.reject(result);
    else p.resolve(result);
  }
}

function cancelled(what: string): TwopcError {
  return fromStatus({ code: grpc.status.CANCELLED, details: 'cancelled' }, what);
}
