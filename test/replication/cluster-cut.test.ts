/**
 * Cross-shard consistent restore over real processes: a coordinator and two participants shipping
 * their WAL (async, 100 ms) to a file:// replica, concurrent transfers between the shards, then
 * `npx twopc cluster restore` (a real CLI process) to several decision-log cuts. For each cut: every
 * transfer is on both shards or on neither, each shard's balances match its ledger, the money is
 * conserved, nothing is left prepared, and the two-phase commits restored are exactly the log's
 * seqs 1..N. Then a cluster started on one restored cut settles nothing, commits a new transfer and
 * stays consistent.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedFromEnv } from '../../common/random.ts';
import { runCli } from '../helpers/cli.ts';
import { ACCOUNTS_SCHEMA, Cluster } from '../integration/cluster.ts';
import { rawClient, type RawClient } from '../integration/raw-client.ts';
import { tempDir } from '../wal/helpers.ts';
import {
  INITIAL_SHARD_TOTAL,
  SHARDS,
  eventually,
  expectNoTornTransaction,
  runWorkload,
  seedAccounts,
  shardState,
  sleep,
  transfer,
  type ShardState,
} from './transfers.ts';

const testTimeoutMs = 240_000;
const syncIntervalMs = 100;
const committedMin = 200;
/** Idle time after the load for the last commits to be shipped (many intervals on a loaded box). */
const shipSettleMs = 2_000;

let tmp: string;
let cluster: Cluster | undefined;
let restoredCluster: Cluster | undefined;
let client: RawClient | undefined;

