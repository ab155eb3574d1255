/**
 * Applies checked WAL frames to a database file directly, as SQLite's checkpoint would: the last
 * version of each page, written in place, then the file cut to the size the last commit recorded.
 * A restore used to write each incarnation's WAL beside the file and let SQLite recover and
 * checkpoint it — every frame written twice and read and checksummed again. The frames reaching
 * here were already checked exactly as SQLite's recovery checks them (incarnation-check.ts), and the
 * result still goes through `PRAGMA integrity_check` before it is used.
 *
 * Only whole segments are added, and every segment ends on a commit frame, so whatever is written
 * is a committed state. Pages wait in memory (one buffer per page, reused when a later frame
 * rewrites it) up to `pageBufferBytesMax`, then are written in page order.
 */
import fs from 'node:fs';
import { assert } from '../../common/assert.ts';
import { WAL_FRAME_HEADER_BYTES, WAL_HEADER_BYTES } from '../wal/wal-format.ts';

/**
 * Distinct pages held before writing them out: bounds memory for huge databases while letting the
 * pages a WAL rewrites over and over (the b-tree's hot leaves and roots) be written once.
 */
export const pageBufferBytesMax = 64 * 2 ** 20;

export class PageWriter {
  private readonly fd: number;
  private readonly pageBytes: number;
  private readonly bufferBytesMax: number;
  private readonly pages = new Map<number, Buffer>();
  /** Database size in pages after the last commit frame added; 0 = none yet. */
  private dbPages = 0;

  constructor(file: string, pageBytes: number, bufferBytesMax = pageBufferBytesMax) {
    this.fd = fs.openSync(file, 'r+');
    this.pageBytes = pageBytes;
    this.bufferBytesMax = bufferBytesMax;
  }

  /** A checked segment's raw bytes; `offset` 0 means it starts with the 32-byte WAL header. */
  add(raw: Buffer, offset: number): void {
    const frameBytes = WAL_FRAME_HEADER_BYTES + this.pageBytes;
    const start = offset === 0 ? WAL_HEADER_BYTES : 0;
    assert((raw.length - start) % frameBytes === 0, 'a checked segment holds whole frames');
    for (let at = start; at < raw.length; at += frameBytes) {
      const pageNo = raw.readUInt32BE(at);
      const dbPagesAfterCommit = raw.readUInt32BE(at + 4);
      let page = this.pages.get(pageNo);
      if (page === undefined) {
        page = Buffer.allocUnsafe(this.pageBytes);
        this.pages.set(pageNo, page);
      }
      raw.copy(page, 0, at + WAL_FRAME_HEADER_BYTES, at + frameBytes);
      if (dbPagesAfterCommit !== 0) this.dbPages = dbPagesAfterCommit;
    }
    if (this.pages.size * this.pageBytes >= this.bufferBytesMax) this.flush();
  }

  /** Writes what is held, sizes the file as the last commit says, and closes it (synced). */
  finish(): void {
    try {
      assert(this.dbPages > 0, 'an applied WAL incarnation ends with a commit frame');
      this.flush();
      fs.ftruncateSync(this.fd, this.dbPages * this.pageBytes);
      fs.fsyncSync(this.fd);
    } finally {
      fs.closeSync(this.fd);
    }
  }

  /** Closes without finishing (the restore failed; its file is thrown away). */
  abandon(): void {
    fs.closeSync(this.fd);
  }

  private flush(): void {
    const order = [...this.pages.keys()].sort((a, b) => a - b);
    for (const pageNo of order) {
      const page = this.pages.get(pageNo) as Buffer;
      fs.writeSync(this.fd, page, 0, this.pageBytes, (pageNo - 1) * this.pageBytes);
    }
    this.pages.clear();
  }
}
