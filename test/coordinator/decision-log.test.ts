/**
 * The SQLite decision log against real files: group commit, seqs, durability across reopen,
 * idempotent writes, refusals, listing, GC.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AssertionError } from '../../common/assert.ts';
import { SqliteDecisionLog } from '../../coordinator/decision-log/sqlite.ts';
import { tempDir } from './harness.ts';

let dir: string;
let file: string;
let log: SqliteDecisionLog;

const commit = (txnId: string, extra: { key?: string; at?: number } = {}) =>
  log.logCommit({
    txnId,
    shards: ['a', 'b'],
    readOnlyShards: [],
    idempotencyKey: extra.key ?? '',
    startedAtMs: 1,
    atMs: extra.at ?? 1_000,
  });

beforeEach(() => {
  dir = tempDir();
  file = path.join(dir, 'sub', 'decisions.db');
  log = SqliteDecisionLog.open(file);
});

afterEach(async () => {
  await log.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SqliteDecisionLog', () => {
  it('group-commits concurrent COMMITs: fewer batches than calls, seqs unique and increasing', async () => {
    const n = 200;
    const seqs = await Promise.all(
      Array.from({ length: n }, (_, i) => commit(`tx_${String(i).padStart(4, '0')}`)),
    );
    expect(new Set(seqs).size).toBe(n);
    expect(seqs).toEqual([...seqs].sort((a, b) => (a < b ? -1 : 1)));
    expect(seqs[0]).toBeGreaterThan(0n);
    const stats = log.stats();
    expect(stats.records).toBe(n);
    expect(stats.batches).toBeLessThan(n / 10);
    expect(stats.batchRecordsMax).toBeGreaterThan(1);
    // A later batch continues the sequence.
    expect(await commit('tx_later')).toBe((seqs[n - 1] as bigint) + 1n);
  });

  it('keeps forced records across a reopen, with the PRAGMAs that make them durable', async () => {
    const seq = await commit('tx_a', { key: 'k1' });
    await log.logIntent({ txnId: 'tx_b', idempotencyKey: 'k2', shards: ['a'], atMs: 5 });
    const epoch = log.epoch;
    await log.close();
    const raw = new Database(file);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
    log = SqliteDecisionLog.open(file);
    expect(log.epoch).toBe(epoch + 1n);
    const a = await log.get('tx_a');
    expect(a).toMatchObject({
      state: 'COMMITTED',
      decisionSeq: seq,
      shards: ['a', 'b'],
      idempotencyKey: 'k1',
      endedAtMs: 0,
    });
    expect((await log.byIdempotencyKey('k2'))?.txnId).toBe('tx_b');
    expect((await log.unfinished(0n, 10)).map((r) => r.txnId)).toEqual(['tx_a']);
    // Seqs never repeat after a reopen.
    expect(await commit('tx_c')).toBe(seq + 1n);
  });

  it('makes logCommit idempotent and refuses a COMMIT for an aborted transaction', async () => {
    const seq = await commit('tx_a');
    expect(await commit('tx_a')).toBe(seq);
    await log.logIntent({ txnId: 'tx_x', idempotencyKey: 'kx', shards: ['a', 'b'], atMs: 1 });
    await log.logOutcome({
      txnId: 'tx_x',
      outcome: 'ABORTED',
      shards: ['a', 'b'],
      idempotencyKey: 'kx',
      abortReason: 'CONFLICT',
      reason: 'busy',
      invalid: false,
      startedAtMs: 1,
      atMs: 2,
    });
    await expect(commit('tx_x')).rejects.toBeInstanceOf(AssertionError);
    // A refused record does not sink the others in its batch.
    const [bad, good] = await Promise.allSettled([commit('tx_x'), commit('tx_y')]);
    expect(bad.status).toBe('rejected');
    expect(good.status).toBe('fulfilled');
    expect((await log.get('tx_x'))?.state).toBe('ABORTED');
  });

  it('gives an idempotency key to the first transaction that claims it', async () => {
    expect(await log.logIntent({ txnId: 'tx_1', idempotencyKey: 'k', shards: ['a'], atMs: 1 })).toBe('tx_1');
    expect(await log.logIntent({ txnId: 'tx_2', idempotencyKey: 'k', shards: ['a'], atMs: 1 })).toBe('tx_1');
    expect(await log.logIntent({ txnId: 'tx_1', idempotencyKey: 'k', shards: ['a'], atMs: 1 })).toBe('tx_1');
    const seq = await commit('tx_1', { key: 'k' });
    expect(await log.byIdempotencyKey('k')).toMatchObject({
      txnId: 'tx_1',
      state: 'COMMITTED',
      decisionSeq: seq,
    });
  });

  it('ENDs commits, lists by status and page, and GC removes only what is finished and old', async () => {
    await commit('tx_1', { at: 100 });
    await commit('tx_2', { at: 100 });
    await log.logEnd('tx_1', 200);
    await log.logIntent({ txnId: 'tx_3', idempotencyKey: 'k3', shards: ['a'], atMs: 100 });
    await log.logOutcome({
      txnId: 'tx_3',
      outcome: 'COMMITTED',
      shards: ['a'],
      idempotencyKey: 'k3',
      reason: '',
      invalid: false,
      startedAtMs: 100,
      atMs: 150,
    });
    await log.logHeuristic({ txnId: 'tx_2', outcome: 'COMMITTED', operator: 'ops', note: 'test', atMs: 300 });
    expect((await log.unfinished(0n, 10)).map((r) => r.txnId)).toEqual(['tx_2']);
    expect(
      (await log.list({ statuses: ['COMMITTING'], afterTxnId: '', limit: 10 })).map((r) => r.txnId),
    ).toEqual(['tx_2']);
    expect(
      (await log.list({ statuses: ['COMMITTED'], afterTxnId: '', limit: 10 })).map((r) => r.txnId),
    ).toEqual(['tx_1', 'tx_3']);
    expect((await log.list({ statuses: [], afterTxnId: 'tx_1', limit: 1 })).map((r) => r.txnId)).toEqual([
      'tx_2',
    ]);

    expect(await log.gc(199, 100)).toBe(1); // tx_3 (decided 150); tx_1 ended at 200 is younger
    expect(await log.gc(10_000, 100)).toBe(1); // tx_1; tx_2 has no END and stays
    expect(await log.get('tx_1')).toBeUndefined();
    expect(await log.get('tx_3')).toBeUndefined();
    expect((await log.get('tx_2'))?.state).toBe('COMMITTED');
    expect(await log.byIdempotencyKey('k3')).toBeUndefined();
    expect(await log.heuristics('tx_2')).toEqual([
      { txnId: 'tx_2', outcome: 'COMMITTED', operator: 'ops', note: 'test', atMs: 300 },
    ]);
    // Seqs keep increasing after GC removed records.
    const before = (await log.get('tx_2'))?.decisionSeq as bigint;
    expect(await commit('tx_4')).toBeGreaterThan(before);
  });

  it('refuses to read a corrupted record back', async () => {
    await commit('tx_1');
    const raw = new Database(file);
    raw.prepare('UPDATE twopc_decisions SET shards = \'{"not":"a list"}\' WHERE txn_id = \'tx_1\'').run();
    raw.close();
    await expect(log.get('tx_1')).rejects.toBeInstanceOf(AssertionError);
  });

  it('rejects writes after close', async () => {
    await log.close();
    await expect(commit('tx_1')).rejects.toThrow(/closed/);
    await expect(log.get('tx_1')).rejects.toThrow(/closed/);
    log = SqliteDecisionLog.open(file);
  });
});
