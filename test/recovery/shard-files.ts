/**
 * The checkers: they read the shard files and the decision log directly (better-sqlite3, read-only),
 * so they need no live process to tell the truth.
 */
import Database from 'better-sqlite3';
import path from 'node:path';
import { expect } from 'vitest';
import type { Cluster } from '../integration/cluster.ts';
import { SHARD_TOTAL, SHARDS, convergenceMsMax, until, type Shard } from './recovery-cluster.ts';
import type { Transfer } from './transfer-workload.ts';

export interface ShardSnapshot {
  readonly balances: Map<bigint, bigint>;
  readonly ledger: Map<string, bigint>;
  readonly pendingRows: number;
  readonly locks: number;
  readonly prepared: Array<{ txn_id: string; prepared_at_ms: bigint; peers: string }>;
}

export function readShard(file: string): ShardSnapshot {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  db.defaultSafeIntegers(true);
  try {
    const rows = <T>(sql: string) => db.prepare(sql).all() as T[];
    const count = (sql: string) => Number((db.prepare(sql).get() as { n: bigint }).n);
    return {
      balances: new Map(
        rows<{ id: bigint; balance: bigint }>('SELECT id, balance FROM accounts').map((r) => [
          r.id,
          r.balance,
        ]),
      ),
      ledger: new Map(
        rows<{ transfer_id: string; amount: bigint }>('SELECT transfer_id, amount FROM ledger').map((r) => [
          r.transfer_id,
          r.amount,
        ]),
      ),
      pendingRows: count('SELECT count(*) AS n FROM _twopc_pending'),
      locks: count('SELECT count(*) AS n FROM _twopc_locks'),
      prepared: rows(`SELECT txn_id, prepared_at_ms, peers FROM _twopc_txns WHERE state = 'PREPARED'`),
    };
  } finally {
    db.close();
  }
}

export function readAll(cluster: Cluster): Map<Shard, ShardSnapshot> {
  return new Map(SHARDS.map((s) => [s, readShard(cluster.shardFile(s))]));
}

/** The state of one transaction on a shard, straight from the file ('UNKNOWN' if absent). */
export function txnStateInFile(
  cluster: Cluster,
  shard: Shard,
  txnId: string,
): { state: string; decisionSeq: bigint } {
  const db = new Database(cluster.shardFile(shard), { readonly: true, fileMustExist: true });
  db.defaultSafeIntegers(true);
  try {
    const row = db.prepare('SELECT state, decision_seq FROM _twopc_txns WHERE txn_id = ?').get(txnId) as
      { state: string; decision_seq: bigint } | undefined;
    return row === undefined
      ? { state: 'UNKNOWN', decisionSeq: 0n }
      : { state: row.state, decisionSeq: row.decision_seq };
  } finally {
    db.close();
  }
}

/** Logged COMMITs whose END is not written yet (not every shard acknowledged), from decisions.db. */
export function unfinishedCommits(cluster: Cluster): string[] {
  const db = new Database(path.join(cluster.dataDir, 'coordinator', 'decisions.db'), {
    readonly: true,
    fileMustExist: true,
  });
  try {
    const rows = db
      .prepare(
        `SELECT txn_id FROM twopc_decisions WHERE state = 'COMMITTED' AND decision_seq > 0 AND ended_at_ms = 0`,
      )
      .all() as Array<{ txn_id: string }>;
    return rows.map((r) => r.txn_id);
  } finally {
    db.close();
  }
}

/** Every two-phase COMMIT in decisions.db (ended or not). */
export function loggedCommits(cluster: Cluster): Set<string> {
  const db = new Database(path.join(cluster.dataDir, 'coordinator', 'decisions.db'), {
    readonly: true,
    fileMustExist: true,
  });
  try {
    const rows = db
      .prepare(`SELECT txn_id FROM twopc_decisions WHERE state = 'COMMITTED' AND decision_seq > 0`)
      .all() as Array<{ txn_id: string }>;
    return new Set(rows.map((r) => r.txn_id));
  } finally {
    db.close();
  }
}

/**
 * True once no shard holds a pending row, a lock or a PREPARED transaction, and every logged
 * COMMIT is acknowledged by all its shards (END written).
 */
export function settled(cluster: Cluster): boolean {
  for (const snap of readAll(cluster).values()) {
    if (snap.pendingRows > 0 || snap.locks > 0 || snap.prepared.length > 0) return false;
  }
  return unfinishedCommits(cluster).length === 0;
}

/** Waits (bounded) until nothing is left in doubt anywhere; the failure names what is stuck. */
export async function expectConvergence(cluster: Cluster, timeoutMs = convergenceMsMax): Promise<number> {
  const started = Date.now();
  try {
    await until('every shard to settle', timeoutMs, () => settled(cluster));
  } catch (err) {
    const stuck = [...readAll(cluster)].map(
      ([s, snap]) =>
        `${s}: pending=${snap.pendingRows} locks=${snap.locks} prepared=${JSON.stringify(snap.prepared, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`,
    );
    stuck.push(`coordinator: COMMITs without END: ${unfinishedCommits(cluster).join(', ') || 'none'}`);
    throw new Error(`${(err as Error).message}\n${stuck.join('\n')}`);
  }
  return Date.now() - started;
}

/**
 * Invariants 1 and 2 over the files: no negative balance; the total is conserved; every shard's
 * balances moved by exactly its ledger (so no half-applied transfer on a shard); every transfer is
 * on both its shards or on neither (atomicity across shards); every one acknowledged COMMITTED is
 * there and every one acknowledged ABORTED is not; no ledger row the workload did not send.
 */
export function checkShards(cluster: Cluster, transfers: readonly Transfer[]): void {
  const snaps = readAll(cluster);
  let total = 0n;
  for (const [shard, snap] of snaps) {
    let shardTotal = 0n;
    for (const [id, balance] of snap.balances) {
      expect(balance, `${shard} account ${id}`).toBeGreaterThanOrEqual(0n);
      shardTotal += balance;
    }
    const ledgerSum = [...snap.ledger.values()].reduce((a, b) => a + b, 0n);
    expect(shardTotal - SHARD_TOTAL, `${shard}: balances moved by its ledger`).toBe(ledgerSum);
    total += shardTotal;
  }
  expect(total, 'total balance').toBe(SHARD_TOTAL * BigInt(SHARDS.length));
  const sent = new Map(transfers.map((t) => [t.id, t]));
  for (const [shard, snap] of snaps) {
    for (const id of snap.ledger.keys())
      expect(sent.has(id), `${shard} ledger row ${id} was sent`).toBe(true);
  }
  for (const t of transfers) {
    const onFrom = snaps.get(t.from)!.ledger.has(t.id);
    const onTo = snaps.get(t.to)!.ledger.has(t.id);
    expect(onFrom, `transfer ${t.id} on ${t.from} iff on ${t.to}`).toBe(onTo);
    if (t.outcome === 'COMMITTED')
      expect(onFrom, `transfer ${t.id} acknowledged COMMITTED is present`).toBe(true);
    if (t.outcome === 'ABORTED')
      expect(onFrom, `transfer ${t.id} acknowledged ABORTED is absent`).toBe(false);
  }
}
