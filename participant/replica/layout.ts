/**
 * Object names in a replica, per shard:
 *
 *     <shard>/generations/<generation>/snapshots/<index>-<takenAtMs>.snap
 *     <shard>/generations/<generation>/wal/<index>-<offset>-<readAtMs>.seg
 *
 * Numbers are zero-padded (index 10 digits, offset 15, times 13) so lexical order is numeric order.
 * The times are in the name so one listing plans a restore (point in time, time ranges) without
 * reading every object; every object repeats its name's fields inside, checked when read.
 */
import { GENERATION_ID } from '../wal/generation.ts';

export const INDEX_DIGITS = 10;
export const OFFSET_DIGITS = 15;
const TIME_DIGITS = 13;

export interface SnapshotRef {
  readonly generation: string;
  readonly index: number;
  readonly takenAtMs: number;
  readonly key: string;
  readonly size: number;
}

export interface SegmentRef {
  readonly generation: string;
  readonly index: number;
  readonly offset: number;
  readonly readAtMs: number;
  readonly key: string;
  readonly size: number;
}

export function generationsPrefix(shard: string): string {
  return `${shard}/generations/`;
}

export function snapshotKey(shard: string, s: Omit<SnapshotRef, 'key' | 'size'>): string {
  return `${generationsPrefix(shard)}${s.generation}/snapshots/${pad(s.index, INDEX_DIGITS)}-${pad(s.takenAtMs, TIME_DIGITS)}.snap`;
}

export function segmentKey(shard: string, s: Omit<SegmentRef, 'key' | 'size'>): string {
  return `${generationsPrefix(shard)}${s.generation}/wal/${pad(s.index, INDEX_DIGITS)}-${pad(s.offset, OFFSET_DIGITS)}-${pad(s.readAtMs, TIME_DIGITS)}.seg`;
}

const SNAPSHOT_NAME = /^(\d{10})-(\d{13})\.snap$/;
const SEGMENT_NAME = /^(\d{10})-(\d{15})-(\d{13})\.seg$/;

export type ParsedKey =
  | { readonly kind: 'snapshot'; readonly ref: SnapshotRef }
  | { readonly kind: 'segment'; readonly ref: SegmentRef }
  | { readonly kind: 'other'; readonly generation: string | undefined };

/** Parses a key relative to `generationsPrefix(shard)`. */
export function parseKey(shard: string, key: string, size: number): ParsedKey {
  const rest = key.slice(generationsPrefix(shard).length);
  const [generation, dir, name, ...more] = rest.split('/');
  if (generation === undefined || !GENERATION_ID.test(generation))
    return { kind: 'other', generation: undefined };
  if (more.length > 0 || name === undefined) return { kind: 'other', generation };
  if (dir === 'snapshots') {
    const m = SNAPSHOT_NAME.exec(name);
    if (m !== null)
      return {
        kind: 'snapshot',
        ref: { generation, index: Number(m[1]), takenAtMs: Number(m[2]), key, size },
      };
  }
  if (dir === 'wal') {
    const m = SEGMENT_NAME.exec(name);
    if (m !== null)
      return {
        kind: 'segment',
        ref: { generation, index: Number(m[1]), offset: Number(m[2]), readAtMs: Number(m[3]), key, size },
      };
  }
  return { kind: 'other', generation };
}

function pad(n: number, digits: number): string {
  const s = String(n);
  if (!Number.isSafeInteger(n) || n < 0 || s.length > digits)
    throw new RangeError(`${n} does not fit a ${digits}-digit name field`);
  return s.padStart(digits, '0');
}
