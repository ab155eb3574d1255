/**
 * The recovery logic in-process, on real shard files written by the participant's own ShardStore
 * and a real decision log: the refusals of heuristic decisions, a
 * transaction the coordinator starts deciding between plan and push, and the file claim. The CLI
 * suites (offline/online.test.ts) cover the same code through real processes; these reach the cases
 * a crash cannot set up deterministically.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TxnView } from '../../common/api.ts';
import type { PrepareMessage } from '../../common/protocol.ts';
import { SqliteDecisionLog } from '../../coordinator/decision-log/sqlite.ts';
import { openCluster, type RecoveryCluster } from '../../coordinator/recovery/cluster.ts';
import type { CoordinatorSource } from '../../coordinator/recovery/coordinator-view.ts';
import { claimFile } from '../../coordinator/recovery/file-claim.ts';
import { executeHeuristic, planHeuristic } from '../../coordinator/recovery/heuristic.ts';
import { executeResolve, planResolve } from '../../coordinator/recovery/resolve.ts';
import { ShardStore } from '../../participant/shard-store.ts';

const SCHEMA = 'CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);';
const SHARDS = ['shard-a', 'shard-b', 'shard-c'] as const;

let dir: string;
let cluster: RecoveryCluster | undefined;

const shardFile = (s: string) => path.join(dir, s, `${s}.db`);
const logFile = () => path.join(dir, 'coordinator', 'decisions.db');

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'twopc-recovery-'));
  for (const s of SHARDS) ShardStore.open({ path: shardFile(s), shard: s, schemaSql: SCHEMA }).close();
});

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** Prepares `txnId` (one insert each) on `on`, naming every shard of `all` as a peer. */
function prepare(txnId: string, on: readonly string[], all: readonly string[] = on, id = 1n): void {
  for (const s of on) {
    const store = ShardStore.open({ path: shardFile(s), shard: s, schemaSql: SCHEMA });
    const m: PrepareMessage = {
      txnId,
      ops: [{ table: 't', kind: 'INSERT', key: { id }, values: { v: 1n } }],
      reads: [],
      onePhase: false,
      readOnlyOk: false,
      peers: all.filter((p) => p !== s).map((p) => ({ shard: p, address: `${p}:1` })),
      coordinatorId: 'coordinator@test',
      epoch: 1n,
      deadlineMs: Date.now() + 60_000,
    };
    expect(store.prepareBatch([m])[0]?.vote).toBe('YES');
    store.close();
  }
}

function decide(shard: string, txnId: string, commit: boolean): void {
  const store = ShardStore.open({ path: shardFile(shard), shard, schemaSql: SCHEMA });
  store.decideBatch([{ txnId, commit, decisionSeq: commit ? 7n : 0n, epoch: 1n }]);
  store.close();
}

async function withLog(fn: (log: SqliteDecisionLog) => Promise<unknown>): Promise<void> {
  const log = SqliteDecisionLog.open(logFile());
  try {
    await fn(log);
  } finally {
    await log.close();
  }
}

async function offline(shards: readonly string[] = SHARDS, withLogFile = true): Promise<RecoveryCluster> {
  cluster = await openCluster({
    mode: 'offline',
    shards: shards.map((s) => ({ name: s, location: shardFile(s) })),
    ...(withLogFile ? { logFile: logFile() } : {}),
  });
  return cluster;
}

function view(txnId: string, state: TxnView['state'], decisionSeq = 0n): TxnView {
  return {
    txnId,
    state,
    shards: [],
    decisionSeq,
    startedAtMs: 1,
    decidedAtMs: 0,
    reason: '',
    idempotencyKey: '',
  };
}

function stateOf(shard: string, txnId: string): string {
  const db = new Database(shardFile(shard), { readonly: true });
  try {
    const row = db.prepare('SELECT state, tombstone FROM _twopc_txns WHERE txn_id = ?').get(txnId) as
      { state: string; tombstone: number } | undefined;
    return row === undefined ? 'UNKNOWN' : `${row.state}${row.tombstone ? ' (tombstone)' : ''}`;
  } finally {
    db.close();
  }
}

describe('resolve', () => {
  it('leaves alone a transaction the coordinator started deciding after the plan was made', async () => {
    prepare('tx_race', ['shard-a', 'shard-b']);
    prepare('tx_done', ['shard-a', 'shard-b'], ['shard-a', 'shard-b'], 2n);
    const c = await offline();
    const fake: CoordinatorSource = {
      address: 'fake:1',
      inFlight: async () => new Map(),
      getTransaction: async (id) => (id === 'tx_race' ? view(id, 'PREPARING') : view(id, 'ABORTED')),
      close: async () => {},
    };
    const online: RecoveryCluster = { ...c, mode: 'online', coordinator: fake };
    const plan = await planResolve(online, { all: true });
    expect(plan.steps.map((s) => [s.txnId, s.verdict.kind])).toEqual([
      ['tx_race', 'ABORT'],
      ['tx_done', 'ABORT'],
    ]);
    const results = await executeResolve(online, plan);
    expect(results[0]).toMatchObject({
      txnId: 'tx_race',
      skip: expect.stringMatching(/still deciding it \(PREPARING\)/),
      shards: [],
    });
    expect(results[1]).toMatchObject({
      txnId: 'tx_done',
      shards: [
        { shard: 'shard-a', ok: true },
        { shard: 'shard-b', ok: true },
      ],
    });
    expect([stateOf('shard-a', 'tx_race'), stateOf('shard-a', 'tx_done')]).toEqual(['PREPARED', 'ABORTED']);
  });

  it('is refused when the decision log file is missing: it would presume every transaction aborted', async () => {
    prepare('tx_1', ['shard-a', 'shard-b']);
    const c = await offline();
    await expect(planResolve(c, { all: true })).rejects.toThrow(/decision log .* does not exist/);
  });
});

