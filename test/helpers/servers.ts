/**
 * In-process servers for tests: participants on 127.0.0.1:0 with their shard files under `dir`, and
 * a coordinator in front of them. Silent loggers; the caller closes what it started.
 */
import path from 'node:path';
import { silentLogger } from '../../common/log.ts';
import { startCoordinatorServer, type CoordinatorServer } from '../../coordinator/coordinator-server.ts';
import { startParticipantServer, type ParticipantServer } from '../../participant/participant-server.ts';

export function startParticipants(
  dir: string,
  shards: readonly string[],
  schemaSql: string,
): Promise<ParticipantServer[]> {
  return Promise.all(
    shards.map((shard) =>
      startParticipantServer({
        shard,
        listen: '127.0.0.1:0',
        dataDir: path.join(dir, shard),
        schemaSql,
        logger: silentLogger,
      }),
    ),
  );
}

/** A coordinator for `participants`, its decision log in `dataDir`. */
export function startCoordinatorFor(
  participants: readonly ParticipantServer[],
  dataDir: string,
): Promise<CoordinatorServer> {
  return startCoordinatorServer({
    listen: '127.0.0.1:0',
    dataDir,
    participants: participants.map((p) => ({ shard: p.store.shard, address: p.address })),
    logger: silentLogger,
  });
}
