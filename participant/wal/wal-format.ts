/**
 * The SQLite WAL file format (https://sqlite.org/fileformat2.html#walformat), read-only.
 *
 * A WAL file is a 32-byte header followed by frames; a frame is a 24-byte header and one page.
 * Every integer is a big-endian u32. The header's magic says in which byte order the *checksums*
 * read the data (0x377f0682: little-endian words, 0x377f0683: big-endian words). Each frame carries
 * the cumulative checksum of the header's first 24 bytes and of every frame's first 8 header bytes
 * and page up to and including itself, plus the header's two salts: a frame is valid only if its
 * salts match the header and its checksum continues the chain. A frame whose "database size after
 * commit" is nonzero ends a transaction (a commit frame); frames after the last valid commit frame
 * are not part of the database.
 */
import { assert } from '../../common/assert.ts';

export const WAL_HEADER_BYTES = 32;
export const WAL_FRAME_HEADER_BYTES = 24;
export const WAL_MAGIC_LE = 0x377f0682;
export const WAL_MAGIC_BE = 0x377f0683;
export const WAL_FORMAT_VERSION = 3007000;
const pageBytesMin = 512;
const pageBytesMax = 65_536;

/** A cumulative checksum: the two 32-bit sums, unsigned. */
export type WalChecksum = readonly [number, number];

export interface WalHeader {
  /** Checksums read 32-bit words big-endian (magic 0x377f0683) or little-endian (0x377f0682). */
  readonly bigEndianChecksum: boolean;
  readonly pageBytes: number;
  readonly checkpointSeq: number;
  readonly salt1: number;
  readonly salt2: number;
  /** The checksum of the header's first 24 bytes: the chain's starting point. */
  readonly checksum: WalChecksum;
}

export interface WalFrameHeader {
  readonly pageNo: number;
  /** Database size in pages after this commit; 0 for a frame that does not end a transaction. */
  readonly dbPagesAfterCommit: number;
  readonly salt1: number;
  readonly salt2: number;
  readonly checksum: WalChecksum;
}

export function frameBytes(header: WalHeader): number {
  return WAL_FRAME_HEADER_BYTES + header.pageBytes;
}

/**
 * Continues the checksum chain over `data` (a multiple of 8 bytes). Hot path: every shipped and
 * every restored byte goes through it, so it is a plain loop over 32-bit words with int32 math.
 */
export function walChecksum(data: Uint8Array, bigEndian: boolean, start: WalChecksum): [number, number] {
  assert(data.length % 8 === 0, `checksummed data is a multiple of 8 bytes (got ${data.length})`);
  if (!bigEndian && HOST_LITTLE_ENDIAN && data.byteOffset % 4 === 0) {
    return checksumWords(new Uint32Array(data.buffer, data.byteOffset, data.length / 4), start);
  }
  let s0 = start[0] | 0;
  let s1 = start[1] | 0;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const le = !bigEndian;
  for (let i = 0; i < data.length; i += 8) {
    s0 = (s0 + view.getUint32(i, le) + s1) | 0;
    s1 = (s1 + view.getUint32(i + 4, le) + s0) | 0;
  }
  return [s0 >>> 0, s1 >>> 0];
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The fast path: words already in host order (little-endian data on a little-endian host). */
function checksumWords(words: Uint32Array, start: WalChecksum): [number, number] {
  let s0 = start[0] | 0;
  let s1 = start[1] | 0;
  for (let i = 0; i < words.length; i += 2) {
    s0 = (s0 + (words[i] as number) + s1) | 0;
    s1 = (s1 + (words[i + 1] as number) + s0) | 0;
  }
  return [s0 >>> 0, s1 >>> 0];
}

/** The header, or a reason why these 32 bytes are not a valid WAL header (SQLite then ignores the file). */
export function parseWalHeader(bytes: Uint8Array): WalHeader | { readonly invalid: string } {
  if (bytes.length < WAL_HEADER_BYTES) return { invalid: `${bytes.length} bytes, shorter than a WAL header` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, WAL_HEADER_BYTES);
  const magic = view.getUint32(0);
  if (magic !== WAL_MAGIC_LE && magic !== WAL_MAGIC_BE)
    return { invalid: `bad magic 0x${magic.toString(16)}` };
  const version = view.getUint32(4);
  if (version !== WAL_FORMAT_VERSION) return { invalid: `unknown WAL format version ${version}` };
  const pageBytes = view.getUint32(8);
  if (pageBytes < pageBytesMin || pageBytes > pageBytesMax || (pageBytes & (pageBytes - 1)) !== 0)
    return { invalid: `bad page size ${pageBytes}` };
  const bigEndianChecksum = magic === WAL_MAGIC_BE;
  const checksum = walChecksum(bytes.subarray(0, 24), bigEndianChecksum, [0, 0]);
  if (checksum[0] !== view.getUint32(24) || checksum[1] !== view.getUint32(28))
    return { invalid: 'header checksum mismatch' };
  return {
    bigEndianChecksum,
    pageBytes,
    checkpointSeq: view.getUint32(12),
    salt1: view.getUint32(16),
    salt2: view.getUint32(20),
    checksum,
  };
}

export function isWalHeader(h: WalHeader | { readonly invalid: string }): h is WalHeader {
  return !('invalid' in h);
}

export function parseFrameHeader(bytes: Uint8Array): WalFrameHeader {
  assert(bytes.length >= WAL_FRAME_HEADER_BYTES, 'a frame header is 24 bytes');
  const view = new DataView(bytes.buffer, bytes.byteOffset, WAL_FRAME_HEADER_BYTES);
  return {
    pageNo: view.getUint32(0),
    dbPagesAfterCommit: view.getUint32(4),
    salt1: view.getUint32(8),
    salt2: view.getUint32(12),
    checksum: [view.getUint32(16), view.getUint32(20)],
  };
}

/**
 * Checks one frame (`frame` = frame header + page) against the header and the chain so far, as
 * SQLite's recovery does. Returns the checksum after it, or undefined if the frame is not valid.
 */
export function checkFrame(
  header: WalHeader,
  frame: Uint8Array,
  previous: WalChecksum,
): { readonly checksum: WalChecksum; readonly frame: WalFrameHeader } | undefined {
  assert(frame.length === frameBytes(header), 'checkFrame gets exactly one frame');
  const fh = parseFrameHeader(frame);
  if (fh.salt1 !== header.salt1 || fh.salt2 !== header.salt2 || fh.pageNo === 0) return undefined;
  const afterHeader = walChecksum(frame.subarray(0, 8), header.bigEndianChecksum, previous);
  const checksum = walChecksum(frame.subarray(WAL_FRAME_HEADER_BYTES), header.bigEndianChecksum, afterHeader);
  if (checksum[0] !== fh.checksum[0] || checksum[1] !== fh.checksum[1]) return undefined;
  return { checksum, frame: fh };
}

export function sameSalts(a: WalHeader, b: WalHeader): boolean {
  return a.salt1 === b.salt1 && a.salt2 === b.salt2;
}
