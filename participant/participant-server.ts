/**
 * A participant process's gRPC face: opens `<dataDir>/<shard>.db`, serves the Participant service on
 * `listen`, runs the in-doubt resolver (asking the coordinator, if one is configured, then the peers
 * over gRPC), and shuts down gracefully (no new messages, every queued one written and answered,
 * sessions ended, unary calls given a bounded time to finish, then the store closed).
 */
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, loadServices } from '../common/proto.ts';
import type { Logger } from '../common/log.ts';
import { TwopcError, describeError, invalidArgument } from '../common/errors.ts';
import { Batcher, type BatcherConfig } from './batcher.ts';
import { createParticipantService, type ParticipantService } from './grpc-service.ts';
import type { InDoubtResolverConfig } from './in-doubt-resolver.ts';
import { startInDoubtResolver } from './start-in-doubt-resolver.ts';
import { ShardStore } from './shard-store.ts';

/** How long close() lets in-flight unary calls finish before cancelling them. */
export const participantCloseGraceMs = 5_000;

export interface ParticipantServerOptions {
  readonly shard: string;
  /** HOST:PORT; port 0 picks a free one (see `address`). */
  readonly listen: string;
  readonly dataDir: string;
  readonly schemaSql: string;
  readonly logger: Logger;
  readonly batcher?: Partial<BatcherConfig>;
  /** HOST:PORT of the coordinator to ask about in-doubt transactions; without it, only peers are asked. */
  readonly coordinatorAddress?: string;
  readonly inDoubt?: Partial<InDoubtResolverConfig>;
}

export interface ParticipantServer {
  /** HOST:PORT actually bound. */
  readonly address: string;
  readonly store: ShardStore;
  readonly batcher: Batcher;
  close(): Promise<void>;
}

export async function startParticipantServer(options: ParticipantServerOptions): Promise<ParticipantServer> {
  const { host } = splitHostPort(options.listen);
  const logger = options.logger;
  mkdirSync(options.dataDir, { recursive: true });
  const store = ShardStore.open({
    path: path.join(options.dataDir, `${options.shard}.db`),
    shard: options.shard,
    schemaSql: options.schemaSql,
    logger: logger.child('store'),
  });
  let batcher: Batcher;
  let service: ParticipantService;
  let listener: GrpcListener;
  try {
    batcher = new Batcher({ store, config: options.batcher, logger: logger.child('batcher') });
    service = createParticipantService({ store, batcher, logger: logger.child('service') });
    const server = new grpc.Server(CHANNEL_OPTIONS);
    server.addService(loadServices().participant.service, service.implementation);
    listener = await listenGrpc(server, options.listen, logger);
  } catch (err) {
    store.close();
    throw err;
  }
  const address = `${host}:${listener.port}`;
  const resolver = startInDoubtResolver({
    store,
    batcher,
    ...(options.coordinatorAddress === undefined ? {} : { coordinatorAddress: options.coordinatorAddress }),
    ...(options.inDoubt === undefined ? {} : { config: options.inDoubt }),
    logger: logger.child('in-doubt'),
  });
  logger.info('participant serving', { shard: options.shard, address });

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    await resolver.stop(); // closes its channels first: questions in flight fail, nothing waits on them
    const stopped = listener.shutdown(participantCloseGraceMs); // no new calls from here on
    await batcher.close();
    await service.endSessions();
    await stopped;
    store.close();
    logger.info('participant stopped', { shard: options.shard });
  };
  return {
    address,
    store,
    batcher,
    close: () => (closing ??= close()),
  };
}

export function splitHostPort(listen: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[2]);
  if (!m || port > 65535)
    throw invalidArgument(
      `listen address "${listen}" is not HOST:PORT`,
      'e.g. 127.0.0.1:7401 (port 0 = any free port)',
    );
  return { host: m[1] as string, port };
}

/** A gRPC server accepting connections on a TCP port of its own. */
export interface GrpcListener {
  readonly port: number;
  /** Stops accepting connections and calls, waits up to `graceMs` for calls in flight, then cancels them. */
  shutdown(graceMs: number): Promise<void>;
}

/**
 * Serves `server` on `listen` (HOST:PORT, port 0 = any free port). The TCP listener is ours, handed to
 * grpc-js through its (public) connection injector, so that accepted sockets get TCP_NODELAY as
 * gRPC's C core and grpc-js's own client sockets do; grpc-js's server listener leaves Nagle on, which
 * can hold a small reply until the previous segment is acknowledged.
 */
export async function listenGrpc(server: grpc.Server, listen: string, logger: Logger): Promise<GrpcListener> {
  const { host, port } = splitHostPort(listen);
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const tcp = net.createServer({ noDelay: true }, (socket) => injector.injectConnection(socket));
  try {
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ host: host.replace(/^\[(.*)\]$/, '$1'), port }, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    server.forceShutdown();
    throw new TwopcError('FAILED_PRECONDITION', `cannot listen on ${listen}: ${describeError(err)}`, {
      hint: 'is another process using the port? pick another --listen address',
      cause: err,
    });
  }
  tcp.on('error', (err) => logger.warn('listener error', { listen, error: err }));
  return {
    port: (tcp.address() as net.AddressInfo).port,
    shutdown: (graceMs) => {
      tcp.close();
      return shutdown(server, graceMs);
    },
  };
}

/** Stops accepting calls, waits up to `graceMs` for in-flight ones, then cancels what is left. */
function shutdown(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
