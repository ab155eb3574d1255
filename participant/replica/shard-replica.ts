/**
 * One shard's part of a replica: its generations, snapshots and WAL segments (layout.ts), encoded
 * and checked by replica-object.ts. Used by the shipper (writes), restore and the CLI (reads).
 */
import { comparePositions, generationTimeMs } from '../wal/generation.ts';
import type { WalChecksum } from '../wal/wal-format.ts';
import {
  generationsPrefix,
  parseKey,
  segmentKey,
  snapshotKey,
  type SegmentRef,
  type SnapshotRef,
} from './layout.ts';
import type { ReplicaClient } from './replica.ts';
import { CorruptObjectError, decodeObject, encodeObject, type ObjectHeader } from './replica-object.ts';

export interface GenerationListing {
  readonly id: string;
  readonly createdAtMs: number;
  /** By index. */
  readonly snapshots: readonly SnapshotRef[];
  /** By (index, offset). */
  readonly segments: readonly SegmentRef[];
  /** Keys under the generation that are not snapshots or segments (reported by verify). */
  readonly strays: readonly string[];
}

/** What a segment header records about the WAL, beyond its name fields. */
export interface SegmentFacts {
  readonly salt1: number;
  readonly salt2: number;
  readonly bigEndianChecksum: boolean;
  /** Cumulative checksum after the segment's last frame. */
  readonly endChecksum: WalChecksum;
  readonly frames: number;
  readonly commits: number;
  /** Database pages after the segment's last commit. */
  readonly dbPages: number;
}

export interface Segment {
  readonly ref: Omit<SegmentRef, 'key' | 'size'>;
  readonly pageBytes: number;
  readonly raw: Buffer;
  readonly facts: SegmentFacts;
}

export class ShardReplica {
  readonly client: ReplicaClient;
  readonly shard: string;

  constructor(client: ReplicaClient, shard: string) {
    this.client = client;
    this.shard = shard;
  }

  /** Every generation of the shard, oldest first. */
  async listGenerations(signal?: AbortSignal): Promise<GenerationListing[]> {
    const objects = await this.client.list(generationsPrefix(this.shard), signal);
    const byId = new Map<string, { snapshots: SnapshotRef[]; segments: SegmentRef[]; strays: string[] }>();
    const entry = (id: string) => {
      let e = byId.get(id);
      if (e === undefined) byId.set(id, (e = { snapshots: [], segments: [], strays: [] }));
      return e;
    };
    for (const o of objects) {
      const parsed = parseKey(this.shard, o.key, o.size);
      if (parsed.kind === 'snapshot') entry(parsed.ref.generation).snapshots.push(parsed.ref);
      else if (parsed.kind === 'segment') entry(parsed.ref.generation).segments.push(parsed.ref);
      else if (parsed.generation !== undefined) entry(parsed.generation).strays.push(o.key);
    }
    return [...byId.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([id, e]) => ({
        id,
        createdAtMs: generationTimeMs(id),
        snapshots: e.snapshots.sort((a, b) => a.index - b.index || a.takenAtMs - b.takenAtMs),
        segments: e.segments.sort(comparePositions),
        strays: e.strays,
      }));
  }

  async putSegment(segment: Segment, signal?: AbortSignal): Promise<SegmentRef> {
    const body = await encodeObject(
      { kind: 'segment', shard: this.shard, ...segment.ref, timeMs: segment.ref.readAtMs },
      segment.pageBytes,
      segment.raw,
      { ...segment.facts },
    );
    const key = segmentKey(this.shard, segment.ref);
    await this.client.put(key, body, signal);
    return { ...segment.ref, key, size: body.length };
  }

  /** The segment's raw WAL bytes, checked; CorruptObjectError if damaged, NOT_FOUND-like undefined if gone. */
  async getSegment(ref: SegmentRef, signal?: AbortSignal): Promise<Segment | undefined> {
    const bytes = await this.client.get(ref.key, signal);
    if (bytes === undefined) return undefined;
    const { header, raw } = await decodeObject(ref.key, bytes, {
      kind: 'segment',
      shard: this.shard,
      generation: ref.generation,
      index: ref.index,
      offset: ref.offset,
      timeMs: ref.readAtMs,
    });
    return {
      ref: { generation: ref.generation, index: ref.index, offset: ref.offset, readAtMs: ref.readAtMs },
      pageBytes: header.pageBytes,
      raw,
      facts: segmentFacts(ref.key, header),
    };
  }

  async putSnapshot(
    ref: Omit<SnapshotRef, 'key' | 'size'>,
    pageBytes: number,
    raw: Buffer,
    signal?: AbortSignal,
  ): Promise<SnapshotRef> {
    const body = await encodeObject(
      {
        kind: 'snapshot',
        shard: this.shard,
        generation: ref.generation,
        index: ref.index,
        offset: 0,
        timeMs: ref.takenAtMs,
      },
      pageBytes,
      raw,
    );
    const key = snapshotKey(this.shard, ref);
    await this.client.put(key, body, signal);
    return { ...ref, key, size: body.length };
  }

  async getSnapshot(
    ref: SnapshotRef,
    signal?: AbortSignal,
  ): Promise<{ raw: Buffer; pageBytes: number } | undefined> {
    const bytes = await this.client.get(ref.key, signal);
    if (bytes === undefined) return undefined;
    const { header, raw } = await decodeObject(ref.key, bytes, {
      kind: 'snapshot',
      shard: this.shard,
      generation: ref.generation,
      index: ref.index,
      offset: 0,
      timeMs: ref.takenAtMs,
    });
    return { raw, pageBytes: header.pageBytes };
  }

  delete(key: string, signal?: AbortSignal): Promise<void> {
    return this.client.delete(key, signal);
  }
}

/** The shards that have generations in this replica. */
export async function listShards(client: ReplicaClient, signal?: AbortSignal): Promise<string[]> {
  const shards = new Set<string>();
  for (const o of await client.list('', signal)) {
    const m = /^([^/]+)\/generations\//.exec(o.key);
    if (m?.[1] !== undefined) shards.add(m[1]);
  }
  return [...shards].sort();
}

function segmentFacts(key: string, header: ObjectHeader): SegmentFacts {
  const e = header.extra as Partial<Record<keyof SegmentFacts, unknown>>;
  const u32 = (v: unknown): v is number =>
    Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;
  const checksum = e.endChecksum;
  if (
    !u32(e.salt1) ||
    !u32(e.salt2) ||
    typeof e.bigEndianChecksum !== 'boolean' ||
    !Array.isArray(checksum) ||
    checksum.length !== 2 ||
    !checksum.every(u32) ||
    !u32(e.frames) ||
    !u32(e.commits) ||
    !u32(e.dbPages)
  )
    throw new CorruptObjectError(key, 'segment header lacks its WAL facts');
  return {
    salt1: e.salt1,
    salt2: e.salt2,
    bigEndianChecksum: e.bigEndianChecksum,
    endChecksum: [checksum[0] as number, checksum[1] as number],
    frames: e.frames,
    commits: e.commits,
    dbPages: e.dbPages,
  };
}
