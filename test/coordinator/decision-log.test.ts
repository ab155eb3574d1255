/**
 * The SQLite decision log against real files: the shared DecisionLog contract
 * (decision-log-contract.ts), plus what only a file has: the PRAGMAs that make forced writes durable.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteDecisionLog } from '../../coordinator/decision-log/sqlite.ts';
import { describeDecisionLogContract } from './decision-log-contract.ts';
import { tempDir } from './harness.ts';

let dir = '';
let file = '';

describeDecisionLogContract('SQLite', {
  setup: async () => {
    dir = tempDir();
    file = path.join(dir, 'sub', 'decisions.db');
  },
  open: async () => SqliteDecisionLog.open(file),
  corruptShards: async (txnId) => {
    const raw = new Database(file);
    raw.prepare('UPDATE twopc_decisions SET shards = \'{"not":"a list"}\' WHERE txn_id = ?').run(txnId);
    raw.close();
  },
  teardown: async () => rmSync(dir, { recursive: true, force: true }),
});

describe('SqliteDecisionLog file', () => {
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs in WAL mode with synchronous=FULL for forced batches', async () => {
    dir = tempDir();
    file = path.join(dir, 'decisions.db');
    const log = SqliteDecisionLog.open(file);
    await log.logCommit({
      txnId: 'tx_a',
      shards: ['a'],
      readOnlyShards: [],
      idempotencyKey: '',
      startedAtMs: 1,
      atMs: 2,
    });
    await log.close();
    const raw = new Database(file);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });

  it('forces a batch holding a forced write (FULL) and skips the fsync of a lazy-only one (NORMAL)', async () => {
    dir = tempDir();
    file = path.join(dir, 'decisions.db');
    const log = SqliteDecisionLog.open(file);
    // synchronous is per connection: read it on the log's own (private) connection.
    const synchronous = () =>
      Number((log as unknown as { db: Database.Database }).db.pragma('synchronous', { simple: true }));
    const commit = (txnId: string) =>
      log.logCommit({
        txnId,
        shards: ['a'],
        readOnlyShards: [],
        idempotencyKey: '',
        startedAtMs: 1,
        atMs: 2,
      });
    await commit('tx_a');
    expect(synchronous()).toBe(2);
    await log.logEnd('tx_a', 3);
    expect(synchronous()).toBe(1);
    await commit('tx_b');
    expect(synchronous()).toBe(2);
    await log.close();
  });
});