beforeAll(() => {
  tmp = tempDir('twopc-cluster-cut-');
});
afterAll(async () => {
  client?.close();
  await cluster?.stop();
  await restoredCluster?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface RestoredShard extends ShardState {
  readonly seqs: bigint[];
  readonly prepared: number;
}

function readShard(file: string): RestoredShard {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.defaultSafeIntegers(true);
    expect(String(db.pragma('integrity_check', { simple: true }))).toBe('ok');
    const rows = db.prepare('SELECT transfer_id, amount FROM ledger').all() as {
      transfer_id: string;
      amount: bigint;
    }[];
    const balances = db.prepare('SELECT balance FROM accounts').pluck().all() as bigint[];
    return {
      ledger: new Map(rows.map((r) => [r.transfer_id, r.amount])),
      balanceTotal: balances.reduce((a, b) => a + b, 0n),
      seqs: db
        .prepare(
          `SELECT decision_seq FROM _twopc_txns WHERE state = 'COMMITTED' AND decision_seq > 0 ORDER BY 1`,
        )
        .pluck()
        .all() as bigint[],
      prepared: Number(db.prepare(`SELECT count(*) FROM _twopc_txns WHERE state = 'PREPARED'`).pluck().get()),
    };
  } finally {
    db.close();
  }
}

function logSeqs(logFile: string, sql: string, ...params: unknown[]): bigint[] {
  const db = new Database(logFile, { readonly: true, fileMustExist: true });
  try {
    db.defaultSafeIntegers(true);
    return db
      .prepare(sql)
      .pluck()
      .all(...params) as bigint[];
  } finally {
    db.close();
  }
}

/** The checks every cut must pass; returns the restored shards. */
function expectConsistentCut(outDir: string, seq: bigint, logCopy: string, seed: number): RestoredShard[] {
  const [s1, s2] = SHARDS.map((shard) => readShard(path.join(outDir, shard, `${shard}.db`))) as [
    RestoredShard,
    RestoredShard,
  ];
  const why = `cut at seq ${seq} (seed ${seed})`;
  const only1 = [...s1.ledger.keys()].filter((id) => !s2.ledger.has(id));
  const only2 = [...s2.ledger.keys()].filter((id) => !s1.ledger.has(id));
  expect({ onlyOnS1: only1, onlyOnS2: only2 }, `a transfer on one shard only, ${why}`).toEqual({
    onlyOnS1: [],
    onlyOnS2: [],
  });
  for (const s of [s1, s2]) {
    expectNoTornTransaction(s);
    expect(s.prepared, why).toBe(0);
  }
  expect(s1.balanceTotal + s2.balanceTotal, why).toBe(2n * INITIAL_SHARD_TOTAL);
  // Exactly the cut: every COMMIT the log made at or below seq, nothing above it.
  const expected = logSeqs(
    logCopy,
    'SELECT decision_seq FROM twopc_decisions WHERE decision_seq <= ? ORDER BY 1',
    seq,
  );
  expect(s1.seqs, why).toEqual(expected);
  expect(s2.seqs, why).toEqual(expected);
  const cutLog = path.join(outDir, 'coordinator', 'decisions.db');
  expect(logSeqs(cutLog, 'SELECT decision_seq FROM twopc_decisions WHERE decision_seq > ?', seq)).toEqual([]);
  expect(
    logSeqs(cutLog, "SELECT decision_seq FROM twopc_decisions WHERE state = 'COMMITTED' AND ended_at_ms = 0"),
  ).toEqual([]);
  return [s1, s2];
}

describe('cluster restore to a decision-log cut, over real processes', () => {
  it(
    'every cut holds each transfer on both shards or on neither, and a cluster restarts on it cleanly',
    async () => {
      const replica = `file://${path.join(tmp, 'replica')}`;
      const args = [
        '--replica',
        replica,
        '--replication',
        'async',
        '--sync-interval',
        String(syncIntervalMs),
      ];
      cluster = await Cluster.start({
        shards: SHARDS,
        schemaSql: ACCOUNTS_SCHEMA,
        participantArgs: { s1: args, s2: args },
      });
      client = rawClient(cluster.coordinatorAddress);
      await seedAccounts(client);
      const seed = seedFromEnv();
      const workload = runWorkload(client, seed, 6);
      try {
        const reached = await eventually(async () => workload.committed() >= committedMin, 120_000);
        expect(reached, `only ${workload.committed()} transfers committed (seed ${seed})`).toBe(true);
      } finally {
        await workload.stop();
      }
      await sleep(shipSettleMs);
      // A consistent copy of the live log: the tests's own record of what was decided.
      const logCopy = path.join(tmp, 'log-copy.db');
      const live = new Database(path.join(cluster.dataDir, 'coordinator', 'decisions.db'), {
        readonly: true,
      });
      live.prepare('VACUUM INTO ?').run(logCopy);
      live.close();
      const lastSeq = logSeqs(logCopy, 'SELECT max(decision_seq) FROM twopc_decisions')[0] as bigint;
      expect(lastSeq).toBeGreaterThan(BigInt(committedMin));

      const cuts = [1n, lastSeq / 4n, lastSeq / 2n, (3n * lastSeq) / 4n, lastSeq];
      let settled = 0;
      let previous = -1;
      for (const seq of cuts) {
        const outDir = path.join(tmp, `cut-${seq}`);
        const r = await runCli([
          'cluster', 'restore', '--replica', replica, '--shard', 's1', '--shard', 's2',
          '--decision-log', path.join(cluster.dataDir, 'coordinator', 'decisions.db'),
          '--output-dir', outDir, '--decision-seq', String(seq), '--json',
        ]); // prettier-ignore
        expect(r.code, `cut at seq ${seq}: ${r.stderr}`).toBe(0);
        const summary = JSON.parse(r.stdout) as {
          decisionSeq: string;
          shards: { committedAtRestore: number; abortedAtRestore: number }[];
        };
        expect(summary.decisionSeq).toBe(String(seq));
        settled += summary.shards.reduce((n, s) => n + s.committedAtRestore + s.abortedAtRestore, 0);
        const [s1] = expectConsistentCut(outDir, seq, logCopy, seed) as [RestoredShard];
        expect(s1.ledger.size, `cuts grow with seq (seed ${seed})`).toBeGreaterThanOrEqual(previous);
        previous = s1.ledger.size;
      }
      // The cuts fell while transfers were in flight: some were settled by the restore itself.
      expect(settled, `no cut needed settling (seed ${seed})`).toBeGreaterThan(0);

      // --at TIME: the cut at the last decision made at or before TIME.
      const [atMs] = logSeqs(
        logCopy,
        'SELECT decided_at_ms FROM twopc_decisions WHERE decision_seq = ?',
        lastSeq / 2n,
      );
      const atSeq = logSeqs(
        logCopy,
        'SELECT max(decision_seq) FROM twopc_decisions WHERE decided_at_ms <= ?',
        atMs as bigint,
      )[0] as bigint;
      const atDir = path.join(tmp, 'cut-at');
      const at = await runCli([
        'cluster', 'restore', '--replica', replica, '--shard', 's1', '--shard', 's2',
        '--decision-log', logCopy, '--output-dir', atDir, '--at', new Date(Number(atMs)).toISOString(), '--json',
      ]); // prettier-ignore
      expect(at.code, at.stderr).toBe(0);
      expect((JSON.parse(at.stdout) as { decisionSeq: string }).decisionSeq).toBe(String(atSeq));
      expectConsistentCut(atDir, atSeq, logCopy, seed);

      client.close();
      client = undefined;
      await cluster.stop();
      cluster = undefined;

      // A cluster started on the middle cut: nothing to settle, a new transfer commits on both shards.
      const cutDir = path.join(tmp, `cut-${lastSeq / 2n}`);
      restoredCluster = await Cluster.start({
        shards: SHARDS,
        schemaSql: ACCOUNTS_SCHEMA,
        prepareDataDir: (dir) => {
          for (const sub of [...SHARDS, 'coordinator'])
            fs.cpSync(path.join(cutDir, sub), path.join(dir, sub), { recursive: true });
        },
      });
      client = rawClient(restoredCluster.coordinatorAddress);
      const { seededRandom } = await import('../../common/random.ts');
      const after = await transfer(client, 'after-restore', 's1', seededRandom(seed));
      expect(after.outcome, after.reason).toBe('COMMITTED');
      const [s1, s2] = await Promise.all([shardState(client, 's1'), shardState(client, 's2')]);
      expect([...s1.ledger.keys()].sort()).toEqual([...s2.ledger.keys()].sort());
      expect(s1.ledger.has('after-restore')).toBe(true);
      for (const s of [s1, s2]) expectNoTornTransaction(s);
      expect(s1.balanceTotal + s2.balanceTotal).toBe(2n * INITIAL_SHARD_TOTAL);
      for (const shard of SHARDS) expect(readShard(restoredCluster.shardFile(shard)).prepared).toBe(0);
    },
    testTimeoutMs,
  );
});
