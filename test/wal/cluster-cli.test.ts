/**
 * `npx twopc cluster restore` in-process on a real replica and a real SQLite decision log: usage
 * mistakes (exit 2, one line), requests it must refuse (exit 1, nothing left in the output dir), and
 * the settling of a cut on one shard: t1..t30 commit in ONE local transaction with seqs 1..30, so
 * the cut at 5 falls before it and the restore itself must commit t1..t5 and abort the rest.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInProcess } from '../helpers/cli.ts';
import { run } from '../../cli/cluster.ts';
import { SqliteDecisionLog } from '../../coordinator/decision-log/sqlite.ts';
import { commitOnePhase, commitRange, prepareOnly, range, readShard, shipSync, tempDir } from './helpers.ts';

let dir: string;
let url: string;
/** A log whose COMMITs name only shard-a, and one whose COMMITs name shard-a and shard-b. */
let logA: string;
let logAB: string;

async function writeLog(file: string, shards: string[]): Promise<void> {
  const log = SqliteDecisionLog.open(file);
  for (let k = 1; k <= 30; k++) {
    const seq = await log.logCommit({
      txnId: `t${k}`,
      shards,
      readOnlyShards: [],
      idempotencyKey: '',
      startedAtMs: Date.now(),
      atMs: Date.now(),
    });
    expect(seq).toBe(BigInt(k));
  }
  // Keyed one-phase outcomes: o1 is on the shard at every cut, o-lost (never shipped) at none.
  for (const txnId of ['o1', 'o-lost'])
    await log.logOutcome({
      txnId,
      outcome: 'COMMITTED',
      shards: ['shard-a'],
      idempotencyKey: `key-${txnId}`,
      reason: '',
      invalid: false,
      startedAtMs: Date.now(),
      atMs: Date.now(),
    });
  await log.close();
}

