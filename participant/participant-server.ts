/**
 * A participant process's gRPC face: opens `<dataDir>/<shard>.db`, ships its WAL to a replica if
 * one is configured, serves the Participant service on `listen`, runs the in-doubt resolver (asking
 * the coordinator, if one is configured, then the peers over gRPC), and shuts down gracefully (no
 * new messages, every queued one written and answered, sessions ended, unary calls given a bounded
 * time to finish, WAL shipping flushed and stopped, then the store closed).
 */
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, loadServices } from '../common/proto.ts';
import type { Logger } from '../common/log.ts';
import { TwopcError, describeError, invalidArgument } from '../common/errors.ts';
import { startMetricsServer, type MetricsServer } from '../common/metrics-server.ts';
import { Batcher, type BatcherConfig } from './batcher.ts';
import type { Durability } from './flush-writer.ts';
import { createParticipantService, type ParticipantService } from './grpc-service.ts';
import { NO_RESOLVER_STATS, type InDoubtResolverConfig } from './in-doubt-resolver.ts';
import { participantMetricFamilies } from './metrics-export.ts';
import { startInDoubtResolver, type RunningInDoubtResolver } from './start-in-doubt-resolver.ts';
import { ShardStore } from './shard-store.ts';
import type { ReplicationMode, WalShipperConfig } from './wal/config.ts';
import type { WalShipping } from './wal/start-wal-shipping.ts';

/** How long close() lets in-flight unary calls finish before cancelling them. */
export const participantCloseGraceMs = 5_000;

/**
 * How long close() keeps trying to upload the WAL committed so far before it stops shipping. With
 * the call grace above it stays inside the CLI's whole-shutdown bound (cli/serve.ts, 15 s); what is
 * left is on local disk, and the next start ships it (in a new generation if need be).
 */
export const replicationCloseFlushMs = 5_000;

export interface ReplicationOptions {
  /** `file://DIR` or `s3://BUCKET/PREFIX?endpoint=…&region=…` (participant/replica/replica-url.ts). */
  readonly replicaUrl: string;
  /** `async`: ship every `syncIntervalMs`. `sync`: hold every vote and ack until the replica has it. */
  readonly mode: ReplicationMode;
  readonly syncIntervalMs: number;
  /** Sync mode: how long a vote or ack may wait for the replica (default DURABLE_WAIT_MS_DEFAULT). */
  readonly durableWaitMs?: number;
  /** Any other shipper tunable (tests shrink intervals). */
  readonly shipper?: Partial<WalShipperConfig>;
}

export interface ParticipantServerOptions {
  readonly shard: string;
  /** HOST:PORT; port 0 picks a free one (see `address`). */
  readonly listen: string;
  readonly dataDir: string;
  readonly schemaSql: string;
  readonly logger: Logger;
  /** HOST:PORT of the Prometheus endpoint (common/metrics-server.ts); absent: none. */
  readonly metricsListen?: string;
  readonly batcher?: Partial<BatcherConfig>;
  /** HOST:PORT of the coordinator to ask about in-doubt transactions; without it, only peers are asked. */
  readonly coordinatorAddress?: string;
  readonly inDoubt?: Partial<InDoubtResolverConfig>;
  /** Ship the shard's WAL to a replica; without it nothing is shipped (a lost disk loses the shard). */
  readonly replication?: ReplicationOptions;
}

export interface ParticipantServer {
  /** HOST:PORT actually bound. */
  readonly address: string;
  readonly store: ShardStore;
  readonly batcher: Batcher;
  /** WAL shipping, when `replication` was given. */
  readonly shipping: WalShipping | undefined;
  /** HOST:PORT of the metrics endpoint, when `metricsListen` was given. */
  readonly metricsAddress: string | undefined;
  close(): Promise<void>;
}

export async function startParticipantServer(options: ParticipantServerOptions): Promise<ParticipantServer> {
  const { host } = splitHostPort(options.listen);
  const logger = options.logger;
  mkdirSync(options.dataDir, { recursive: true });
  const dbPath = path.join(options.dataDir, `${options.shard}.db`);
  const replication = options.replication;
  const store = ShardStore.open({
    path: dbPath,
    shard: options.shard,
    schemaSql: options.schemaSql,
    logger: logger.child('store'),
    // The shipper owns checkpoints: it checkpoints only what is already in the replica.
    ...(replication === undefined ? {} : { walAutocheckpointPages: 0 }),
  });
  let shipping: WalShipping | undefined;
  let batcher: Batcher;
  let service: ParticipantService;
  let listener: GrpcListener;
  let metrics: MetricsServer | undefined;
  // Read by a scrape; undefined only until the resolver starts below.
  let resolver: RunningInDoubtResolver | undefined = undefined;
  try {
    shipping =
      replication === undefined ? undefined : await startShipping(dbPath, options.shard, replication, logger);
    const durability =
      shipping?.mode === 'sync' ? await durabilityGate(shipping, replication?.durableWaitMs) : undefined;
    batcher = new Batcher({
      store,
      config: options.batcher,
      logger: logger.child('batcher'),
      ...(durability === undefined ? {} : { durability }),
    });
    service = createParticipantService({ store, batcher, logger: logger.child('service') });
    const server = new grpc.Server(CHANNEL_OPTIONS);
    server.addService(loadServices().participant.service, service.implementation);
    if (options.metricsListen !== undefined)
      metrics = await startMetricsServer({
        listen: options.metricsListen,
        collect: () =>
          participantMetricFamilies({
            shard: options.shard,
            store,
            batcher,
            resolver: resolver?.resolver ?? { stats: () => NO_RESOLVER_STATS },
            shipping,
            nowMs: () => Date.now(),
          }),
        logger: logger.child('metrics'),
      });
    listener = await listenGrpc(server, options.listen, logger);
  } catch (err) {
    await metrics?.close();
    // Nothing was acknowledged yet: no need to wait for uploads (the next start ships what is left).
    await shipping?.close({ flush: false });
    store.close();
    throw err;
  }
  const address = `${host}:${listener.port}`;
  resolver = startInDoubtResolver({
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
    await shipping?.close(); // uploads what is committed (bounded), before the store's last checkpoint
    // Served through the drain (queued, in flight), closed before a scrape could read a closed store.
    await metrics?.close();
    store.close();
    logger.info('participant stopped', { shard: options.shard });
  };
  return {
    address,
    store,
    batcher,
    shipping,
    metricsAddress: metrics?.address,
    close: () => (closing ??= close()),
  };
}

/** Imported on use, so a participant without a replica never loads the shipper (nor the AWS SDK). */
async function startShipping(
  dbPath: string,
  shard: string,
  replication: ReplicationOptions,
  logger: Logger,
): Promise<WalShipping> {
  const { startWalShipping } = await import('./wal/start-wal-shipping.ts');
  return startWalShipping({
    dbPath,
    shard,
    replicaUrl: replication.replicaUrl,
    mode: replication.mode,
    syncIntervalMs: replication.syncIntervalMs,
    config: { closeFlushTimeoutMs: replicationCloseFlushMs, ...replication.shipper },
    logger,
  });
}

async function durabilityGate(shipping: WalShipping, waitMs: number | undefined): Promise<Durability> {
  const { DurabilityGate } = await import('./wal/durability-gate.ts');
  return new DurabilityGate(shipping, waitMs);
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
