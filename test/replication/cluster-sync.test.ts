/**
 * Sync WAL shipping end to end, over real processes: a coordinator and two participants started
 * through the CLI with `--replica s3://… --replication sync`, a real s3rver on loopback, transfers
 * through the coordinator's public API.
 *
 * - A lost disk: SIGKILL a participant mid-load, delete its shard file, WAL and shm, restore it
 *   with `npx twopc shard restore` (a real CLI process), restart it: every transfer acknowledged
 *   COMMITTED is on that shard, no transfer is torn, the totals are conserved, the file is sound
 *   (DESIGN.md invariant 2, in sync mode "even after the loss of a shard's disk").
 * - The replica down: transactions abort promptly (a vote the replica cannot confirm is refused),
 *   never hang, and commit again once it is back; nothing acknowledged is missing from it.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom, seedFromEnv } from '../../common/random.ts';
import { runCli } from '../helpers/cli.ts';
import { ACCOUNTS_SCHEMA, Cluster } from '../integration/cluster.ts';
import { rawClient, type RawClient } from '../integration/raw-client.ts';
import { S3rverProcess, removeShardFiles, tempDir, useS3rverCredentials } from '../wal/helpers.ts';
import {
  INITIAL_SHARD_TOTAL,
  SHARDS,
  eventually,
  expectNoTornTransaction,
  idsWith,
  runWorkload,
  seedAccounts,
  shardState,
  sleep,
  transfer,
} from './transfers.ts';

/** Start-up of s3rver and three CLI processes, a workload, a restore and a restart on a busy 2-core box. */
const testTimeoutMs = 180_000;
/** Committed transfers before the kill: enough to span several group commits and uploads. */
const committedBeforeKill = 120;
/** How long a participant may take to resolve what the restore left in doubt. */
const convergeTimeoutMs = 60_000;
/** A vote waits DURABLE_WAIT_MS_DEFAULT (1.5 s) for the replica, then the coordinator aborts. */
const abortAnswerMsMax = 10_000;

let s3: S3rverProcess;
let tmp: string;
let cluster: Cluster | undefined;
let client: RawClient | undefined;

