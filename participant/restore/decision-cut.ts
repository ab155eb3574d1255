/**
 * Restoring one shard to a decision-log cut (`--decision-seq N`): the longest prefix of the shard's
 * history in which no transaction is COMMITTED with a decision_seq greater than N.
 *
 * Why that prefix holds every transaction decided at or before N, prepared or committed: the
 * coordinator hands out decision_seqs in the order it makes decisions, after every YES vote and
 * before anyone hears the decision. So for a transaction A with seq ≤ N on this shard, A's prepare
 * (a local commit) came before A's decision, which came before the decision of any B with seq > N,
 * which came before B's local commit here. The prefix ends just before the first such local commit,
 * so it holds A — COMMITTED if its Commit arrived first, else PREPARED (the cluster restore then
 * commits it; see coordinator/recovery/cluster-cut.ts). One-phase transactions (decision_seq 0) have
 * no seq: the prefix holds those that committed here before the cut point.
 *
 * The predicate "some row is COMMITTED with decision_seq > N" is monotone along the WAL (a COMMITTED
 * row never changes again), so the cut is found by bisecting the commit frames of the one WAL
 * incarnation where it turns true, each probe a read-only SQLite open of the file with a prefix of
 * that WAL beside it (a read-only connection never checkpoints: the base file is not touched).
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { assert } from '../../common/assert.ts';
import {
  isWalHeader,
  parseFrameHeader,
  parseWalHeader,
  WAL_FRAME_HEADER_BYTES,
  WAL_HEADER_BYTES,
} from '../wal/wal-format.ts';

/** A WAL prefix: its length in bytes (header included) and the frames in it. */
export interface WalPrefix {
  readonly bytes: number;
  readonly frames: number;
}

const PAST_CUT = `SELECT 1 AS past FROM _twopc_txns WHERE state = 'COMMITTED' AND decision_seq > ? LIMIT 1`;
const MAX_SEQ = `SELECT coalesce(max(decision_seq), 0) AS seq FROM _twopc_txns WHERE state = 'COMMITTED'`;

/**
 * True if the database at `dbPath` (with the -wal beside it, if any) holds a transaction COMMITTED
 * with decision_seq > `seq`. Read-only.
 */
export function committedPast(dbPath: string, seq: bigint): boolean {
  return withReader(dbPath, (db) => {
    if (!hasTxnTable(db)) return false;
    return db.prepare(PAST_CUT).get(seq) !== undefined;
  });
}

/** The highest decision_seq COMMITTED in the file (0 if none). Read-only. */
export function maxCommittedSeq(dbPath: string): bigint {
  return withReader(dbPath, (db) => {
    if (!hasTxnTable(db)) return 0n;
    return (db.prepare(MAX_SEQ).get() as { seq: bigint }).seq;
  });
}

/**
 * With a whole, checked WAL incarnation written beside `dbPath`: undefined if applying all of it
 * stays within the cut; otherwise rewrites the -wal to the longest commit-frame prefix that does and
 * returns it (possibly no frame at all: the cut falls before this incarnation's first commit).
 */
export function cutWal(dbPath: string, seq: bigint): WalPrefix | undefined {
  const walPath = `${dbPath}-wal`;
  fs.rmSync(`${dbPath}-shm`, { force: true });
  if (!committedPast(dbPath, seq)) return undefined;
  const wal = fs.readFileSync(walPath);
  const ends = commitEnds(wal);
  const frameLength = frameBytesOf(wal);
  // Invariant: the prefix ending at ends[lo - 1] (lo = 0: no frame) is within the cut; ends[hi] is past it.
  let lo = 0;
  let hi = ends.length - 1;
  assert(hi >= 0, 'a WAL past the cut has a commit frame');
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    writePrefix(walPath, wal, ends[mid] as number);
    if (committedPast(dbPath, seq)) hi = mid;
    else lo = mid + 1;
  }
  const bytes = lo === 0 ? WAL_HEADER_BYTES : (ends[lo - 1] as number);
  writePrefix(walPath, wal, bytes);
  return { bytes, frames: (bytes - WAL_HEADER_BYTES) / frameLength };
}

/** The byte offset just after each commit frame of a checked WAL, in order. */
export function commitEnds(wal: Buffer): number[] {
  const frameLength = frameBytesOf(wal);
  const ends: number[] = [];
  for (let at = WAL_HEADER_BYTES; at + frameLength <= wal.length; at += frameLength) {
    const frame = parseFrameHeader(wal.subarray(at, at + WAL_FRAME_HEADER_BYTES));
    if (frame.dbPagesAfterCommit !== 0) ends.push(at + frameLength);
  }
  return ends;
}

function frameBytesOf(wal: Buffer): number {
  const header = parseWalHeader(wal.subarray(0, WAL_HEADER_BYTES));
  assert(isWalHeader(header), 'the WAL beside a file being restored was checked');
  return WAL_FRAME_HEADER_BYTES + header.pageBytes;
}

function writePrefix(walPath: string, wal: Buffer, bytes: number): void {
  fs.writeFileSync(walPath, wal.subarray(0, bytes));
  // The wal-index describes the old WAL: SQLite must rebuild it from the file.
  fs.rmSync(`${walPath.slice(0, -'-wal'.length)}-shm`, { force: true });
}

function withReader<T>(dbPath: string, read: (db: Database.Database) => T): T {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    db.defaultSafeIntegers(true);
    return read(db);
  } finally {
    db.close();
  }
}

function hasTxnTable(db: Database.Database): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_schema WHERE name = '_twopc_txns'`).get() !== undefined;
}
