/**
 * A tiny in-process server for `twopc.v1.Transactions` (the real proto, real gRPC on 127.0.0.1:0)
 * whose answers a test scripts per method. It lets the SDK's retry and error paths be driven exactly
 * — N conflict aborts, then a commit — without a coordinator.
 */
import * as grpc from '@grpc/grpc-js';
import type { Pb } from '../../common/pb-fields.ts';
import { loadServices } from '../../common/proto.ts';
import type { TransactionsMethod } from '../../client/transactions-stub.ts';
import { TRANSACTIONS_METHODS } from '../../client/transactions-stub.ts';

/** Throw this from a handler to answer with a gRPC status. */
export class FakeStatus extends Error {
  readonly code: grpc.status;
  readonly details: string;
  constructor(code: grpc.status, details: string) {
    super(details);
    this.code = code;
    this.details = details;
  }
}

/** Returning this from a handler never answers (the client's deadline or cancel must end the call). */
export const NEVER = Symbol('never');

/** `n` counts calls of that method, from 1. */
export type FakeHandler = (request: Pb, n: number) => Pb | typeof NEVER | Promise<Pb | typeof NEVER>;

export class FakeTransactionsServer {
  readonly calls: Array<{ readonly method: TransactionsMethod; readonly request: Pb }> = [];
  handlers: Partial<Record<TransactionsMethod, FakeHandler>> = {};
  address = '';
  private readonly server = new grpc.Server();
  private readonly counts = new Map<TransactionsMethod, number>();

  /** ExecuteStream messages received (each a batch of requests); 0 when the stream is not served. */
  streamMessages = 0;

  /**
   * With `executeStream`, ExecuteStream is served too, each request answered by the Execute handler
   * (and counted as an Execute call); without it, ExecuteStream answers UNIMPLEMENTED, as an older
   * coordinator would.
   */
  static async start(
    handlers: Partial<Record<TransactionsMethod, FakeHandler>> = {},
    options: { executeStream?: boolean } = {},
  ): Promise<FakeTransactionsServer> {
    const fake = new FakeTransactionsServer();
    fake.handlers = handlers;
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const method of TRANSACTIONS_METHODS) {
      implementation[method] = (call: grpc.ServerUnaryCall<Pb, Pb>, callback: grpc.sendUnaryData<Pb>) => {
        void fake.answer(method, call.request, callback);
      };
    }
    if (options.executeStream) {
      implementation.ExecuteStream = (call: grpc.ServerDuplexStream<Pb, Pb>) => {
        // Like the coordinator: after the client half-closes, the replies owed are sent, then the end.
        let owed = 0;
        let ending = false;
        const endIfDone = () => {
          if (ending && owed === 0 && !call.writableEnded) call.end();
        };
        call.on('data', (batch: Pb) => {
          fake.streamMessages++;
          for (const item of batch.requests as Pb[]) {
            owed++;
            void fake.answer('Execute', item.request as Pb, (err, response) => {
              owed--;
              const reply = err
                ? { seq: item.seq, error: { code: err.code, message: err.details } }
                : { seq: item.seq, response };
              if (!call.writableEnded) call.write({ replies: [reply] });
              endIfDone();
            });
          }
        });
        call.on('end', () => {
          ending = true;
          endIfDone();
        });
      };
    }
    fake.server.addService(loadServices().transactions.service, implementation);
    const port = await new Promise<number>((resolve, reject) =>
      fake.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    fake.address = `127.0.0.1:${port}`;
    return fake;
  }

  count(method: TransactionsMethod): number {
    return this.counts.get(method) ?? 0;
  }

  requests(method: TransactionsMethod): Pb[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.request);
  }

  close(): void {
    this.server.forceShutdown();
  }

  private async answer(
    method: TransactionsMethod,
    request: Pb,
    callback: grpc.sendUnaryData<Pb>,
  ): Promise<void> {
    const n = this.count(method) + 1;
    this.counts.set(method, n);
    this.calls.push({ method, request });
    const handler = this.handlers[method] ?? DEFAULTS[method];
    try {
      const response = await handler(request, n);
      if (response !== NEVER) callback(null, response);
    } catch (err) {
      const s = err instanceof FakeStatus ? err : new FakeStatus(grpc.status.INTERNAL, String(err));
      callback({
        code: s.code,
        details: s.details,
        name: 'FakeStatus',
        message: s.details,
        metadata: new grpc.Metadata(),
      });
    }
  }
}

export const committed = (txnId: string, decisionSeq = '7'): Pb => ({
  txn_id: txnId,
  outcome: 'COMMITTED',
  decision_seq: decisionSeq,
});
export const aborted = (txnId: string, abortReason: string, reason = ''): Pb => ({
  txn_id: txnId,
  outcome: 'ABORTED',
  abort_reason: abortReason,
  reason,
});

const DEFAULTS: Record<TransactionsMethod, FakeHandler> = {
  Execute: () => committed('txn-execute'),
  Begin: (_req, n) => ({ txn_id: `txn-${n}` }),
  Read: () => ({ found: true, row: { id: { int_value: '1' }, balance: { int_value: '100' } }, version: '3' }),
  Write: (req) => ({ buffered_ops: Array.isArray(req.ops) ? req.ops.length : 0 }),
  Commit: (req) => committed(String(req.txn_id)),
  Abort: () => ({ outcome: 'ABORTED' }),
  GetTransaction: (req) => ({
    txn_id: req.txn_id,
    state: 'COMMITTED',
    outcome: 'COMMITTED',
    shards: ['a'],
    decision_seq: '1',
  }),
  ListTransactions: () => ({ transactions: [], next_page_token: '' }),
  Query: () => ({ columns: [], rows: [] }),
};
