/**
 * Async WAL shipping end to end, over real processes: a coordinator and two participants started
 * through the CLI with `--replica file://DIR --replication async --sync-interval 200`, transfers
 * through the coordinator, SIGKILL of a participant mid-load, then `npx twopc shard restore` (a real
 * CLI process) of its shard from the replica. Async mode promises less than sync: the restore is a
 * PREFIX of the shard's history (every transaction whole, in commit order, nothing skipped), behind
 * by about the interval — not every acknowledged commit.
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
  SHARDS,
  eventually,
  expectNoTornTransaction,
  idsWith,
  runWorkload,
  seedAccounts,
  sleep,
  type ShardState,
} from './transfers.ts';

const testTimeoutMs = 180_000;
const syncIntervalMs = 200;
const committedBeforeKill = 150;
/**
 * A transfer acknowledged this long before the kill must be in the restore. Generous on purpose: the
 * shard commits up to commitVisibilityWaitMs (2 s) after the client's answer in the worst case, then
 * waits up to one interval and one upload on a loaded 2-core machine.
 */
const lagMsMax = 5_000;

let tmp: string;
let cluster: Cluster | undefined;
let client: RawClient | undefined;

beforeAll(() => {
  tmp = tempDir('twopc-cluster-async-');
});
afterAll(async () => {
  client?.close();
  await cluster?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The ledger in commit order (rows are only ever inserted, at commit: rowid order is commit order). */
function ledgerInCommitOrder(file: string): ShardState & { readonly order: string[] } {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare('SELECT transfer_id, amount FROM ledger ORDER BY rowid').all() as {
      transfer_id: string;
      amount: number;
    }[];
    const balances = db.prepare('SELECT balance FROM accounts').all() as { balance: number }[];
    expect(String(db.pragma('integrity_check', { simple: true }))).toBe('ok');
    return {
      order: rows.map((r) => r.transfer_id),
      ledger: new Map(rows.map((r) => [r.transfer_id, BigInt(r.amount)])),
      balanceTotal: balances.reduce((sum, r) => sum + BigInt(r.balance), 0n),
    };
  } finally {
    db.close();
  }
}

describe('async WAL shipping over real processes', () => {
  it(
    'a participant killed mid-load restores to a prefix of its history, about one interval behind',
    async () => {
      const replicaDir = path.join(tmp, 'replica');
      const url = `file://${replicaDir}`;
      const args = ['--replica', url, '--replication', 'async', '--sync-interval', String(syncIntervalMs)];
      cluster = await Cluster.start({
        shards: SHARDS,
        schemaSql: ACCOUNTS_SCHEMA,
        participantArgs: { s1: args, s2: args },
      });
      client = rawClient(cluster.coordinatorAddress);
      await seedAccounts(client);
      const workload = runWorkload(client, seedFromEnv(), 4);
      const startedAtMs = Date.now();
      let killedAtMs = 0;
      try {
        // Long enough that some commits are older than lagMsMax at the kill.
        const reached = await eventually(
          async () => workload.committed() >= committedBeforeKill && Date.now() - startedAtMs > 2 * lagMsMax,
          90_000,
        );
        expect(reached, `only ${workload.committed()} transfers committed`).toBe(true);
        await cluster.kill('s1');
        killedAtMs = Date.now();
        await sleep(300);
      } finally {
        await workload.stop();
      }

      // What the dead shard's own disk holds (SQLite recovers its WAL on open), then the restore.
      const original = ledgerInCommitOrder(cluster.shardFile('s1'));
      const output = path.join(tmp, 's1-restored.db');
      const r = await runCli(['shard', 'restore', '--replica', url, '--shard', 's1', '--output', output]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/integrity\s+ok/);
      const restored = ledgerInCommitOrder(output);

      // A prefix: the first N commits of the shard, in order, nothing skipped and nothing torn.
      expect(restored.order).toEqual(original.order.slice(0, restored.order.length));
      expectNoTornTransaction(restored);
      expectNoTornTransaction(original);
      // About one interval behind: everything acknowledged well before the kill was shipped.
      const old = idsWith(workload, 'COMMITTED').filter(
        (id) => (workload.outcomes.get(id)?.atMs ?? Infinity) < killedAtMs - lagMsMax,
      );
      expect(old.length).toBeGreaterThan(0);
      expect(old.filter((id) => !restored.ledger.has(id))).toEqual([]);
      expect(restored.order.length).toBeGreaterThan(0);
    },
    testTimeoutMs,
  );
});
