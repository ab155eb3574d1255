/**
 * Uploads a crash cut short. The shipper uploads one object at a time, in order, and counts one as
 * shipped (releasing the votes and acks that wait on it) only once the store said it is stored. On a
 * store that writes objects atomically (S3, MinIO, file://) a crash mid-upload leaves nothing; on one
 * that does not (s3rver), it leaves a PREFIX of the object, listed like any other. Such a prefix can
 * only be a generation's last segment, or its newest snapshot (periodic snapshots go up beside the
 * segments), and nothing shipped depends on it: a restore leaves it out, as it would a missing
 * object at the end of a generation, and says so.
 *
 * Or it is *superseded*: a participant killed mid-upload while the store was slow or stopped leaves a
 * request in the store's hands; the next incarnation resumes from the replica's listing and ships the
 * same WAL offset again (under a new read time), and the dead incarnation's request is only turned into
 * a prefix afterwards — in the middle of the chain, beside a complete object at the same WAL index and
 * offset. (Found by the chaos harness's replica-outage: s3rver SIGSTOPped while a participant was
 * SIGKILLed.) Nothing depends on it either. Damage of any other kind, or anywhere else, stays an error.
 */
import { CorruptObjectError } from '../replica/replica-object.ts';
import type { GenerationListing } from '../replica/shard-replica.ts';

/** The key of `err`'s object if it is a truncated tail object of its generation in `listing`. */
export function cutShortUpload(err: unknown, listing: readonly GenerationListing[]): string | undefined {
  if (!(err instanceof CorruptObjectError) || !err.truncated) return undefined;
  const tails = listing.flatMap((g) => [g.segments.at(-1)?.key, g.snapshots.at(-1)?.key]);
  if (tails.includes(err.key)) return err.key;
  for (const g of listing) {
    const s = g.segments.find((x) => x.key === err.key);
    if (s === undefined) continue;
    const superseded = g.segments.some((x) => x !== s && x.index === s.index && x.offset === s.offset);
    return superseded ? err.key : undefined;
  }
  return undefined;
}

/** The listing without the objects in `keys`. */
export function withoutKeys(
  listing: readonly GenerationListing[],
  keys: readonly string[],
): GenerationListing[] {
  if (keys.length === 0) return [...listing];
  return listing.map((g) => ({
    ...g,
    snapshots: g.snapshots.filter((s) => !keys.includes(s.key)),
    segments: g.segments.filter((s) => !keys.includes(s.key)),
  }));
}

/** What a restore or verify says about one left-out object. */
export function cutShortNote(key: string): string {
  return `left out ${key}: incomplete, an upload a crash cut short (the store does not write objects atomically); nothing shipped depended on it`;
}
