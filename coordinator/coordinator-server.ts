/**
 * A coordinator process's gRPC face: opens its decision log (`decisionLog`, by default the SQLite file
 * `<dataDir>/decisions.db`; a Redis log is checked for durability first), connects to the participants,
 * starts the Coordinator (which re-drives unfinished commits from the log before anything else), and
 * only then serves `twopc.v1.Transactions` on `listen`.
 *
 * close(): stop accepting calls, let in-flight ones finish (bounded by coordinatorCloseGraceMs, then
 * cancelled), close the coordinator, the participant clients and the log, in that order: an
 * in-flight Execute still needs all three.
 */
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { invalidArgument } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import { startMetricsServer, type MetricsServer } from '../common/metrics-server.ts';
import { CHANNEL_OPTIONS, loadServices } from '../common/proto.ts';
import type { ParticipantClient } from '../common/protocol.ts';
import { listenGrpc, splitHostPort, type GrpcListener } from '../participant/participant-server.ts';
import { createTransactionsService, type TransactionsService } from './api-service.ts';
import type { CoordinatorConfig } from './config.ts';
import { Coordinator } from './coordinator.ts';
import type { DecisionLog } from './decision-log.ts';
import { openDecisionLog } from './decision-log/open.ts';
import {
  defaultDecisionLogPath,
  describeDecisionLogSpec,
  type DecisionLogSpec,
} from './decision-log/spec.ts';
import { GrpcParticipantClient, type GrpcParticipantClientConfig } from './grpc-participant-client.ts';
import { coordinatorMetricFamilies } from './metrics-export.ts';
import { RedisDecisionLog } from './decision-log/redis.ts';
import { ReplicaLease, leaseRenewMsDefault, leaseTtlMsDefault, type LeaseConfig } from './replicas.ts';

/** How long close() lets in-flight API calls finish before cancelling them. */
export const coordinatorCloseGraceMs = 5_000;

export interface CoordinatorServerOptions {
  /** HOST:PORT; port 0 picks a free one (see `address`). */
  readonly listen: string;
  /** Where the default SQLite log lives; needed only when `decisionLog` is not given. */
  readonly dataDir?: string;
  /** The decision log; default `sqlite:<dataDir>/decisions.db`. */
  readonly decisionLog?: DecisionLogSpec;
  readonly participants: ReadonlyArray<{ readonly shard: string; readonly address: string }>;
  /** Default: `coordinator@<hostname>`, stable across restarts on one machine. */
  readonly coordinatorId?: string;
  readonly config?: Partial<CoordinatorConfig>;
  readonly participantClient?: Partial<GrpcParticipantClientConfig>;
  /** Leases of replicas sharing a Redis log (replicas.ts); defaults leaseTtlMsDefault/leaseRenewMsDefault. */
  readonly lease?: Partial<LeaseConfig>;
  /**
   * Another replica took this one over (Redis log only). Default: close the server. The CLI exits
   * the process at once instead: a fenced replica must act on nothing.
   */
  readonly onFenced?: (why: string) => void;
  /** HOST:PORT of the Prometheus endpoint (common/metrics-server.ts); absent: none. */
  readonly metricsListen?: string;
  readonly logger: Logger;
}

export interface CoordinatorServer {
  /** HOST:PORT actually bound. */
  readonly address: string;
  readonly coordinator: Coordinator;
  readonly participants: ReadonlyMap<string, GrpcParticipantClient>;
  /** HOST:PORT of the metrics endpoint, when `metricsListen` was given. */
  readonly metricsAddress: string | undefined;
  close(): Promise<void>;
}

