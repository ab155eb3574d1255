/**
 * Resuming a generation after a restart. The replica's latest generation is continued only if the
 * local WAL provably is the incarnation its last segment came from: same salts, and the very bytes
 * of that segment at the same offset. Then every frame after it is still in the local WAL (SQLite
 * only rewrites a WAL after new salts), and shipping continues from there. Anything else —
 * the WAL was checkpointed and deleted by a clean close, or restarted since — starts a new generation.
 */
import fs from 'node:fs';
import { describeError } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { ShardReplica } from '../replica/shard-replica.ts';
import { isWalHeader, parseWalHeader, WAL_HEADER_BYTES, type WalHeader } from './wal-format.ts';
import type { WalPosition } from './wal-reader.ts';

export interface ResumePoint {
  readonly cursor: {
    readonly generation: string;
    readonly index: number;
    readonly position: WalPosition;
    readonly startedAtMs: number;
  };
  readonly lastSnapshotMs: number;
}

export async function findResumePoint(
  replica: ShardReplica,
  walPath: string,
  logger: Logger,
  signal?: AbortSignal,
): Promise<ResumePoint | undefined> {
  const generation = (await replica.listGenerations(signal)).at(-1);
  const last = generation?.segments.at(-1);
  const lastSnapshot = generation?.snapshots.at(-1);
  if (
    generation === undefined ||
    last === undefined ||
    lastSnapshot === undefined ||
    lastSnapshot.index > last.index
  )
    return undefined;
  let segment;
  try {
    segment = await replica.getSegment(last, signal);
  } catch (err) {
    logger.warn('the last segment of the replica cannot be read; not resuming it', {
      key: last.key,
      error: describeError(err),
    });
    return undefined;
  }
  if (segment === undefined) return undefined;
  const end = last.offset + segment.raw.length;
  const local = readRange(walPath, last.offset, segment.raw.length);
  if (local === undefined || !local.bytes.equals(segment.raw)) return undefined;
  const header = local.header;
  if (header.salt1 !== segment.facts.salt1 || header.salt2 !== segment.facts.salt2) return undefined;
  logger.info('resuming generation', { generation: generation.id, index: last.index, offset: end });
  return {
    cursor: {
      generation: generation.id,
      index: last.index,
      position: { header, offset: end, checksum: segment.facts.endChecksum },
      startedAtMs: last.readAtMs,
    },
    lastSnapshotMs: lastSnapshot.takenAtMs,
  };
}

function readRange(
  walPath: string,
  offset: number,
  length: number,
): { header: WalHeader; bytes: Buffer } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(walPath, 'r');
  } catch {
    return undefined;
  }
  try {
    const head = Buffer.alloc(WAL_HEADER_BYTES);
    if (fs.readSync(fd, head, 0, WAL_HEADER_BYTES, 0) !== WAL_HEADER_BYTES) return undefined;
    const header = parseWalHeader(head);
    if (!isWalHeader(header)) return undefined;
    const bytes = Buffer.alloc(length);
    if (fs.readSync(fd, bytes, 0, length, offset) !== length) return undefined;
    return { header, bytes };
  } finally {
    fs.closeSync(fd);
  }
}