beforeAll(async () => {
  dir = tempDir('twopc-cluster-cli-');
  url = `file://${path.join(dir, 'replica')}`;
  const file = path.join(dir, 'src', 'shard-a.db');
  const { store, shipping } = await shipSync(file, url);
  commitOnePhase(store, 'o1', 100); // before the cut at 5: kept
  commitRange(store, 1, 30);
  prepareOnly(store, 31);
  await shipping.waitDurable({ timeoutMs: 10_000 });
  await shipping.close();
  store.close();
  // Written after the shipping stopped: decisions the replica cannot have seen ended up after it.
  logA = path.join(dir, 'log-a.db');
  logAB = path.join(dir, 'log-ab.db');
  await writeLog(logA, ['shard-a']);
  await writeLog(logAB, ['shard-a', 'shard-b']);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `twopc cluster ARGV` in this process: exit code and output. */
function cluster(...argv: string[]): ReturnType<typeof runInProcess> {
  return runInProcess(run, argv);
}

function dbFilesIn(out: string): string[] {
  if (!fs.existsSync(out)) return [];
  return fs
    .readdirSync(out, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.db(-wal|-shm)?$/.test(f));
}

function restoreArgs(out: string, log = logA): string[] {
  return ['restore', '--replica', url, '--shard', 'shard-a', '--decision-log', log, '--output-dir', out];
}

describe('npx twopc cluster restore', () => {
  it('usage mistakes exit 2 with one line and write nothing', async () => {
    const out = path.join(dir, 'usage');
    const cases: [string[], RegExp][] = [
      [['restore'], /^twopc: cluster restore: missing required flag --/],
      [restoreArgs(out), /give exactly one of --decision-seq N and --at TIME/],
      [[...restoreArgs(out), '--decision-seq', '5', '--at', '2025-01-01T00:00:00Z'], /exactly one/],
      [
        [...restoreArgs(out), '--decision-seq', 'five'],
        /--decision-seq: "five" is not a decision sequence number/,
      ],
      [[...restoreArgs(out), '--at', 'noon'], /--at: "noon" is not an ISO 8601 time/],
      [
        [...restoreArgs(out, 'redis://127.0.0.1:6379/0'), '--decision-seq', '5'],
        /cuts a SQLite decision log only/,
      ],
      [[...restoreArgs(out), '--shard', 'shard-a', '--decision-seq', '5'], /--shard shard-a: given twice/],
      [[...restoreArgs(out), '--shard', 'b=ftp://x', '--decision-seq', '5'], /--shard b/],
      [
        ['restore', '--shard', 'a', '--decision-log', logA, '--output-dir', out, '--decision-seq', '1'],
        /no replica/,
      ],
      [['frobnicate'], /unknown subcommand "frobnicate"/],
    ];
    for (const [argv, message] of cases) {
      const r = await cluster(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(message);
    }
    expect(fs.existsSync(out)).toBe(false);
  });

  it('refuses what it cannot do consistently (exit 1) and leaves nothing behind', async () => {
    const out = path.join(dir, 'refused');
    const cases: [string[], RegExp][] = [
      [
        [...restoreArgs(out, path.join(dir, 'nope.db')), '--decision-seq', '5'],
        /decision log .*nope\.db does not exist/,
      ],
      [
        [...restoreArgs(out), '--decision-seq', '31'],
        /decision seq 31 was never handed out \(the log is at 30\)/,
      ],
      // The replica ends before any commit past 30, and shipped before seq 30 was decided.
      [
        [...restoreArgs(out), '--decision-seq', '30'],
        /shard shard-a's replica ends at .* before decision seq 30 was made/,
      ],
      [
        [...restoreArgs(out, logAB), '--decision-seq', '5'],
        /involves shard shard-b, which is not being restored/,
      ],
    ];
    for (const [argv, message] of cases) {
      const r = await cluster(...argv);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr.split('\n')[0]).toMatch(message);
      expect(dbFilesIn(out)).toEqual([]);
    }
  });

  it('settles the cut: commits what the log decided at or below N, aborts the rest, cuts the log', async () => {
    const out = path.join(dir, 'cut-5');
    const r = await cluster(...restoreArgs(out), '--decision-seq', '5');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /shard-a\s+highest seq 0; at restore committed 5, aborted 25; cut found in the replica/,
    );
    expect(r.stdout).toMatch(
      /25 commit\(s\) past the cut removed, 5 ended, 1 one-phase outcome\(s\) not in the cut removed/,
    );
    const content = readShard(path.join(out, 'shard-a', 'shard-a.db'));
    // Settled and checkpointed: the .db alone is the restored shard.
    const shardFile = path.join(out, 'shard-a', 'shard-a.db');
    expect(fs.existsSync(`${shardFile}-wal`) ? fs.statSync(`${shardFile}-wal`).size : 0).toBe(0);
    const kept = [...range(1, 5), 100];
    expect(content).toMatchObject({ a: kept, b: kept, prepared: [], integrity: 'ok' });
    const log = new Database(path.join(out, 'coordinator', 'decisions.db'), { readonly: true });
    try {
      const rows = log
        .prepare(
          'SELECT txn_id, decision_seq AS seq, ended_at_ms AS ended FROM twopc_decisions ORDER BY 2, 1',
        )
        .all() as { txn_id: string; seq: number | null; ended: number }[];
      expect(rows.map((row) => row.txn_id)).toEqual(['o1', ...range(1, 5).map((k) => `t${k}`)]);
      expect(rows.every((row) => row.ended > 0)).toBe(true);
    } finally {
      log.close();
    }
    // Existing output: refused without --force, replaced with it.
    expect((await cluster(...restoreArgs(out), '--decision-seq', '5')).stderr).toMatch(/exists/);
    const again = await cluster(...restoreArgs(out), '--decision-seq', '2', '--force', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ decisionSeq: '2', integrity: 'ok', inDoubt: 0 });
    expect(readShard(path.join(out, 'shard-a', 'shard-a.db')).a).toEqual([...range(1, 2), 100]);
  });
});
