/**
 * Retention: delete what no restore within the retention window can need, and nothing else.
 *
 * A restore to time T uses, in the newest generation that has a snapshot at or before T, the newest
 * such snapshot and the segments after it. So, with cutoff = now - retentionMs:
 * - in each generation, the newest snapshot taken at or before the cutoff is the "base": snapshots
 *   before it, and segments of indexes before its index, serve only restores to before the cutoff;
 * - a generation followed by a restorable generation whose first snapshot is at or before the cutoff
 *   serves only such restores too, and is deleted whole — never the current one, nor the newest
 *   generation that has a snapshot.
 * Snapshots are deleted before segments, so an interrupted run never leaves a generation that looks
 * restorable but has a gap.
 */
import type { Logger } from '../../common/log.ts';
import type { ShardReplica } from '../replica/shard-replica.ts';

export interface RetentionOptions {
  readonly currentGeneration: string;
  readonly nowMs: number;
  readonly retentionMs: number;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
}

export async function enforceRetention(replica: ShardReplica, options: RetentionOptions): Promise<number> {
  const cutoff = options.nowMs - options.retentionMs;
  const generations = await replica.listGenerations(options.signal);
  const restorable = generations.filter((g) => g.snapshots.length > 0);
  const newestRestorable = restorable.at(-1)?.id;
  const doomed: string[] = [];
  for (const g of generations) {
    const keep = g.id === options.currentGeneration || g.id === newestRestorable;
    const successor = restorable.find((r) => r.id > g.id);
    const supersededAtMs = successor?.snapshots[0]?.takenAtMs ?? Number.POSITIVE_INFINITY;
    if (!keep && supersededAtMs <= cutoff) {
      doomed.push(...g.snapshots.map((s) => s.key), ...g.segments.map((s) => s.key), ...g.strays);
      continue;
    }
    const base = g.snapshots.filter((s) => s.takenAtMs <= cutoff).at(-1);
    if (base === undefined) continue;
    doomed.push(...g.snapshots.filter((s) => s.index < base.index).map((s) => s.key));
    doomed.push(...g.segments.filter((s) => s.index < base.index).map((s) => s.key));
  }
  for (const key of doomed) await replica.delete(key, options.signal);
  if (doomed.length > 0)
    options.logger.info('retention deleted old replica objects', {
      objects: doomed.length,
      cutoffMs: cutoff,
    });
  return doomed.length;
}
