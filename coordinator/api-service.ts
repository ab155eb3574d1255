/**
 * The public `twopc.v1.Transactions` service over a Coordinator: each RPC decodes its request with
 * common/api-codec.ts (bad shape = INVALID_ARGUMENT before the coordinator sees it), calls the
 * coordinator, and encodes the answer. Every error leaves through common/grpc-status.ts; one that
 * was not expected is a bug and is logged with its stack.
 *
 * Message size: grpc-js itself refuses a request over common/proto.ts's grpcMessageBytesMax with
 * RESOURCE_EXHAUSTED; the coordinator's smaller requestBytesMax answers INVALID_ARGUMENT below that.
 */
import type * as grpc from '@grpc/grpc-js';
import {
  beginInputFromPb,
  executeInputFromPb,
  listInputFromPb,
  queryInputFromPb,
  queryResultToPb,
  readInputFromPb,
  readResultToPb,
  txnIdFromPb,
  txnOutcomeToPb,
  txnPageToPb,
  txnViewToPb,
  writeInputFromPb,
} from '../common/api-codec.ts';
import { type Pb } from '../common/pb-fields.ts';
import { toStatus } from '../common/grpc-status.ts';
import type { Logger } from '../common/log.ts';
import type { Coordinator } from './coordinator.ts';
import { createExecuteStreams } from './execute-stream.ts';

/** The Coordinator methods the service calls (a structural subset, so tests can serve a fake). */
export type TransactionsBackend = Pick<
  Coordinator,
  | 'execute'
  | 'begin'
  | 'read'
  | 'write'
  | 'commit'
  | 'abort'
  | 'getTransaction'
  | 'listTransactions'
  | 'query'
>;

export interface TransactionsService {
  readonly implementation: grpc.UntypedServiceImplementation;
  /** Ends every ExecuteStream once its replies are sent; call before shutting the server down. */
  drainStreams(): Promise<void>;
}

export function createTransactionsService(options: {
  coordinator: TransactionsBackend;
  logger: Logger;
}): TransactionsService {
  const { coordinator: c, logger } = options;
  const executeOne = (req: unknown): Promise<Pb> =>
    Promise.resolve().then(async () => txnOutcomeToPb(await c.execute(executeInputFromPb(req))));
  const streams = createExecuteStreams(executeOne, logger);
  const unary = (
    name: string,
    handle: (request: unknown) => Pb | Promise<Pb>,
  ): grpc.handleUnaryCall<Pb, Pb> => {
    return (call, callback) => {
      Promise.resolve()
        .then(() => handle(call.request))
        .then(
          (response) => callback(null, response),
          (err: unknown) => {
            const { bug, ...status } = toStatus(err);
            if (bug)
              logger.error(`${name} failed unexpectedly`, { error: err, stack: (err as Error)?.stack });
            callback(status);
          },
        );
    };
  };
  const implementation: grpc.UntypedServiceImplementation = {
    Execute: unary('Execute', executeOne),
    ExecuteStream: streams.handler,
    Begin: unary('Begin', (req) => ({ txn_id: c.begin(beginInputFromPb(req)).txnId })),
    Read: unary('Read', async (req) => {
      const r = readInputFromPb(req);
      return readResultToPb(await c.read(r.txnId, r.shard, r.table, r.key));
    }),
    Write: unary('Write', (req) => {
      const w = writeInputFromPb(req);
      return { buffered_ops: c.write(w.txnId, w.ops).bufferedOps };
    }),
    Commit: unary('Commit', async (req) => txnOutcomeToPb(await c.commit(txnIdFromPb(req)))),
    Abort: unary('Abort', async (req) => ({ outcome: await c.abort(txnIdFromPb(req)) })),
    GetTransaction: unary('GetTransaction', async (req) =>
      txnViewToPb(await c.getTransaction(txnIdFromPb(req))),
    ),
    ListTransactions: unary('ListTransactions', async (req) =>
      txnPageToPb(await c.listTransactions(listInputFromPb(req))),
    ),
    Query: unary('Query', async (req) => {
      const q = queryInputFromPb(req);
      return queryResultToPb(await c.query(q.shard, q.sql, q.params));
    }),
  };
  return { implementation, drainStreams: () => streams.drainAll() };
}