describe('heuristic decisions', () => {
  it('force-commit is refused when a shard of the transaction never prepared it', async () => {
    await withLog(async () => {});
    prepare('tx_1', ['shard-a', 'shard-b'], SHARDS);
    const c = await offline();
    await expect(planHeuristic(c, 'tx_1', 'COMMITTED', { createLog: false })).rejects.toThrow(
      /shard shard-c never prepared it, so its part of the transaction is staged nowhere/,
    );
  });

  it('is refused when a shard of the transaction is not among the targets', async () => {
    await withLog(async () => {});
    prepare('tx_1', ['shard-a', 'shard-b'], SHARDS);
    const c = await offline(['shard-a', 'shard-b']);
    await expect(planHeuristic(c, 'tx_1', 'ABORTED', { createLog: false })).rejects.toThrow(
      /also involves shard shard-c, which is not among the targets/,
    );
  });

  it('force-abort tombstones a shard that never prepared it; force-abort is refused after a commit', async () => {
    await withLog(async () => {});
    prepare('tx_1', ['shard-a', 'shard-b'], SHARDS);
    prepare('tx_2', ['shard-a', 'shard-b'], ['shard-a', 'shard-b'], 2n);
    decide('shard-b', 'tx_2', true);
    const c = await offline();
    await expect(planHeuristic(c, 'tx_2', 'ABORTED', { createLog: false })).rejects.toThrow(
      /shard shard-b already COMMITTED it \(decision_seq 7\); a commit cannot be undone/,
    );
    const plan = await planHeuristic(c, 'tx_1', 'ABORTED', { createLog: false });
    expect(plan.pushTo).toEqual(['shard-a', 'shard-b', 'shard-c']);
    const done = await executeHeuristic(c, plan, {
      operator: 'op',
      reason: 'lost log',
      nowMs: 5,
      startedAtMs: 1,
    });
    expect(done.pushed.shards.every((s) => s.ok)).toBe(true);
    expect(SHARDS.map((s) => stateOf(s, 'tx_1'))).toEqual(['ABORTED', 'ABORTED', 'ABORTED (tombstone)']);
  });

  it('with --create-log, records into a new log file when the old one was lost', async () => {
    prepare('tx_1', ['shard-a', 'shard-b']);
    const c = await offline();
    await expect(planHeuristic(c, 'tx_1', 'COMMITTED', { createLog: false })).rejects.toThrow(
      /does not exist/,
    );
    const plan = await planHeuristic(c, 'tx_1', 'COMMITTED', { createLog: true });
    expect(plan.createsLog).toBe(true);
    const done = await executeHeuristic(c, plan, {
      operator: 'op',
      reason: 'lost log',
      nowMs: 5,
      startedAtMs: 1,
    });
    expect(done.decisionSeq).toBe(1n);
    expect([stateOf('shard-a', 'tx_1'), stateOf('shard-b', 'tx_1')]).toEqual(['COMMITTED', 'COMMITTED']);
    const log = SqliteDecisionLog.open(logFile(), { mode: 'read-only' });
    expect(await log.get('tx_1')).toMatchObject({
      state: 'COMMITTED',
      decisionSeq: 1n,
      shards: ['shard-a', 'shard-b'],
    });
    expect(await log.heuristics('tx_1')).toEqual([
      { txnId: 'tx_1', outcome: 'COMMITTED', operator: 'op', note: 'lost log', atMs: 5 },
    ]);
    await log.close();
  });
});

describe('file claim', () => {
  it('sees a file another connection holds, and changes neither a held nor a free file', async () => {
    prepare('tx_1', ['shard-a']);
    const file = shardFile('shard-a');
    const bytes = () => {
      const db = new Database(file, { readonly: true });
      try {
        return db.serialize().toString('base64');
      } finally {
        db.close();
      }
    };
    const holder = new Database(file);
    holder.prepare('SELECT count(*) FROM t').get();
    const before = bytes();
    expect(claimFile(file)).toEqual({ inUse: true });
    holder.close();
    const claim = claimFile(file);
    expect(claim.inUse).toBe(false);
    if (!claim.inUse) claim.reader.close();
    expect(bytes()).toBe(before);
  });
});
