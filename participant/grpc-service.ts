/**
 * The `twopc.internal.v1.Participant` service over a shard store. Prepares and decisions, from the
 * Session stream and from the unary calls alike, go through the Batcher (group commit); the other
 * calls go to the store directly. Every error leaves through common/grpc-status.ts.
 */
import * as grpc from '@grpc/grpc-js';
import { queryResultToPb, readResultToPb } from '../common/api-codec.ts';
import {
  ackToPb,
  decisionFromPb,
  describeToPb,
  inDoubtToPb,
  prepareFromPb,
  sessionErrorText,
  sessionRequestFromPb,
  shardMetadataKey,
  shardQueryFromPb,
  shardReadFromPb,
  txnStateRequestFromPb,
  txnStateToPb,
  voteToPb,
} from '../common/protocol-codec.ts';
import { type Pb } from '../common/pb-fields.ts';
import { TwopcError, type ErrorCode } from '../common/errors.ts';
import { toStatus, type StatusError } from '../common/grpc-status.ts';
import type { Logger } from '../common/log.ts';
import type { InDoubtTxn, QueryResult, ReadResult, TableInfo, TxnStateInfo } from '../common/protocol.ts';
import type { Row, SqlValue } from '../common/value.ts';
import { ReplyStream } from '../common/reply-stream.ts';
import type { Batcher } from './batcher.ts';
import type { BatchStore, Settled } from './flush-writer.ts';

/** What the service needs of ShardStore (participant/shard-store.ts). */
export interface ServedStore extends BatchStore {
  readonly shard: string;
  read(table: string, key: Row): ReadResult;
  query(sql: string, params: readonly SqlValue[]): QueryResult;
  describe(): TableInfo[];
  /** With `abortIfUnknown`, a transaction never seen here gets a tombstone, atomically, and reads ABORTED. */
  txnState(txnId: string, options?: { abortIfUnknown?: boolean }): TxnStateInfo;
  listInDoubt(): InDoubtTxn[];
}

export interface ParticipantService {
  readonly implementation: grpc.UntypedServiceImplementation;
  /** Live Session streams. */
  sessionCount(): number;
  /**
   * Ends every Session once the replies it is owed are sent (the coordinator sees the stream end and
   * reconnects elsewhere or later). Call after the batcher is closed, so nothing new is accepted.
   */
  endSessions(): Promise<void>;
}

export function createParticipantService(options: {
  store: ServedStore;
  batcher: Batcher;
  logger: Logger;
}): ParticipantService {
  const { store, batcher, logger } = options;
  const sessions = new Set<Session>();
  const unary = (
    name: string,
    handle: (request: unknown) => Pb | Promise<Pb>,
  ): grpc.handleUnaryCall<Pb, Pb> => {
    return (call, callback) => {
      Promise.resolve()
        .then(() => {
          checkShard(store.shard, call.metadata);
          return handle(call.request);
        })
        .then(
          (response) => callback(null, response),
          (err: unknown) => callback(statusOf(err, name, logger)),
        );
    };
  };
  const implementation: grpc.UntypedServiceImplementation = {
    Session: (call: grpc.ServerDuplexStream<Pb, Pb>) => {
      const shardError = shardMismatch(store.shard, call.metadata);
      if (shardError) {
        call.emit('error', statusOf(shardError, 'Session', logger));
        return;
      }
      const session = new Session(call, batcher, logger, () => sessions.delete(session));
      sessions.add(session);
    },
    Prepare: unary('Prepare', async (req) => voteToPb(await batcher.prepare(prepareFromPb(req, 'request')))),
    Decide: unary('Decide', async (req) => ackToPb(await batcher.decide(decisionFromPb(req, 'request')))),
    Read: unary('Read', (req) => {
      const { table, key } = shardReadFromPb(req);
      return readResultToPb(store.read(table, key));
    }),
    Query: unary('Query', (req) => {
      const { sql, params } = shardQueryFromPb(req);
      return queryResultToPb(store.query(sql, params));
    }),
    Describe: unary('Describe', () => describeToPb(store.shard, store.describe())),
    GetTxnState: unary('GetTxnState', (req) => {
      const { txnId, abortIfUnknown } = txnStateRequestFromPb(req);
      return txnStateToPb(store.txnState(txnId, { abortIfUnknown }));
    }),
    ListInDoubt: unary('ListInDoubt', () => inDoubtToPb(store.shard, store.listInDoubt())),
  };
  return {
    implementation,
    sessionCount: () => sessions.size,
    endSessions: () => Promise.all([...sessions].map((s) => s.drain())).then(() => undefined),
  };
}

function shardMismatch(shard: string, metadata: grpc.Metadata): TwopcError | undefined {
  const expected = metadata.get(shardMetadataKey)[0];
  if (expected === undefined || expected === '' || String(expected) === shard) return undefined;
  return new TwopcError(
    'FAILED_PRECONDITION',
    `this participant serves shard "${shard}", not "${String(expected)}"`,
    {
      hint: "check the coordinator's --participant SHARD=ADDRESS flags",
    },
  );
}

function checkShard(shard: string, metadata: grpc.Metadata): void {
  const err = shardMismatch(shard, metadata);
  if (err) throw err;
}

/** The status for a thrown value; an unexpected one is a bug and is logged with its stack. */
function statusOf(err: unknown, what: string, logger: Logger): StatusError {
  const { bug, ...status } = toStatus(err);
  if (bug) logger.error(`${what} failed unexpectedly`, { error: err, stack: (err as Error)?.stack });
  return status;
}

function errorText(err: unknown, logger: Logger): string {
  const status = statusOf(err, 'Session message', logger);
  return sessionErrorText(grpc.status[status.code] as ErrorCode, status.details);
}

/**
 * One Session stream. Each CoordinatorMessage goes to the batcher; the replies a flush produces are
 * written as one ParticipantBatch (the batcher settles synchronously; common/reply-stream.ts writes
 * after a microtask). A message that fails is answered with `error`; the stream lives on.
 */
class Session {
  private readonly stream: ReplyStream;

  constructor(
    call: grpc.ServerDuplexStream<Pb, Pb>,
    private readonly batcher: Batcher,
    private readonly logger: Logger,
    onDone: () => void,
  ) {
    this.stream = new ReplyStream(call, 'messages', logger, onDone);
    call.on('data', (batch: Pb) => this.receive(batch));
  }

  drain(): Promise<void> {
    return this.stream.drain();
  }

  private receive(batch: Pb): void {
    const messages = Array.isArray(batch?.messages) ? (batch.messages as unknown[]) : [];
    messages.forEach((raw, i) => {
      const decoded = sessionRequestFromPb(raw, `messages[${i}]`);
      if (!decoded.ok) {
        if (decoded.seq === undefined)
          this.logger.error('session message without a seq dropped', { error: decoded.error });
        else this.stream.reply({ seq: decoded.seq, error: errorText(decoded.error, this.logger) });
        return;
      }
      const { request } = decoded;
      this.stream.begin();
      if (request.kind === 'prepare') {
        this.batcher.submitPrepare(request.message, (r) =>
          this.settled(request.seq, r, (v) => ({ vote: voteToPb(v) })),
        );
      } else {
        this.batcher.submitDecision(request.message, (r) =>
          this.settled(request.seq, r, (a) => ({ ack: ackToPb(a) })),
        );
      }
    });
  }

  private settled<T>(seq: string, result: Settled<T>, encode: (value: T) => Pb): void {
    this.stream.finish(
      result.ok ? { seq, ...encode(result.value) } : { seq, error: errorText(result.error, this.logger) },
    );
  }
}
