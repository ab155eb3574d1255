/**
 * The bytes of one replica object (a snapshot or a WAL segment): self-describing and checksummed,
 * so any backend (a directory, S3) stores it as an opaque blob and a corrupted, truncated or
 * misplaced object is detected when read, never applied.
 *
 *     magic (8 bytes: "TWOPCSEG" or "TWOPCSNP") | u32 BE header length | header (JSON) | gzip(raw)
 *
 * The header repeats the object's name fields (generation, index, offset) and holds the raw
 * length and sha256; `decodeObject` checks all of them against what the caller expected.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { assert } from '../../common/assert.ts';
import { describeError, TwopcError } from '../../common/errors.ts';

export const OBJECT_KINDS = ['segment', 'snapshot'] as const;
export type ObjectKind = (typeof OBJECT_KINDS)[number];

const MAGIC: Readonly<Record<ObjectKind, string>> = { segment: 'TWOPCSEG', snapshot: 'TWOPCSNP' };
export const OBJECT_FORMAT_VERSION = 1;
/** gzip level: WAL pages compress well even at 1, and level 1 is several times faster than 6. */
export const COMPRESSION_LEVEL = 1;
/** A header is a few hundred bytes; anything larger is corruption. */
const headerBytesMax = 64 * 1024;
/** Largest raw object (a snapshot of the database) this build will decompress: 64 GiB. */
export const RAW_BYTES_MAX = 64 * 2 ** 30;

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

export interface ObjectHeader {
  readonly format: number;
  readonly kind: ObjectKind;
  readonly shard: string;
  readonly generation: string;
  readonly index: number;
  /** Segments: WAL offset of the first byte. Snapshots: 0. */
  readonly offset: number;
  /** Segments: when the frames were read from the WAL. Snapshots: when the database was frozen. */
  readonly timeMs: number;
  readonly rawBytes: number;
  readonly rawSha256: string;
  readonly pageBytes: number;
  /** Kind-specific facts (WAL salts and checksums of a segment, …). */
  readonly extra: Readonly<Record<string, unknown>>;
}

export type ObjectIdentity = Pick<
  ObjectHeader,
  'kind' | 'shard' | 'generation' | 'index' | 'offset' | 'timeMs'
>;

export class CorruptObjectError extends TwopcError {
  override name = 'CorruptObjectError';
  readonly key: string;
  /**
   * The bytes are a prefix of a well-formed object: they end inside the magic, the header or the
   * compressed body, and nothing read so far is wrong. What an upload cut short leaves on a store
   * that does not write objects atomically (s3rver does not; S3, MinIO and file:// do) — or a file
   * truncated by damage: only the reader's context can tell (see restore.ts).
   */
  readonly truncated: boolean;
  constructor(key: string, reason: string, options: { readonly truncated?: boolean } = {}) {
    super('FAILED_PRECONDITION', `replica object ${key} is corrupt: ${reason}`, {
      hint: "run 'npx twopc shard replica verify' to list every damaged object; restore to an earlier point (--at) or another generation",
    });
    this.key = key;
    this.truncated = options.truncated ?? false;
  }
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function encodeObject(
  identity: ObjectIdentity,
  pageBytes: number,
  raw: Buffer,
  extra: Readonly<Record<string, unknown>> = {},
): Promise<Buffer> {
  assert(raw.length <= RAW_BYTES_MAX, `object of ${raw.length} bytes is within RAW_BYTES_MAX`);
  const header: ObjectHeader = {
    format: OBJECT_FORMAT_VERSION,
    ...identity,
    rawBytes: raw.length,
    rawSha256: sha256(raw),
    pageBytes,
    extra,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(12);
  prefix.write(MAGIC[identity.kind], 0, 'latin1');
  prefix.writeUInt32BE(json.length, 8);
  const body = await gzip(raw, { level: COMPRESSION_LEVEL });
  return Buffer.concat([prefix, json, body]);
}

/** Decodes and checks one object; any mismatch with `expected` or with its own checksum throws CorruptObjectError. */
export async function decodeObject(
  key: string,
  bytes: Buffer,
  expected: ObjectIdentity,
): Promise<{ readonly header: ObjectHeader; readonly raw: Buffer }> {
  const header = decodeHeader(key, bytes, expected.kind);
  for (const field of ['kind', 'shard', 'generation', 'index', 'offset', 'timeMs'] as const) {
    if (header[field] !== expected[field])
      throw new CorruptObjectError(
        key,
        `its ${field} is ${String(header[field])}, its name says ${String(expected[field])}`,
      );
  }
  let raw: Buffer;
  try {
    raw = await gunzip(bytes.subarray(12 + bytes.readUInt32BE(8)), {
      maxOutputLength: Math.max(1, header.rawBytes),
    });
  } catch (err) {
    // zlib's "unexpected end of file": the compressed stream stops early, everything before it inflated.
    const truncated = (err as NodeJS.ErrnoException).code === 'Z_BUF_ERROR';
    throw new CorruptObjectError(key, `cannot decompress: ${describeError(err)}`, { truncated });
  }
  if (raw.length !== header.rawBytes)
    throw new CorruptObjectError(
      key,
      `${raw.length} bytes after decompression, header says ${header.rawBytes}`,
    );
  if (sha256(raw) !== header.rawSha256) throw new CorruptObjectError(key, 'sha256 mismatch');
  return { header, raw };
}

function decodeHeader(key: string, bytes: Buffer, kind: ObjectKind): ObjectHeader {
  if (bytes.length < 12) {
    const truncated = MAGIC[kind].startsWith(bytes.toString('latin1', 0, Math.min(8, bytes.length)));
    throw new CorruptObjectError(
      key,
      `only ${bytes.length} bytes, ${truncated ? 'ends inside its prefix' : `not a twopc ${kind} (bad magic)`}`,
      {
        truncated,
      },
    );
  }
  if (bytes.toString('latin1', 0, 8) !== MAGIC[kind])
    throw new CorruptObjectError(key, `not a twopc ${kind} (bad magic)`);
  const length = bytes.readUInt32BE(8);
  if (length > headerBytesMax) throw new CorruptObjectError(key, `bad header length ${length}`);
  if (12 + length > bytes.length)
    throw new CorruptObjectError(key, `ends inside its ${length}-byte header (${bytes.length} bytes)`, {
      truncated: true,
    });
  let header: ObjectHeader;
  try {
    header = JSON.parse(bytes.toString('utf8', 12, 12 + length)) as ObjectHeader;
  } catch {
    throw new CorruptObjectError(key, 'header is not JSON');
  }
  if (header === null || typeof header !== 'object' || header.format !== OBJECT_FORMAT_VERSION)
    throw new CorruptObjectError(
      key,
      `unknown format ${String((header as { format?: unknown } | null)?.format)}`,
    );
  const numbers = [header.index, header.offset, header.timeMs, header.rawBytes, header.pageBytes];
  if (!numbers.every((n) => Number.isSafeInteger(n) && n >= 0) || header.rawBytes > RAW_BYTES_MAX)
    throw new CorruptObjectError(key, 'header fields out of range');
  if (typeof header.rawSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(header.rawSha256))
    throw new CorruptObjectError(key, 'header has no sha256');
  return header;
}
