/**
 * Checks the segments of one WAL incarnation as they arrive, before a byte of them is written: they
 * must follow each other without a gap, start with a valid WAL header, carry the header's salts,
 * consist only of frames that continue the checksum chain, and each end exactly on a commit frame
 * with the checksum its header recorded. SQLite's own recovery would silently stop at the first bad
 * frame; this makes any damage an error instead.
 */
import { CorruptObjectError } from '../replica/replica-object.ts';
import type { Segment } from '../replica/shard-replica.ts';
import {
  isWalHeader,
  parseWalHeader,
  WAL_HEADER_BYTES,
  type WalChecksum,
  type WalHeader,
} from '../wal/wal-format.ts';
import { scanFrames } from '../wal/wal-reader.ts';
import { missing } from './restore-plan.ts';

export class IncarnationCheck {
  private readonly shard: string;
  private readonly index: number;
  private header: WalHeader | undefined;
  private offset = 0;
  private checksum: WalChecksum = [0, 0];
  private frameCount = 0;

  constructor(shard: string, index: number) {
    this.shard = shard;
    this.index = index;
  }

  get frames(): number {
    return this.frameCount;
  }

  get bytes(): number {
    return this.offset;
  }

  /** Throws CorruptObjectError (damaged content) or FAILED_PRECONDITION (a gap). */
  push(key: string, segment: Segment): void {
    const { ref, raw, facts } = segment;
    if (ref.offset !== this.offset)
      throw missing(
        this.shard,
        ref.generation,
        `WAL index ${this.index} jumps from offset ${this.offset} to ${ref.offset}`,
      );
    let body = raw;
    if (this.header === undefined) {
      const header = parseWalHeader(raw.subarray(0, WAL_HEADER_BYTES));
      if (!isWalHeader(header)) throw new CorruptObjectError(key, `bad WAL header: ${header.invalid}`);
      this.header = header;
      this.checksum = header.checksum;
      body = raw.subarray(WAL_HEADER_BYTES);
    }
    const header = this.header;
    if (
      header.salt1 !== facts.salt1 ||
      header.salt2 !== facts.salt2 ||
      header.pageBytes !== segment.pageBytes
    )
      throw new CorruptObjectError(key, 'its salts or page size differ from its WAL header');
    const scan = scanFrames(header, body, this.checksum);
    if (scan.committedBytes !== body.length)
      throw new CorruptObjectError(
        key,
        `only ${scan.committedBytes} of ${body.length} WAL bytes are valid committed frames (${scan.stop})`,
      );
    if (
      scan.committedChecksum[0] !== facts.endChecksum[0] ||
      scan.committedChecksum[1] !== facts.endChecksum[1]
    )
      throw new CorruptObjectError(key, 'its checksum chain does not end where its header says');
    this.checksum = scan.committedChecksum;
    this.frameCount += scan.committedFrames;
    this.offset += raw.length;
  }
}
