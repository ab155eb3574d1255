/**
 * In-process servers for tests: participants on 127.0.0.1:0 with their shard files under `dir`, and
 * a coordinator in front of them. Silent loggers; the caller closes what it started.
 */
import path from 'node:path';
import { silentLogger } from '../../common/log.ts';
import { startCoordinatorServer, type CoordinatorServer } from '../../coordinator/coordinator-server.ts';
import { startParticipantServer, type ParticipantServer } from '../../participant/participant-server.ts';

/** Servers started with `metrics` also serve /metrics on a free port (their `metricsAddress`). */
export interface TestServerOptions {
  readonly metrics?: boolean;
}

const metricsOption = (o: TestServerOptions) => (o.metrics === true ? { metricsListen: '127.0.0.1:0' } : {});

export function startParticipants(
  dir: string,
  shards: readonly string[],
  schemaSql: string,
  options: TestServerOptions = {},
): Promise<ParticipantServer[]> {
  return Promise.all(
    shards.map((shard) =>
      startParticipantServer({
        shard,
        listen: '127.0.0.1:0',
        dataDir: path.join(dir, shard),
        schemaSql,
        logger: silentLogger,
        ...metricsOption(options),
      }),
    ),
  );
}

/** A coordinator for `participants`, its decision log in `dataDir`. */
export function startCoordinatorFor(
  participants: readonly ParticipantServer[],
  dataDir: string,
  options: TestServerOptions = {},
): Promise<CoordinatorServer> {
  return startCoordinatorServer({
    listen: '127.0.0.1:0',
    dataDir,
    participants: participants.map((p) => ({ shard: p.store.shard, address: p.address })),
    logger: silentLogger,
    ...metricsOption(options),
  });
}
