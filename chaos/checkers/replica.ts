/**
 * The replica checker: after a run with WAL shipping and replica outages, did shipping catch up?
 * For each shard it gets whether the replica verified, and the markers of the shard file next to the
 * markers of the file restored from the replica. Valid iff every replica verified, every restore
 * worked, and each restored file holds exactly the markers of its shard file — none missing (shipping
 * fell behind for good, or lost a segment) and none extra (the shard lost what its replica has).
 *
 * That every *acknowledged* transaction is in the restored files is the durability checker's question,
 * asked again over the restored files (the harness runs it as `replica-durability`).
 */
import { ANOMALIES_PER_TYPE_MAX_DEFAULT, AnomalyCollector, type Verdict } from './verdict.ts';

export interface ShardReplicaState {
  readonly shard: string;
  readonly verified: boolean;
  /** What verify printed, for the report. */
  readonly verifyOutput: string;
  /** Markers of the shard file, and of the file restored from its replica (or why it failed). */
  readonly shardMarkers: readonly string[];
  readonly restored: { readonly markers: readonly string[] } | { readonly error: string };
}

export type ReplicaAnomaly =
  | {
      readonly type: 'verify-failed' | 'restore-failed';
      readonly message: string;
      readonly shard: string;
    }
  | {
      readonly type: 'not-caught-up' | 'replica-ahead';
      readonly message: string;
      readonly shard: string;
      readonly id: string;
    };

export interface ReplicaStats {
  readonly shards: number;
  readonly restoredMarkers: number;
}

export type ReplicaVerdict = Verdict<ReplicaAnomaly, ReplicaStats>;

export function checkReplica(
  states: readonly ShardReplicaState[],
  options: { readonly anomaliesPerTypeMax?: number } = {},
): ReplicaVerdict {
  const collector = new AnomalyCollector<ReplicaAnomaly>(
    options.anomaliesPerTypeMax ?? ANOMALIES_PER_TYPE_MAX_DEFAULT,
  );
  let restoredMarkers = 0;
  for (const s of states) {
    if (!s.verified) {
      const why = s.verifyOutput.split('\n').slice(-3).join(' / ');
      collector.add({
        type: 'verify-failed',
        message: `${s.shard}: replica verify failed: ${why}`,
        shard: s.shard,
      });
    }
    if ('error' in s.restored) {
      collector.add({
        type: 'restore-failed',
        message: `${s.shard}: restore from the replica failed: ${s.restored.error}`,
        shard: s.shard,
      });
      continue;
    }
    const restored = new Set(s.restored.markers);
    const local = new Set(s.shardMarkers);
    restoredMarkers += restored.size;
    for (const id of local) {
      if (restored.has(id)) continue;
      const message = `${s.shard}: ${id} is in the shard file but not in the file restored from its replica`;
      collector.add({ type: 'not-caught-up', message, shard: s.shard, id });
    }
    for (const id of restored) {
      if (local.has(id)) continue;
      const message = `${s.shard}: ${id} is in the file restored from the replica but not in the shard file`;
      collector.add({ type: 'replica-ahead', message, shard: s.shard, id });
    }
  }
  return collector.verdict('replica', { shards: states.length, restoredMarkers });
}
