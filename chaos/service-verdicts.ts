/**
 * What a run with the services under the cluster adds to the verdicts, after every process stopped:
 *
 * - decision-log-outage (checkers/outage-acks.ts): with the Redis log taken down, nothing needing a
 *   decision was told COMMITTED while it was down (from the outage in place until its heal began);
 * - replica (checkers/replica.ts) and replica-durability: with WAL shipping, every shard verified and
 *   restored from its replica (replica-restore.ts) holds exactly what the shard file holds, and every
 *   acknowledged transaction.
 *
 * And which services a run starts (resolveServices), given its options.
 */
import { checkDurability } from './checkers/durability.ts';
import { checkOutageAcks } from './checkers/outage-acks.ts';
import { checkReplica } from './checkers/replica.ts';
import { S3RVER_CREDENTIALS, type ChaosDecisionLog, type ChaosReplication } from './cluster-services.ts';
import { ShardFiles } from './final-state.ts';
import type { FaultRecord } from './nemesis.ts';
import { restoreFromReplica } from './replica-restore.ts';
import type { FaultKind } from './schedule.ts';
import type { AnyVerdict, Workload } from './workloads/workload.ts';

/**
 * WAL shipping when asked for, or when the replica is to be taken down (then sync for an even seed,
 * async for an odd one); the Redis decision log when asked for, or when Redis is to be taken down.
 */
export function resolveServices(options: {
  readonly seed: number;
  readonly faults: readonly FaultKind[];
  readonly replication?: ChaosReplication;
  readonly decisionLog?: ChaosDecisionLog;
}): { readonly replication: ChaosReplication; readonly decisionLog: ChaosDecisionLog } {
  const seeded: ChaosReplication = options.seed % 2 === 0 ? 'sync' : 'async';
  return {
    replication: options.replication ?? (options.faults.includes('replica-outage') ? seeded : 'off'),
    decisionLog: options.decisionLog ?? (options.faults.includes('redis-outage') ? 'redis' : 'sqlite'),
  };
}

/** decision-log-outage over the Redis outages of the run; none if Redis was never taken down. */
export function judgeDecisionLogOutages(faults: readonly FaultRecord[], workload: Workload): AnyVerdict[] {
  const outages = faults.filter((r) => r.window.kind === 'redis-outage');
  if (outages.length === 0) return [];
  const windows = outages.flatMap((r) =>
    r.appliedAtMs === undefined || r.healRequestedAtMs === undefined
      ? []
      : [{ id: r.window.id, fromMs: r.appliedAtMs, toMs: r.healRequestedAtMs }],
  );
  return [checkOutageAcks(workload.commitRecords(), windows, { checker: 'decision-log-outage' })];
}

/** Verifies and restores every shard from its replica; the replica and replica-durability verdicts. */
export async function judgeReplica(options: {
  readonly replicaUrl: string;
  readonly shards: readonly string[];
  readonly outDir: string;
  readonly workload: Workload;
  /** Markers of the shard files themselves. */
  readonly shardMarkers: Readonly<Record<string, string[]>>;
}): Promise<AnyVerdict[]> {
  const { shards, workload } = options;
  const restores = await restoreFromReplica({ ...options, env: S3RVER_CREDENTIALS });
  const fileOf = new Map(restores.flatMap((r) => ('file' in r.restored ? [[r.shard, r.restored.file]] : [])));
  const restoredMarkers =
    fileOf.size === shards.length
      ? workload.markers(new ShardFiles((s) => fileOf.get(s) as string))
      : undefined;
  const states = restores.map((r) => ({
    shard: r.shard,
    verified: r.verified,
    verifyOutput: r.verifyOutput,
    shardMarkers: options.shardMarkers[r.shard] ?? [],
    restored:
      'error' in r.restored
        ? { error: r.restored.error }
        : restoredMarkers === undefined
          ? { error: 'not read: the restore of another shard failed' }
          : { markers: restoredMarkers[r.shard] ?? [] },
  }));
  const verdicts: AnyVerdict[] = [checkReplica(states)];
  if (restoredMarkers !== undefined) {
    const durable = checkDurability(workload.commitRecords(), restoredMarkers);
    verdicts.push({ ...durable, checker: 'replica-durability' });
  }
  return verdicts;
}
