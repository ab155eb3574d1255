/**
 * The page writer against SQLite itself: the same WAL (inserts, updates, deletes, then a VACUUM that
 * shrinks the file) applied to the same base file by PageWriter and by SQLite's own recovery and
 * checkpoint must give byte-identical files.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom, seedFromEnv } from '../../common/random.ts';
import { commitEnds } from '../../participant/restore/decision-cut.ts';
import { PageWriter } from '../../participant/restore/page-writer.ts';
import { tempDir } from './helpers.ts';

let dir: string;
beforeAll(() => {
  dir = tempDir('twopc-pages-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

describe('PageWriter', () => {
  it('writes what a SQLite checkpoint writes, including a file that shrinks', () => {
    const seed = seedFromEnv();
    const rnd = seededRandom(seed);
    const src = path.join(dir, 'src.db');
    const db = new Database(src);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)');
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    for (let k = 1; k <= 500; k++) insert.run(k, 'x'.repeat(rnd.int(10, 900)));
    db.pragma('wal_checkpoint(TRUNCATE)');
    const base = path.join(dir, 'base.db');
    fs.copyFileSync(src, base);
    // The WAL after the base: many versions of the same pages, then a VACUUM that shrinks the file.
    for (let round = 0; round < 20; round++) {
      db.transaction(() => {
        for (let i = 0; i < 50; i++) insert.run(1_000 + round * 50 + i, 'y'.repeat(rnd.int(10, 2_000)));
        db.prepare('UPDATE t SET v = ? WHERE k = ?').run('z'.repeat(rnd.int(1, 500)), rnd.int(1, 500));
      })();
    }
    db.exec('DELETE FROM t WHERE k % 10 != 0');
    db.exec('VACUUM');
    const wal = fs.readFileSync(`${src}-wal`);

    const byPages = path.join(dir, 'pages.db');
    fs.copyFileSync(base, byPages);
    const writer = new PageWriter(byPages, 4096);
    writer.add(wal, 0);
    writer.finish();
    // The same WAL in segments cut at commit frames, with a buffer so small it is written out often.
    const bySegments = path.join(dir, 'segments.db');
    fs.copyFileSync(base, bySegments);
    const small = new PageWriter(bySegments, 4096, 3 * 4096);
    let from = 0;
    for (const end of commitEnds(wal)) {
      small.add(wal.subarray(from, end), from);
      from = end;
    }
    small.finish();

    const bySqlite = path.join(dir, 'sqlite.db');
    fs.copyFileSync(base, bySqlite);
    fs.writeFileSync(`${bySqlite}-wal`, wal);
    const checkpointed = new Database(bySqlite);
    checkpointed.pragma('wal_checkpoint(TRUNCATE)');
    checkpointed.close();
    db.close();

    expect(fs.statSync(byPages).size, `seed ${seed}`).toBe(fs.statSync(bySqlite).size);
    expect(fs.statSync(byPages).size).toBeLessThan(fs.statSync(base).size); // the VACUUM shrank it
    expect(sha256(byPages), `seed ${seed}`).toBe(sha256(bySqlite));
    expect(sha256(bySegments), `seed ${seed}`).toBe(sha256(bySqlite));
  });
});
