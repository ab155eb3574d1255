/**
 * Reads new committed frames from a live `-wal` file, validating them the way SQLite's recovery
 * does (salts and the cumulative checksum chain), and stops at the last valid commit frame: what it
 * returns always ends on a transaction boundary, so any prefix of what is shipped is a consistent
 * database. It never interprets a change of the WAL (new salts, a shorter file): it reports it,
 * and the shipper decides (see wal-shipper.ts: a change it did not cause starts a new generation).
 */
import fs from 'node:fs';
import { assert } from '../../common/assert.ts';
import {
  checkFrame,
  frameBytes,
  isWalHeader,
  parseWalHeader,
  sameSalts,
  WAL_HEADER_BYTES,
  type WalChecksum,
  type WalHeader,
} from './wal-format.ts';

/** A point in one WAL incarnation just after a commit frame (or just after the header). */
export interface WalPosition {
  readonly header: WalHeader;
  /** Byte offset in the WAL file of the next frame. */
  readonly offset: number;
  /** The chain's cumulative checksum up to `offset`. */
  readonly checksum: WalChecksum;
}

export function startOf(header: WalHeader): WalPosition {
  return { header, offset: WAL_HEADER_BYTES, checksum: header.checksum };
}

export interface FrameScan {
  /** Bytes from the start of the scanned data to the end of the last valid commit frame. */
  readonly committedBytes: number;
  readonly committedChecksum: WalChecksum;
  readonly committedFrames: number;
  readonly commits: number;
  /** Database size in pages after the last commit seen (0 if none). */
  readonly dbPages: number;
  /** Bytes up to the end of the last valid frame, committed or not (a transaction being written). */
  readonly validBytes: number;
  /**
   * Why the scan stopped: the data ended (`end`), an invalid frame (stale frames of an older
   * incarnation, a torn write, corruption), a partial frame at the end, or `committedBytesMax`.
   */
  readonly stop: 'end' | 'invalid-frame' | 'partial-frame' | 'limit';
}

/**
 * Scans frames in `data` (which starts at a frame boundary) from checksum `start`. With
 * `committedBytesMax` it stops at the last commit boundary within that many bytes, or at the first
 * one if a single transaction is larger: a segment always holds whole transactions.
 */
export function scanFrames(
  header: WalHeader,
  data: Uint8Array,
  start: WalChecksum,
  committedBytesMax = Number.POSITIVE_INFINITY,
): FrameScan {
  const size = frameBytes(header);
  let chain = start;
  let committed = { bytes: 0, checksum: start, frames: 0 };
  let commits = 0;
  let dbPages = 0;
  let frames = 0;
  let pos = 0;
  for (; pos + size <= data.length; pos += size) {
    if (pos + size > committedBytesMax && committed.bytes > 0) return result('limit');
    const checked = checkFrame(header, data.subarray(pos, pos + size), chain);
    if (checked === undefined) return result('invalid-frame');
    chain = checked.checksum;
    frames++;
    if (checked.frame.dbPagesAfterCommit !== 0) {
      committed = { bytes: pos + size, checksum: chain, frames };
      commits++;
      dbPages = checked.frame.dbPagesAfterCommit;
    }
  }
  return result(pos === data.length ? 'end' : 'partial-frame');

  function result(stop: FrameScan['stop']): FrameScan {
    return {
      committedBytes: committed.bytes,
      committedChecksum: committed.checksum,
      committedFrames: committed.frames,
      commits,
      dbPages,
      validBytes: pos,
      stop,
    };
  }
}

export type WalRead =
  /** No usable WAL: missing, shorter than a header, or a header SQLite would ignore. */
  | { readonly kind: 'no-wal'; readonly reason: string; readonly fileBytes: number }
  /** The file's header is not the one `from` was read under: the WAL was restarted. */
  | { readonly kind: 'restarted'; readonly header: WalHeader; readonly fileBytes: number }
  /** Same header, but the file is shorter than `from`: it was truncated and rewritten. */
  | { readonly kind: 'shrunk'; readonly fileBytes: number }
  | WalFrames;

export interface WalFrames {
  readonly kind: 'frames';
  readonly header: WalHeader;
  /** Offset in the WAL file of `bytes[0]`: 0 when reading a new incarnation (bytes include the header). */
  readonly offset: number;
  /** Raw WAL bytes from `offset` to `end.offset`: whole transactions only (possibly none). */
  readonly bytes: Buffer;
  readonly end: WalPosition;
  readonly frames: number;
  readonly commits: number;
  readonly dbPages: number;
  /**
   * True if no committed frame is left after `end` in the file right now (the read was not cut by
   * the byte limit). Valid frames of a transaction still being written may follow (`uncommittedBytes`).
   */
  readonly caughtUp: boolean;
  readonly uncommittedBytes: number;
  readonly fileBytes: number;
}

/**
 * Reads the committed frames after `from` (or, without `from`, the whole incarnation from its
 * header), at most about `bytesMax` bytes but always whole transactions. Synchronous on purpose: in
 * the participant process nothing can write the WAL while it runs, so "caught up" is exact.
 */
export function readWal(path: string, from: WalPosition | undefined, bytesMax: number): WalRead {
  assert(bytesMax > 0, 'bytesMax > 0');
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      return { kind: 'no-wal', reason: 'no WAL file', fileBytes: 0 };
    throw err;
  }
  try {
    return readOpen(fd, from, bytesMax);
  } finally {
    fs.closeSync(fd);
  }
}

function readOpen(fd: number, from: WalPosition | undefined, bytesMax: number): WalRead {
  const fileBytes = fs.fstatSync(fd).size;
  const head = readAt(fd, 0, Math.min(fileBytes, WAL_HEADER_BYTES));
  const header = parseWalHeader(head);
  if (!isWalHeader(header)) return { kind: 'no-wal', reason: header.invalid, fileBytes };
  if (from !== undefined && !sameSalts(from.header, header)) return { kind: 'restarted', header, fileBytes };
  if (from !== undefined && fileBytes < from.offset) return { kind: 'shrunk', fileBytes };
  const position = from ?? startOf(header);
  const size = frameBytes(header);
  assert((position.offset - WAL_HEADER_BYTES) % size === 0, 'a WAL position is on a frame boundary');
  const available = Math.floor((fileBytes - position.offset) / size) * size;
  let window = Math.min(available, Math.max(size, Math.floor(bytesMax / size) * size));
  for (;;) {
    const data = readAt(fd, position.offset, window);
    const scan = scanFrames(header, data, position.checksum, bytesMax);
    const grow = scan.commits === 0 && scan.stop === 'end' && window < available;
    if (grow) {
      // One transaction larger than bytesMax: read on until its commit frame.
      window = Math.min(available, window * 2);
      continue;
    }
    const cutByWindow = scan.stop === 'limit' || (scan.stop === 'end' && window < available);
    const body = data.subarray(0, scan.committedBytes);
    const bytes = from === undefined ? Buffer.concat([head, body]) : Buffer.from(body);
    return {
      kind: 'frames',
      header,
      offset: from === undefined ? 0 : position.offset,
      bytes,
      end: { header, offset: position.offset + scan.committedBytes, checksum: scan.committedChecksum },
      frames: scan.committedFrames,
      commits: scan.commits,
      dbPages: scan.dbPages,
      caughtUp: !cutByWindow,
      uncommittedBytes: scan.validBytes - scan.committedBytes,
      fileBytes,
    };
  }
}

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}
