/**
 * End to end over real processes: `npx twopc coordinator --decision-log redis://…` (its own
 * redis-server, AOF fsync always) and three participants, under a concurrent transfer workload
 * (test/recovery/transfer-workload.ts). Mid-load the coordinator is SIGKILLed and restarted, then
 * Redis itself is SIGKILLed and restarted from its AOF. Afterwards every shard settles, every
 * transfer acknowledged COMMITTED is on both its shards, every one acknowledged ABORTED on neither,
 * keyed transfers whose answer was lost get their original outcome, and the total is conserved.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { seedFromEnv } from '../../common/random.ts';
import { RedisDecisionLog } from '../../coordinator/decision-log/redis.ts';
import { Cluster } from '../integration/cluster.ts';
import { rawClient, type RawClient } from '../integration/raw-client.ts';
import {
  RECOVERY_SCHEMA,
  SHARDS,
  convergenceMsMax,
  txnTimeoutMs,
  until,
} from '../recovery/recovery-cluster.ts';
import { checkShards } from '../recovery/shard-files.ts';
import { learnKeyedOutcomes, startWorkload, summarize } from '../recovery/transfer-workload.ts';
import { RedisServer } from './redis-server.ts';
import { settledOnRedis } from './settled.ts';

/** Commits to see between two faults, so each fault lands mid-load. */
const commitsPerPhase = 25;
const phaseWaitMsMax = 60_000;

let redis: RedisServer | undefined;
let cluster: Cluster | undefined;
let client: RawClient | undefined;

afterAll(async () => {
  client?.close();
  await cluster?.stop();
  await redis?.cleanup();
});

/** Nothing pending, locked or PREPARED on any shard, and no COMMIT without END in the log. */
const settled = (): Promise<boolean> => settledOnRedis(cluster as Cluster, (redis as RedisServer).url);

describe('coordinator on a Redis decision log', () => {
  it('survives SIGKILL of the coordinator and of Redis under load: no acknowledged commit lost, total conserved', async () => {
    const seed = seedFromEnv();
    redis = await RedisServer.start();
    cluster = await Cluster.start({
      shards: SHARDS,
      schemaSql: RECOVERY_SCHEMA,
      coordinatorArgs: ['--txn-timeout-ms', String(txnTimeoutMs), '--decision-log', redis.url],
    });
    client = rawClient(cluster.coordinatorAddress);
    const workload = startWorkload(client, { seed, tag: 'rl', workers: 6, transfersPerWorkerMax: 400 });
    const phase = async (what: string) => {
      const from = workload.committed();
      await until(what, phaseWaitMsMax, () => workload.committed() >= from + commitsPerPhase);
    };
    try {
      await phase('commits before any fault');
      await cluster.kill('coordinator');
      await cluster.restart('coordinator');
      await phase('commits after the coordinator restart');
      await redis.kill('SIGKILL');
      await sleep(500);
      await redis.restart();
      await phase('commits after the Redis restart');
      await workload.stop();
      await learnKeyedOutcomes(client, workload.transfers);
      await until('every shard and the log to settle', convergenceMsMax, settled);
      checkShards(cluster, workload.transfers);
      // The decisions were in Redis, not in a SQLite file; each coordinator start took a new epoch, and
      // the restarted coordinator took over its previous incarnation (a claim takes one more, for its
      // messages: coordinator/replicas.ts).
      expect(existsSync(path.join(cluster.dataDir, 'coordinator', 'decisions.db'))).toBe(false);
      // The claim comes once the old incarnation's lease has expired (up to its TTL after the kill);
      // on a fast run everything above can settle before that.
      const stderr = () => cluster?.processes.get('coordinator')?.stderr ?? '';
      await until('the restarted coordinator to take over its old lease', phaseWaitMsMax, () =>
        stderr().includes('took over a coordinator replica'),
      );
      expect(redis.cli('GET', '{twopc}:epoch')).toBe('3');
      const log = await RedisDecisionLog.open(redis.url, { mode: 'read-only' });
      try {
        const logged = await log.list({ statuses: ['COMMITTED'], afterTxnId: '', limit: 10_000 });
        expect(logged.filter((r) => r.decisionSeq > 0n).length).toBeGreaterThan(0);
      } finally {
        await log.close();
      }
      const counts = summarize(workload.transfers);
      expect(counts.COMMITTED).toBeGreaterThanOrEqual(3 * commitsPerPhase);
      console.log(`redis e2e (seed ${seed}): ${JSON.stringify(counts)}`);
    } catch (err) {
      await workload.stop();
      console.error(
        `redis e2e failed; reproduce with TWOPC_SEED=${seed}\n` +
          [...cluster.processes.values()].map((p) => `--- ${p.name}\n${p.stderr}`).join('\n'),
      );
      throw err;
    }
  });
});
