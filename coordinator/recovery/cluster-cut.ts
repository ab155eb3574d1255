/**
 * A cluster restore to the cut at decision_seq N, after every shard file has been restored to its
 * own cut (participant/restore/decision-cut.ts): proves the cut is covered, settles what the cut left
 * prepared, checks the result is consistent, and writes the decision log the cluster starts with
 * (cut-log.ts). Every restored transaction then is on all its shards or on none, and nothing is left
 * in doubt.
 *
 * Settling a transaction a shard holds PREPARED:
 * - COMMIT (with its seq) if the log holds its COMMIT at a seq <= N, or another restored shard holds
 *   it COMMITTED (the log may have collected it: an ENDed commit goes after `decisionRetentionMs`);
 * - ABORT otherwise: a COMMIT above N, an abort, or no decision at all (presumed abort: it was never
 *   decided at or below N, so the cut excludes it).
 *
 * Coverage: a shard whose replica holds a commit past the cut provably holds every transaction of the
 * cut (decision-cut.ts). A shard whose replica ended first holds everything it shipped; that covers
 * the cut if it shipped at or after seq N was decided (the log's decision time of N, or of the next
 * seq it still holds), or if no decision at or below N made after its last shipped read (less
 * `coverageClockMarginMs`) names it — an idle shard — provided the log still holds every seq in that
 * range. Participant and coordinator clocks are compared, so they must agree to well under the
 * shipping interval (NTP does).
 */
import Database from 'better-sqlite3';
import { TwopcError } from '../../common/errors.ts';
import type { DecisionMessage } from '../../common/protocol.ts';
import { resolvedEpoch } from '../../participant/epoch-fence.ts';
import type { CutLog, CutLogSummary } from './cut-log.ts';
import { OfflineShard } from './offline-shard.ts';

/**
 * The newest COMMITs (at or below the cut) and the newest committed rows per shard that the
 * consistency check reads: the cut's neighbourhood, where a fault would show, without reading a
 * week of history.
 */
export const cutCheckRecordsMax = 10_000;

/**
 * How far the decision times of the log and the shipper's read times may disagree (their clocks, and
 * a COMMIT's time being taken just before its seq): decisions this close to a shard's last read
 * count as possibly after it.
 */
export const coverageClockMarginMs = 1_000;

export interface RestoredShard {
  readonly shard: string;
  readonly file: string;
  /** The shard's replica holds a commit past the cut (decision-cut.ts). */
  readonly reached: boolean;
  /** The last shipper read the restore applied. */
  readonly asOfMs: number;
}

export interface ShardSettlement {
  readonly shard: string;
  readonly committed: number;
  readonly aborted: number;
}

export interface ClusterCutResult {
  readonly settlements: readonly ShardSettlement[];
  readonly log: CutLogSummary;
}

export async function settleCut(options: {
  readonly log: CutLog;
  readonly decisionSeq: bigint;
  readonly shards: readonly RestoredShard[];
  readonly logOutput: string;
  readonly nowMs: number;
}): Promise<ClusterCutResult> {
  const { log, decisionSeq: seq, shards } = options;
  checkCoverage(log, seq, shards);
  checkEveryShardNamed(log, seq, shards);
  const views = shards.map((s) => OfflineShard.open(s.shard, s.file));
  try {
    const settlements: ShardSettlement[] = [];
    for (const view of views) settlements.push(await settle(view, views, log, seq));
    for (const view of views) await view.close();
    for (const s of shards) checkpoint(s.file);
    checkConsistent(log, seq, shards);
    const readers = new Map(shards.map((s) => [s.shard, openReader(s.file)]));
    try {
      const holds = (txnId: string, shard: string) =>
        readers.get(shard)?.prepare(HOLDS_COMMIT).get(txnId) !== undefined;
      return { settlements, log: log.writeCut(options.logOutput, seq, holds, options.nowMs) };
    } finally {
      for (const reader of readers.values()) reader.close();
    }
  } finally {
    for (const view of views) await view.close().catch(() => {});
  }
}

function checkCoverage(log: CutLog, seq: bigint, shards: readonly RestoredShard[]): void {
  const short = shards.filter((s) => !s.reached);
  if (short.length === 0 || seq === 0n) return;
  const bound = log.firstAtOrAfter(seq);
  for (const s of short) {
    if (bound !== undefined && s.asOfMs >= bound.decidedAtMs) continue;
    // An idle shard ships nothing, so its replica can end long before the cut and still be current:
    // it is, if no decision it could have missed (made after its last shipped read) names it.
    const seen = log.seqAt(s.asOfMs - coverageClockMarginMs);
    const lo = seen < seq ? seen : seq;
    const after = log.shardInRange(lo, seq, s.shard);
    if (after.complete && !after.named) continue;
    const safe = log.seqAt(Math.min(...short.map((x) => x.asOfMs)));
    throw new TwopcError(
      'FAILED_PRECONDITION',
      bound === undefined
        ? `cannot prove shard ${s.shard}'s replica covers the cut: the decision log no longer holds seq ${seq} or any later one`
        : `shard ${s.shard}'s replica ends at ${iso(s.asOfMs)}, before decision seq ${bound.decisionSeq} was made ` +
            `(${iso(bound.decidedAtMs)}): it may lack transactions of the cut`,
      {
        hint:
          safe > 0n
            ? `nothing was written; restore to --decision-seq ${safe} or earlier, or let the participant ship first`
            : 'nothing was written; the replica has not shipped far enough for any cut the log still knows',
      },
    );
  }
}

