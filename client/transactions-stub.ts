/**
 * The raw `twopc.v1.Transactions` client: protos loaded through common/proto.ts, one unary call
 * helper that always sets a deadline, cancels on an AbortSignal, and turns every failure into a
 * TwopcError through common/grpc-status.ts; and Execute over the shared ExecuteStream.
 */
import * as grpc from '@grpc/grpc-js';
import type { Pb } from '../common/pb-fields.ts';
import { fromStatus } from '../common/grpc-status.ts';
import { CHANNEL_OPTIONS, loadServices } from '../common/proto.ts';
import { ExecuteStreamClient } from './execute-stream.ts';

export const TRANSACTIONS_METHODS = [
  'Execute',
  'Begin',
  'Read',
  'Write',
  'Commit',
  'Abort',
  'GetTransaction',
  'ListTransactions',
  'Query',
] as const;
export type TransactionsMethod = (typeof TRANSACTIONS_METHODS)[number];

export interface CallOptions {
  /** The call's deadline, in ms from now. */
  readonly deadlineMs: number;
  readonly signal?: AbortSignal;
  /** Prefix of the error message, e.g. "execute". */
  readonly what: string;
}

type UnaryMethod = (
  request: Pb,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response?: Pb) => void,
) => grpc.ClientUnaryCall;

export class TransactionsStub {
  readonly address: string;
  private readonly client: grpc.Client;
  private readonly stream: ExecuteStreamClient;

  constructor(address: string, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()) {
    this.address = address;
    const { transactions } = loadServices();
    this.client = new transactions(address, credentials, CHANNEL_OPTIONS);
    const method = transactions.service.ExecuteStream as grpc.MethodDefinition<Pb, Pb>;
    this.stream = new ExecuteStreamClient(this.client, method, (request, options) =>
      this.call('Execute', request, options),
    );
  }

  /** Execute over the shared ExecuteStream (client/execute-stream.ts): same answers, fewer HTTP/2 streams. */
  executeOnStream(request: Pb, options: CallOptions): Promise<Pb> {
    return this.stream.execute(request, options);
  }

  call(method: TransactionsMethod, request: Pb, options: CallOptions): Promise<Pb> {
    const { signal, what } = options;
    if (signal?.aborted)
      return Promise.reject(fromStatus({ code: grpc.status.CANCELLED, details: 'cancelled' }, what));
    const unary = (this.client as unknown as Record<TransactionsMethod, UnaryMethod>)[method];
    return new Promise<Pb>((resolve, reject) => {
      const onAbort = () => call.cancel();
      const call = unary.call(
        this.client,
        request,
        { deadline: Date.now() + options.deadlineMs },
        (err, response) => {
          signal?.removeEventListener('abort', onAbort);
          if (err) reject(fromStatus(err, what));
          else resolve(response ?? {});
        },
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    this.stream.close();
    this.client.close();
  }
}
