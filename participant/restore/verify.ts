/**
 * `shard replica verify`: reads every object of a shard's replica and checks it the way a restore
 * would — each object's checksum and identity, each WAL index's segments gapless with an unbroken
 * checksum chain ending on commit frames, every index from the oldest snapshot on present — then
 * restores the latest point into a temporary file and runs `PRAGMA integrity_check` on it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeError } from '../../common/errors.ts';
import type { SegmentRef } from '../replica/layout.ts';
import type { GenerationListing, Segment, ShardReplica } from '../replica/shard-replica.ts';
import { cutShortNote, cutShortUpload } from './cut-short.ts';
import { IncarnationCheck } from './incarnation-check.ts';
import { RESTORE_PREFETCH_OBJECTS, restoreShard, type RestoreResult } from './restore.ts';

export interface GenerationReport {
  readonly id: string;
  readonly snapshots: number;
  readonly segments: number;
  readonly problems: readonly string[];
  /** Not problems: a tail object an upload cut short (cut-short.ts), which restores leave out. */
  readonly notes: readonly string[];
  /** Segments before the oldest snapshot: no restore can use them (retention deletes them). */
  readonly unreachableSegments: number;
}

export interface VerifyReport {
  readonly generations: readonly GenerationReport[];
  readonly trialRestore: RestoreResult | { readonly error: string } | undefined;
  readonly problems: number;
}

export async function verifyReplica(
  replica: ShardReplica,
  options: {
    readonly generation?: string;
    readonly trialRestore?: boolean;
    readonly onObject?: (bytes: number) => void;
  } = {},
): Promise<VerifyReport> {
  const listing = (await replica.listGenerations()).filter(
    (g) => options.generation === undefined || g.id === options.generation,
  );
  const generations: GenerationReport[] = [];
  for (const g of listing)
    generations.push(await verifyGeneration(replica, g, options.onObject ?? (() => {})));
  let trialRestore: VerifyReport['trialRestore'];
  if ((options.trialRestore ?? true) && listing.some((g) => g.snapshots.length > 0)) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twopc-verify-'));
    try {
      trialRestore = await restoreShard({
        replica,
        output: path.join(dir, `${replica.shard}.db`),
        ...(options.generation === undefined ? {} : { generation: options.generation }),
      });
    } catch (err) {
      trialRestore = { error: describeError(err) };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const problems =
    generations.reduce((n, g) => n + g.problems.length, 0) +
    (trialRestore !== undefined && 'error' in trialRestore ? 1 : 0);
  return { generations, trialRestore, problems };
}

async function verifyGeneration(
  replica: ShardReplica,
  g: GenerationListing,
  onObject: (bytes: number) => void,
): Promise<GenerationReport> {
  const problems: string[] = g.strays.map((key) => `unexpected object ${key}`);
  const notes: string[] = [];
  /** An error is a problem unless it is a tail object an upload cut short. */
  const report = (err: unknown) => {
    const cutShort = cutShortUpload(err, [g]);
    if (cutShort === undefined) problems.push(describeError(err));
    else notes.push(cutShortNote(cutShort));
    return cutShort;
  };
  let usableSnapshots = 0;
  for (const s of g.snapshots) {
    try {
      if ((await replica.getSnapshot(s)) === undefined)
        problems.push(`snapshot ${s.key} disappeared while verifying`);
      else usableSnapshots++;
    } catch (err) {
      report(err);
    }
    onObject(s.size);
  }
  if (usableSnapshots === 0) problems.push('no snapshot: this generation cannot be restored');
  const firstIndex = g.snapshots[0]?.index ?? 0;
  const reachable = g.segments.filter((s) => s.index >= firstIndex);
  let currentIndex: number | undefined;
  let check: IncarnationCheck | undefined;
  let broken = false;
  for await (const { ref, segment, error, cause } of download(replica, reachable)) {
    onObject(ref.size);
    if (check === undefined || ref.index !== currentIndex) {
      const expected = currentIndex === undefined ? firstIndex : currentIndex + 1;
      if (ref.index !== expected)
        problems.push(
          `segment missing: no segment of WAL index ${expected} (the next is index ${ref.index})`,
        );
      currentIndex = ref.index;
      check = new IncarnationCheck(replica.shard, ref.index);
      broken = false;
    }
    if (error !== undefined) {
      if (cause === undefined) problems.push(error);
      else report(cause);
      broken = true;
      continue;
    }
    if (broken || segment === undefined) continue; // the chain of this index cannot be followed past a bad segment
    try {
      check.push(ref.key, segment);
    } catch (err) {
      problems.push(describeError(err));
      broken = true;
    }
  }
  // A later snapshot at index k proves indexes before k were complete; each must have segments.
  const lastIndex = reachable.at(-1)?.index ?? firstIndex - 1;
  const lastSnapshotIndex = g.snapshots.at(-1)?.index ?? firstIndex;
  if (lastIndex < lastSnapshotIndex - 1)
    problems.push(
      `segment missing: WAL indexes ${lastIndex + 1}..${lastSnapshotIndex - 1} have no segments before snapshot ${lastSnapshotIndex}`,
    );
  return {
    id: g.id,
    snapshots: g.snapshots.length,
    segments: g.segments.length,
    problems,
    notes,
    unreachableSegments: g.segments.length - reachable.length,
  };
}

interface Downloaded {
  readonly ref: SegmentRef;
  readonly segment?: Segment;
  readonly error?: string;
  /** The error thrown by the read, if it threw. */
  readonly cause?: unknown;
}

/** Segments in order, downloaded a few ahead; a failed download is reported, not thrown. */
async function* download(replica: ShardReplica, refs: readonly SegmentRef[]): AsyncGenerator<Downloaded> {
  const fetch = (ref: SegmentRef): Promise<Downloaded> =>
    replica.getSegment(ref).then(
      (segment) =>
        segment === undefined
          ? { ref, error: `segment missing: ${ref.key} disappeared while verifying` }
          : { ref, segment },
      (err: unknown) => ({ ref, error: describeError(err), cause: err }),
    );
  const window: Promise<Downloaded>[] = [];
  let next = 0;
  while (next < refs.length || window.length > 0) {
    while (next < refs.length && window.length < RESTORE_PREFETCH_OBJECTS)
      window.push(fetch(refs[next++] as SegmentRef));
    yield await (window.shift() as Promise<Downloaded>);
  }
}
