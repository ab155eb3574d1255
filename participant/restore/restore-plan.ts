/**
 * Which objects a restore needs: the generation, its snapshot, and the segments after it, chosen
 * from one listing. Restoring "latest" uses the newest generation that has a snapshot; restoring to
 * a time T uses the newest generation whose first snapshot is at or before T, its newest snapshot at
 * or before T, and the segments read from the WAL at or before T.
 *
 * The plan is checked against the names (every index from the snapshot's on has segments, each
 * index starts at offset 0); the contents are checked as they are downloaded (restore.ts).
 */
import { TwopcError } from '../../common/errors.ts';
import type { SegmentRef, SnapshotRef } from '../replica/layout.ts';
import type { GenerationListing } from '../replica/shard-replica.ts';

export interface RestoreTarget {
  /** Restore the state as of this time (ms since the epoch); undefined = the latest. */
  readonly atMs?: number;
  /** Restore from this generation only. */
  readonly generation?: string;
  /**
   * Use only snapshots taken strictly before this time (segments are not bounded by it): a restore
   * to a decision-log cut found a later snapshot already past the cut.
   */
  readonly snapshotBeforeMs?: number;
}

export interface IncarnationPlan {
  readonly index: number;
  /** In offset order. */
  readonly segments: readonly SegmentRef[];
}

export interface RestorePlan {
  readonly shard: string;
  readonly generation: string;
  readonly snapshot: SnapshotRef;
  readonly incarnations: readonly IncarnationPlan[];
  /** Stored (compressed) bytes to download. */
  readonly bytes: number;
  readonly segments: number;
  /** The time the restored state is from: the last segment's read time, or the snapshot's. */
  readonly asOfMs: number;
}

export function planRestore(
  shard: string,
  generations: readonly GenerationListing[],
  target: RestoreTarget,
): RestorePlan {
  const atMs = target.atMs ?? Number.POSITIVE_INFINITY;
  const beforeMs = target.snapshotBeforeMs ?? Number.POSITIVE_INFINITY;
  const usable = (s: SnapshotRef) => s.takenAtMs <= atMs && s.takenAtMs < beforeMs;
  const candidates = generations.filter(
    (g) => (target.generation === undefined || g.id === target.generation) && g.snapshots.some(usable),
  );
  const generation = candidates.at(-1);
  if (generation === undefined) throw nothingToRestore(shard, generations, target);
  const snapshot = generation.snapshots.filter(usable).at(-1) as SnapshotRef;
  const after = generation.segments.filter((s) => s.index >= snapshot.index);
  // Read times grow along the WAL; the restore is the prefix read at or before T.
  const cut = after.findIndex((s) => s.readAtMs > atMs);
  const chosen = cut < 0 ? after : after.slice(0, cut);
  const incarnations: IncarnationPlan[] = [];
  for (const segment of chosen) {
    const last = incarnations.at(-1);
    if (last !== undefined && last.index === segment.index) (last.segments as SegmentRef[]).push(segment);
    else incarnations.push({ index: segment.index, segments: [segment] });
  }
  checkIncarnations(shard, generation.id, snapshot, incarnations);
  return {
    shard,
    generation: generation.id,
    snapshot,
    incarnations,
    bytes: snapshot.size + chosen.reduce((n, s) => n + s.size, 0),
    segments: chosen.length,
    asOfMs: chosen.at(-1)?.readAtMs ?? snapshot.takenAtMs,
  };
}

function checkIncarnations(
  shard: string,
  generation: string,
  snapshot: SnapshotRef,
  incarnations: readonly IncarnationPlan[],
): void {
  let expected = snapshot.index;
  for (const inc of incarnations) {
    if (inc.index !== expected)
      throw missing(
        shard,
        generation,
        `no segment of WAL index ${expected} (the next one is index ${inc.index})`,
      );
    if (inc.segments[0]?.offset !== 0)
      throw missing(
        shard,
        generation,
        `WAL index ${inc.index} has no segment at offset 0 (its first is at ${inc.segments[0]?.offset})`,
      );
    expected++;
  }
}

export function missing(shard: string, generation: string, what: string): TwopcError {
  return new TwopcError(
    'FAILED_PRECONDITION',
    `replica of shard ${shard}, generation ${generation}: segment missing: ${what}`,
    {
      hint: "nothing was written; run 'npx twopc shard replica verify', then restore to a time before the gap with --at",
    },
  );
}

function nothingToRestore(
  shard: string,
  generations: readonly GenerationListing[],
  target: RestoreTarget,
): TwopcError {
  const what =
    target.snapshotBeforeMs !== undefined
      ? 'every snapshot left in the replica is already past the decision-log cut (retention removed older ones)'
      : target.generation !== undefined
        ? `generation ${target.generation} has no snapshot${target.atMs === undefined ? '' : ` at or before ${new Date(target.atMs).toISOString()}`}`
        : target.atMs !== undefined
          ? `no snapshot at or before ${new Date(target.atMs).toISOString()}`
          : 'no generation with a snapshot';
  const oldest = generations.flatMap((g) => g.snapshots).sort((a, b) => a.takenAtMs - b.takenAtMs)[0];
  return new TwopcError('NOT_FOUND', `nothing to restore for shard ${shard}: ${what}`, {
    hint:
      oldest === undefined
        ? "check --replica and --shard ('npx twopc shard replica ls --replica URL' lists what is there)"
        : `the oldest restorable point is ${new Date(oldest.takenAtMs).toISOString()}`,
  });
}
