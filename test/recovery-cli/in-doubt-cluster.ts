/**
 * Real in-doubt transactions for the recovery CLI suites, made the way production makes them: a
 * cluster of real processes (test/integration/cluster.ts; data laid out like `twopc dev`), a
 * cross-shard transfer, and the coordinator SIGKILLed by a failpoint at the worst moment:
 *
 * - `coordinator.before-decision-logged`: every shard voted YES, no COMMIT was logged (the outcome
 *   is abort, by presumption, but no shard knows);
 * - `coordinator.after-decision-logged`: the COMMIT is durable in the log, no shard was told.
 *
 * The participants are started without --coordinator, so their own resolvers can only ask their
 * peers, which are PREPARED too: the transactions stay in doubt until the recovery CLI acts.
 */
import { createHash } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import { Cluster } from '../integration/cluster.ts';
import { int, rawClient, text } from '../integration/raw-client.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';

export const SHARDS = ['shard-a', 'shard-b', 'shard-c'] as const;
export type Shard = (typeof SHARDS)[number];
export const ACCOUNTS = 4;
export const INITIAL_BALANCE = 1_000n;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
  id INTEGER PRIMARY KEY,
  balance INTEGER NOT NULL CHECK (balance >= 0)
);
CREATE TABLE IF NOT EXISTS ledger (
  transfer_id TEXT PRIMARY KEY,
  amount INTEGER NOT NULL
);
INSERT OR IGNORE INTO accounts (id, balance) VALUES ${Array.from({ length: ACCOUNTS }, (_, i) => `(${i + 1}, ${INITIAL_BALANCE})`).join(', ')};
`;

export type Failpoint = 'coordinator.before-decision-logged' | 'coordinator.after-decision-logged';

export function startCluster(): Promise<Cluster> {
  // Without --coordinator: their resolvers can only ask peers (see the top of this file).
  return Cluster.start({ shards: SHARDS, schemaSql: SCHEMA, participantsKnowCoordinator: false });
}

export function logFile(cluster: Cluster): string {
  return path.join(cluster.dataDir, 'coordinator', 'decisions.db');
}

export interface Transfer {
  readonly id: string;
  readonly from: Shard;
  readonly to: Shard;
  readonly amount: bigint;
  /** The account moved on both shards: distinct per in-doubt transfer, or their locks conflict. */
  readonly account: number;
}

function transferOps(t: Transfer): object[] {
  const { id, from, to, amount, account } = t;
  return [
    {
      shard: from,
      table: 'accounts',
      kind: 'ADD',
      key: { id: int(account) },
      values: { balance: int(-amount) },
    },
    {
      shard: to,
      table: 'accounts',
      kind: 'ADD',
      key: { id: int(account) },
      values: { balance: int(amount) },
    },
    {
      shard: from,
      table: 'ledger',
      kind: 'INSERT',
      key: { transfer_id: text(id) },
      values: { amount: int(-amount) },
    },
    {
      shard: to,
      table: 'ledger',
      kind: 'INSERT',
      key: { transfer_id: text(id) },
      values: { amount: int(amount) },
    },
  ];
}

/**
 * Sets the coordinator's --coordinator-id for its next start. A coordinator's in-doubt sweep settles
 * only the prepares made under its own id, so giving each incarnation its own id keeps a restarted
 * coordinator from settling, on a slow machine, what an earlier incarnation left in doubt.
 */
export function setCoordinatorId(cluster: Cluster, id: string): void {
  const args = cluster.processes.get('coordinator')!.args;
  const at = args.indexOf('--coordinator-id');
  if (at >= 0) args.splice(at, 2);
  args.push('--coordinator-id', id);
}

/**
 * Restarts the coordinator (under an id of its own) with `failpoint` armed, sends one transfer, and
 * waits for the crash. Resolves with the id of the transaction it left in doubt (from the files).
 */
export async function leaveInDoubt(
  cluster: Cluster,
  failpoint: Failpoint,
  transfer: Transfer,
): Promise<string> {
  const before = new Set(preparedIds(cluster));
  setCoordinatorId(cluster, `coordinator@crash-${transfer.id}`);
  await cluster.restart('coordinator', { TWOPC_FAILPOINTS: `${failpoint}=crash` });
  const coordinator = cluster.processes.get('coordinator')!;
  const exited = new Promise<string>((resolve) =>
    coordinator.proc.once('exit', (code, signal) => resolve(String(signal ?? code))),
  );
  const client = rawClient(cluster.coordinatorAddress);
  try {
    const call = client.call('Execute', { ops: transferOps(transfer) });
    await expect(call).rejects.toMatchObject({ code: 14 }); // UNAVAILABLE: the coordinator died mid-commit
  } finally {
    client.close();
  }
  expect(await exited).toBe('SIGKILL');
  const fresh = preparedIds(cluster).filter((id) => !before.has(id));
  expect(fresh, `one new in-doubt transaction after ${failpoint}`).toHaveLength(1);
  return fresh[0]!;
}

function withShard<T>(cluster: Cluster, shard: Shard, fn: (db: Database.Database) => T): T {
  const db = new Database(cluster.shardFile(shard), { readonly: true, fileMustExist: true });
  db.defaultSafeIntegers(true);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Every transaction some shard holds PREPARED, straight from the files. */
export function preparedIds(cluster: Cluster): string[] {
  const ids = new Set<string>();
  for (const shard of SHARDS) {
    withShard(cluster, shard, (db) => {
      for (const r of db.prepare(`SELECT txn_id FROM _twopc_txns WHERE state = 'PREPARED'`).all() as {
        txn_id: string;
      }[])
        ids.add(r.txn_id);
    });
  }
  return [...ids].sort();
}

export interface ShardFacts {
  readonly total: bigint;
  readonly ledger: ReadonlyMap<string, bigint>;
  readonly pendingRows: number;
  readonly locks: number;
  readonly prepared: number;
  state(txnId: string): { state: string; decisionSeq: bigint; tombstone: boolean };
}

export function shardFacts(cluster: Cluster, shard: Shard): ShardFacts {
  return withShard(cluster, shard, (db) => {
    const count = (sql: string) => Number((db.prepare(sql).get() as { n: bigint }).n);
    const states = new Map(
      (
        db.prepare('SELECT txn_id, state, decision_seq, tombstone FROM _twopc_txns').all() as Array<{
          txn_id: string;
          state: string;
          decision_seq: bigint;
          tombstone: bigint;
        }>
      ).map((r) => [
        r.txn_id,
        { state: r.state, decisionSeq: r.decision_seq, tombstone: r.tombstone === 1n },
      ]),
    );
    return {
      total: (db.prepare('SELECT sum(balance) AS s FROM accounts').get() as { s: bigint }).s,
      ledger: new Map(
        (
          db.prepare('SELECT transfer_id, amount FROM ledger').all() as {
            transfer_id: string;
            amount: bigint;
          }[]
        ).map((r) => [r.transfer_id, r.amount]),
      ),
      pendingRows: count('SELECT count(*) AS n FROM _twopc_pending'),
      locks: count('SELECT count(*) AS n FROM _twopc_locks'),
      prepared: count(`SELECT count(*) AS n FROM _twopc_txns WHERE state = 'PREPARED'`),
      state: (txnId) => states.get(txnId) ?? { state: 'UNKNOWN', decisionSeq: 0n, tombstone: false },
    };
  });
}

/** A digest of every database and WAL file (the `-shm` index is rebuilt by any reader). */
export function fileBytes(cluster: Cluster): Map<string, string> {
  const out = new Map<string, string>();
  const files = [logFile(cluster), ...SHARDS.map((s) => cluster.shardFile(s))];
  for (const f of files.flatMap((f) => [f, `${f}-wal`])) {
    const bytes = existsSync(f) ? readFileSync(f) : undefined;
    out.set(
      f,
      bytes === undefined
        ? '(absent)'
        : `${bytes.length} bytes, sha256 ${createHash('sha256').update(bytes).digest('hex')}`,
    );
  }
  return out;
}

/** `node cli/bin.mjs recover …`, a real process. */
export function recover(args: readonly string[]): Promise<CliResult> {
  return runCli(['recover', ...args]);
}

/** Exit 2, nothing on stdout, one `twopc: …` line (and at most a `hint: …`), never a stack. */
export function expectRefusal(r: CliResult, message: RegExp): void {
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(2);
  expect(r.stdout).toBe('');
  expect(lines.length, r.stderr).toBeGreaterThanOrEqual(1);
  expect(lines.length, r.stderr).toBeLessThanOrEqual(2);
  expect(lines[0]).toMatch(/^twopc: /);
  expect(lines[0]).toMatch(message);
  if (lines.length === 2) expect(lines[1]).toMatch(/^hint: /);
}

/** stdout of a command that must succeed. */
export function expectOk(r: CliResult): string {
  expect(r.code, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
  return r.stdout;
}