export async function startCoordinatorServer(options: CoordinatorServerOptions): Promise<CoordinatorServer> {
  const { host } = splitHostPort(options.listen);
  const logger = options.logger;
  const spec = decisionLogSpec(options);
  const clients = participantClients(options, logger);
  let log: DecisionLog;
  try {
    log = await openDecisionLog(spec, logger.child('decision-log'));
  } catch (err) {
    for (const client of clients.values()) client.close();
    throw err;
  }
  const baseId = options.coordinatorId ?? `coordinator@${hostname()}`;
  // Replicas: one coordinator id per start (`ID/eEPOCH`), so that a takeover adopts exactly the
  // prepares of the incarnation it fenced, never those of a restarted replica with the same name.
  const ownerEpoch = log instanceof RedisDecisionLog ? log.ownerEpoch : undefined;
  const coordinatorId = ownerEpoch !== undefined ? `${baseId}/e${ownerEpoch}` : baseId;
  let lease: ReplicaLease | undefined;
  const coordinator = new Coordinator({
    coordinatorId,
    log,
    participants: clients as ReadonlyMap<string, ParticipantClient>,
    ...(options.config === undefined ? {} : { config: options.config }),
    logger: logger.child('coordinator'),
    ...(ownerEpoch !== undefined
      ? {
          replicas: {
            ownsCoordinatorId: (id: string) => lease?.ownsCoordinatorId(id) === true,
            ownerEpoch,
          },
        }
      : {}),
  });
  let closeServer: () => Promise<void> = async () => {};
  if (log instanceof RedisDecisionLog) {
    lease = startReplicaLease(log, coordinator, coordinatorId, options, () => closeServer());
  }
  const closeBackends = async () => {
    // Drain first, still holding the lease: giving it up earlier would let another replica fence
    // this one while its last COMMIT records are being forced.
    await coordinator.close();
    await lease?.stop();
    for (const client of clients.values()) client.close();
    await log.close();
  };
  const server = new grpc.Server(CHANNEL_OPTIONS);
  let listener: GrpcListener;
  let service: TransactionsService | undefined;
  let metrics: MetricsServer | undefined;
  try {
    await lease?.start();
    await coordinator.start();
    service = createTransactionsService({ coordinator, logger: logger.child('api') });
    server.addService(loadServices().transactions.service, service.implementation);
    if (options.metricsListen !== undefined)
      metrics = await startMetricsServer({
        listen: options.metricsListen,
        collect: () => coordinatorMetricFamilies({ coordinator, participants: clients }),
        logger: logger.child('metrics'),
      });
    listener = await listenGrpc(server, options.listen, logger);
  } catch (err) {
    server.forceShutdown();
    await metrics?.close();
    await closeBackends().catch((closeErr: unknown) =>
      logger.warn('close after failed start failed', { error: closeErr }),
    );
    throw err;
  }
  const address = `${host}:${listener.port}`;
  logger.info('coordinator serving', {
    address,
    participants: options.participants.length,
    decisionLog: describeDecisionLogSpec(spec),
    epoch: log.epoch,
    coordinatorId,
  });

  let closing: Promise<void> | undefined;
  const close = async () => {
    // Long-lived ExecuteStreams would hold the graceful shutdown for its whole grace: end them as
    // soon as the transactions they carry are answered.
    await Promise.all([listener.shutdown(coordinatorCloseGraceMs), service?.drainStreams()]);
    // Served through the drain, closed before a scrape could read a closed log.
    await metrics?.close();
    await closeBackends();
    logger.info('coordinator stopped');
  };
  closeServer = () => (closing ??= close());
  return {
    address,
    coordinator,
    participants: clients,
    metricsAddress: metrics?.address,
    close: closeServer,
  };
}

/** Replica mode: the lease, takeovers feeding `coordinator.adopt`, and what happens when fenced. */
function startReplicaLease(
  log: RedisDecisionLog,
  coordinator: Coordinator,
  coordinatorId: string,
  options: CoordinatorServerOptions,
  closeServer: () => Promise<void>,
): ReplicaLease {
  const logger = options.logger.child('replica');
  const lease = new ReplicaLease({
    registry: log.replicaRegistry(),
    coordinatorId,
    address: options.listen,
    config: {
      leaseTtlMs: options.lease?.leaseTtlMs ?? leaseTtlMsDefault,
      leaseRenewMs: options.lease?.leaseRenewMs ?? leaseRenewMsDefault,
    },
    logger,
    onAdopted: (txnIds) => coordinator.adopt(txnIds),
    onLost: (why) => {
      logger.error('this coordinator replica was fenced: stopping', { why, epoch: log.epoch });
      if (options.onFenced !== undefined) options.onFenced(why);
      else void closeServer();
    },
  });
  log.onFenced((err) => lease.fenced(err.message));
  return lease;
}

function decisionLogSpec(options: CoordinatorServerOptions): DecisionLogSpec {
  if (options.decisionLog !== undefined) return options.decisionLog;
  if (options.dataDir === undefined || options.dataDir === '')
    throw invalidArgument('coordinator: give a data dir or a decision log');
  return { kind: 'sqlite', path: defaultDecisionLogPath(options.dataDir) };
}

function participantClients(
  options: CoordinatorServerOptions,
  logger: Logger,
): Map<string, GrpcParticipantClient> {
  const shards = options.participants.map((p) => p.shard);
  const duplicate = shards.find((s, i) => shards.indexOf(s) !== i);
  if (duplicate !== undefined)
    throw invalidArgument(`participant shard "${duplicate}" is given more than once`);
  for (const { address } of options.participants) splitHostPort(address);
  const clients = new Map<string, GrpcParticipantClient>();
  for (const { shard, address } of options.participants) {
    clients.set(
      shard,
      new GrpcParticipantClient({
        shard,
        address,
        ...(options.participantClient === undefined ? {} : { config: options.participantClient }),
        logger: logger.child(`participant.${shard}`),
      }),
    );
  }
  return clients;
}