/** A partial cluster cannot be cut: a shard left out would still hold commits the cut log forgets. */
function checkEveryShardNamed(log: CutLog, seq: bigint, shards: readonly RestoredShard[]): void {
  const named = new Set(shards.map((s) => s.shard));
  for (const record of log.commitsThrough(seq, cutCheckRecordsMax)) {
    const missing = record.shards.find((s) => !named.has(s));
    if (missing !== undefined)
      throw new TwopcError(
        'FAILED_PRECONDITION',
        `the decision log's txn ${record.txnId} (seq ${record.decisionSeq}) involves shard ${missing}, which is not being restored`,
        { hint: 'nothing was written; name every shard of the cluster with --shard' },
      );
  }
}

async function settle(
  view: OfflineShard,
  views: readonly OfflineShard[],
  log: CutLog,
  seq: bigint,
): Promise<ShardSettlement> {
  const messages: DecisionMessage[] = [];
  for (const txn of await view.listInDoubt()) {
    const commitSeq = await committedSeq(txn.txnId, view, views, log, seq);
    // Decided by the cut itself, final by construction: the highest epoch, so no fence refuses it.
    messages.push({ txnId: txn.txnId, commit: commitSeq > 0n, decisionSeq: commitSeq, epoch: resolvedEpoch });
  }
  if (messages.length > 0) await view.decide(messages);
  const committed = messages.filter((m) => m.commit).length;
  return { shard: view.shard, committed, aborted: messages.length - committed };
}

/** The seq to commit a prepared transaction with, or 0 to abort it. */
async function committedSeq(
  txnId: string,
  view: OfflineShard,
  views: readonly OfflineShard[],
  log: CutLog,
  seq: bigint,
): Promise<bigint> {
  const record = log.get(txnId);
  if (record !== undefined) {
    const inCut = record.state === 'COMMITTED' && record.decisionSeq > 0n && record.decisionSeq <= seq;
    return inCut ? record.decisionSeq : 0n;
  }
  for (const other of views) {
    if (other === view) continue;
    const state = await other.txnState(txnId);
    if (state.state === 'COMMITTED' && state.decisionSeq > 0n && state.decisionSeq <= seq)
      return state.decisionSeq;
  }
  return 0n;
}

/**
 * After settling: nothing PREPARED, and every COMMIT near the cut (from the log, and from each
 * shard's own committed rows and their peers) committed on all its restored shards.
 */
function checkConsistent(log: CutLog, seq: bigint, shards: readonly RestoredShard[]): void {
  const committed = new Map(
    shards.map((s) => [s.shard, new Set(committedRows(s.file, 'decision_seq > 0').map((r) => r.txn_id))]),
  );
  const torn: string[] = [];
  const expectOn = (txnId: string, shard: string, why: string) => {
    const set = committed.get(shard);
    if (set !== undefined && !set.has(txnId)) torn.push(`${txnId} ${why} but not on ${shard}`);
  };
  for (const record of log.commitsThrough(seq, cutCheckRecordsMax))
    for (const shard of record.shards)
      expectOn(record.txnId, shard, `is seq ${record.decisionSeq} in the log`);
  for (const s of shards) {
    if (countPrepared(s.file) > 0) torn.push(`${s.shard} still holds prepared transactions`);
    const rows = committedRows(
      s.file,
      `decision_seq > 0 ORDER BY decision_seq DESC LIMIT ${cutCheckRecordsMax}`,
    );
    for (const row of rows) {
      if (BigInt(row.decision_seq) > seq) torn.push(`${row.txn_id} is committed on ${s.shard} past the cut`);
      for (const peer of JSON.parse(row.peers) as { shard: string }[])
        expectOn(row.txn_id, peer.shard, `is committed on ${s.shard}`);
    }
  }
  if (torn.length > 0)
    throw new TwopcError('INTERNAL', `the restored cut is not consistent: ${torn.slice(0, 5).join('; ')}`, {
      hint: 'nothing is usable; this is a bug or a damaged replica: please report it with the replicas and the log',
    });
}

interface CommittedRow {
  txn_id: string;
  decision_seq: number | bigint;
  peers: string;
}

const HOLDS_COMMIT = `SELECT 1 FROM _twopc_txns WHERE txn_id = ? AND state = 'COMMITTED'`;

function openReader(file: string): Database.Database {
  return new Database(file, { readonly: true, fileMustExist: true });
}

/** `where` is a fixed fragment of this file, never input. */
function committedRows(file: string, where: string): CommittedRow[] {
  const db = openReader(file);
  try {
    return db
      .prepare(`SELECT txn_id, decision_seq, peers FROM _twopc_txns WHERE state = 'COMMITTED' AND ${where}`)
      .all() as CommittedRow[];
  } finally {
    db.close();
  }
}

/**
 * Folds what settling wrote into the file and removes its WAL (the offline decide path leaves it, as
 * a crash would): a restored file is then whole on its own, even if only the .db is copied.
 */
function checkpoint(file: string): void {
  const db = new Database(file, { fileMustExist: true });
  try {
    const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    if (result?.busy !== 0)
      throw new TwopcError('FAILED_PRECONDITION', `${file} is in use: it cannot be checkpointed`, {
        hint: 'nothing may open the output dir while cluster restore runs',
      });
  } finally {
    db.close();
  }
}

function countPrepared(file: string): number {
  const db = openReader(file);
  try {
    return db.prepare(`SELECT count(*) FROM _twopc_txns WHERE state = 'PREPARED'`).pluck().get() as number;
  } finally {
    db.close();
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
