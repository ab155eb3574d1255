/**
 * `ExecuteStream`: the unary Execute, many at a time over one long-lived stream. Each request runs
 * exactly as a unary Execute would (the same decoding, the same coordinator call); its reply carries
 * its seq and either the ExecuteResponse or the status the unary call would have failed with, so a
 * bad request fails alone and the stream lives on. Replies settled in one event-loop turn leave as
 * one message (common/reply-stream.ts).
 *
 * What it saves over unary calls: an HTTP/2 stream per transaction (HEADERS, DATA and trailers both
 * ways, and grpc-js's per-call machinery on both ends). Limits: `executeStreamBatchMax` requests per
 * message and `executeStreamInflightMax` in flight per stream; a request past either is answered
 * RESOURCE_EXHAUSTED without running. A stream that ends or breaks cancels nothing: transactions
 * already taken run to their outcome.
 */
import type * as grpc from '@grpc/grpc-js';
import { executeStreamBatchMax, executeStreamInflightMax } from '../common/api.ts';
import { TwopcError } from '../common/errors.ts';
import { toStatus } from '../common/grpc-status.ts';
import type { Logger } from '../common/log.ts';
import type { Pb } from '../common/pb-fields.ts';
import { ReplyStream } from '../common/reply-stream.ts';

/** Runs one decoded-or-not ExecuteRequest, as the unary handler does; rejects with what it would fail with. */
export type ExecuteOne = (request: unknown) => Promise<Pb>;

export interface ExecuteStreams {
  readonly handler: grpc.handleBidiStreamingCall<Pb, Pb>;
  /** Streams open now. */
  count(): number;
  /** Refuses new requests with UNAVAILABLE and ends every stream once the replies it owes are sent. */
  drainAll(): Promise<void>;
}

export function createExecuteStreams(executeOne: ExecuteOne, logger: Logger): ExecuteStreams {
  const streams = new Set<ReplyStream>();
  let draining = false;
  const handler = (call: grpc.ServerDuplexStream<Pb, Pb>) => {
    const stream = new ReplyStream(call, 'replies', logger, () => streams.delete(stream));
    streams.add(stream);
    if (draining) void stream.drain();
    call.on('data', (batch: Pb) => receive(stream, batch, executeOne, logger));
  };
  return {
    handler,
    count: () => streams.size,
    drainAll: async () => {
      draining = true;
      await Promise.all([...streams].map((s) => s.drain()));
    },
  };
}

function receive(stream: ReplyStream, batch: Pb, executeOne: ExecuteOne, logger: Logger): void {
  const requests = Array.isArray(batch?.requests) ? (batch.requests as Pb[]) : [];
  requests.forEach((item, i) => {
    const seq = typeof item?.seq === 'string' ? item.seq : '0';
    const refusal =
      seq === '0'
        ? new TwopcError('INVALID_ARGUMENT', `requests[${i}]: seq must be set (not 0)`)
        : stream.closing
          ? new TwopcError('UNAVAILABLE', 'the coordinator is shutting down', {
              hint: 'retry on another replica or after the restart',
            })
          : i >= executeStreamBatchMax
            ? new TwopcError(
                'RESOURCE_EXHAUSTED',
                `more than ${executeStreamBatchMax} requests in one ExecuteStream message`,
              )
            : stream.inFlight >= executeStreamInflightMax
              ? new TwopcError(
                  'RESOURCE_EXHAUSTED',
                  `${executeStreamInflightMax} requests already in flight on this stream`,
                  { hint: 'wait for replies before sending more, or open another channel' },
                )
              : undefined;
    if (refusal !== undefined) {
      stream.reply({ seq, error: statusPb(refusal, logger) });
      return;
    }
    stream.begin();
    executeOne(item.request).then(
      (response) => stream.finish({ seq, response }),
      (err: unknown) => stream.finish({ seq, error: statusPb(err, logger) }),
    );
  });
}

function statusPb(err: unknown, logger: Logger): Pb {
  const { bug, code, details } = toStatus(err);
  if (bug)
    logger.error('ExecuteStream request failed unexpectedly', { error: err, stack: (err as Error)?.stack });
  return { code, message: details };
}