beforeAll(async () => {
  useS3rverCredentials(); // the participants and the restore CLI inherit them
  s3 = await S3rverProcess.start();
  tmp = tempDir('twopc-cluster-sync-');
});
afterEach(async () => {
  client?.close();
  client = undefined;
  await cluster?.stop();
  cluster = undefined;
});
afterAll(async () => {
  await s3?.destroy();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function startCluster(prefix: string): Promise<{ url: string }> {
  const url = s3.url(prefix);
  const args = ['--replica', url, '--replication', 'sync'];
  cluster = await Cluster.start({
    shards: SHARDS,
    schemaSql: ACCOUNTS_SCHEMA,
    participantArgs: { s1: args, s2: args },
  });
  client = rawClient(cluster.coordinatorAddress);
  await seedAccounts(client);
  return { url };
}

function integrityOf(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

describe('sync WAL shipping over real processes', () => {
  it(
    'a participant whose disk is lost mid-load is restored with every acknowledged commit',
    async () => {
      const { url } = await startCluster('lost-disk');
      const c = cluster as Cluster;
      const api = client as RawClient;
      const seed = seedFromEnv();
      const workload = runWorkload(api, seed, 4);
      try {
        const reached = await eventually(async () => workload.committed() >= committedBeforeKill, 90_000);
        expect(reached, `only ${workload.committed()} transfers committed`).toBe(true);
        await c.kill('s1'); // mid-load: transfers in flight on s1 are cut off at any step
        await sleep(500);
        await workload.stop();

        const file = c.shardFile('s1');
        removeShardFiles(file);
        const restore = await runCli([
          'shard',
          'restore',
          '--replica',
          url,
          '--shard',
          's1',
          '--output',
          file,
        ]);
        expect(restore.code, restore.stderr).toBe(0);
        expect(restore.stdout).toMatch(/integrity\s+ok/);
        await c.restart('s1');

        const committed = idsWith(workload, 'COMMITTED');
        const aborted = idsWith(workload, 'ABORTED');
        expect(committed.length).toBeGreaterThanOrEqual(committedBeforeKill);
        // The restored shard resolves what it held in doubt (asking the coordinator) and gets the
        // commits it had not applied re-sent: wait until both shards hold the same transfers.
        const converged = await eventually(async () => {
          const [s1, s2] = await Promise.all([shardState(api, 's1'), shardState(api, 's2')]);
          return committed.every((id) => s1.ledger.has(id)) && sameKeys(s1.ledger, s2.ledger);
        }, convergeTimeoutMs);
        const [s1, s2] = await Promise.all([shardState(api, 's1'), shardState(api, 's2')]);
        const missing = committed.filter((id) => !s1.ledger.has(id));
        expect(missing, `acknowledged COMMITTED but missing on the restored shard (seed ${seed})`).toEqual(
          [],
        );
        expect(converged).toBe(true);
        expect([...s1.ledger.keys()].sort()).toEqual([...s2.ledger.keys()].sort()); // atomic
        expect(aborted.filter((id) => s1.ledger.has(id))).toEqual([]);
        for (const state of [s1, s2]) expectNoTornTransaction(state);
        expect(s1.balanceTotal + s2.balanceTotal).toBe(2n * INITIAL_SHARD_TOTAL);
        expect(integrityOf(file)).toBe('ok');
      } finally {
        await workload.stop();
      }
    },
    testTimeoutMs,
  );

  it(
    'with the replica down, transactions abort promptly instead of hanging, and commit again once it is back',
    async () => {
      const { url } = await startCluster('replica-down');
      const api = client as RawClient;
      const rnd = seededRandom(seedFromEnv());
      expect((await transfer(api, 'before', 's1', rnd)).outcome).toBe('COMMITTED');

      await s3.stop();
      for (const id of ['down-1', 'down-2', 'down-3']) {
        const started = Date.now();
        const r = await transfer(api, id, 's1', rnd);
        expect(r.outcome, r.reason).toBe('ABORTED');
        expect(r.reason).toMatch(/replica did not confirm/);
        expect(Date.now() - started).toBeLessThan(abortAnswerMsMax);
      }

      await s3.start();
      // Shipping retries with backoff (at most 5 s apart): the next transfers commit again.
      let after: string | undefined;
      const back = await eventually(async () => {
        const id = `after-${Date.now()}`;
        if ((await transfer(api, id, 's2', rnd)).outcome !== 'COMMITTED') return false;
        after = id;
        return true;
      }, 60_000);
      expect(back).toBe(true);

      const [s1, s2] = await Promise.all([shardState(api, 's1'), shardState(api, 's2')]);
      for (const state of [s1, s2]) {
        expect(state.ledger.has('before')).toBe(true);
        expect(state.ledger.has(after as string)).toBe(true);
        for (const id of ['down-1', 'down-2', 'down-3']) expect(state.ledger.has(id)).toBe(false);
        expectNoTornTransaction(state);
      }
      // Nothing acknowledged is missing from the replica: restore each shard from it and look (the
      // last commit ack may still be on its way up: the shard had it PREPARED, durably, before).
      for (const shard of SHARDS) {
        const output = `${tmp}/${shard}-after-outage.db`;
        const restored = await eventually(async () => {
          const r = await runCli([
            'shard',
            'restore',
            '--replica',
            url,
            '--shard',
            shard,
            '--output',
            output,
            '--force',
          ]);
          expect(r.code, r.stderr).toBe(0);
          const ids = ledgerIds(output);
          return ids.includes('before') && ids.includes(after as string);
        }, 30_000);
        expect(restored, `${shard}: the replica lacks a transfer acknowledged COMMITTED`).toBe(true);
      }
    },
    testTimeoutMs,
  );
});

function ledgerIds(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT transfer_id FROM ledger').all() as { transfer_id: string }[]).map(
      (row) => row.transfer_id,
    );
  } finally {
    db.close();
  }
}

function sameKeys(a: ReadonlyMap<string, unknown>, b: ReadonlyMap<string, unknown>): boolean {
  return a.size === b.size && [...a.keys()].every((k) => b.has(k));
}
