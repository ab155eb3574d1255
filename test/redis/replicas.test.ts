/**
 * Coordinator replicas sharing one Redis decision log (coordinator/replicas.ts), over real processes:
 * two `npx twopc coordinator --decision-log redis://…` replicas, three participants that know both
 * (`--coordinator A,B`), a transfer workload on each replica, and a redis-server with AOF fsync always.
 *
 * 1. One replica is SIGKILLed right after it logged a COMMIT (failpoint crash: so it certainly leaves
 *    an unfinished COMMIT and prepares behind), then Redis is SIGKILLed and restarted from its AOF
 *    mid-load: the other replica takes over, finishes all of the dead one's transactions, and every
 *    acknowledged commit is on both its shards; the total is conserved. Without the takeover the dead
 *    replica's COMMIT stays unfinished and its prepares hold their locks: "settle" times out.
 * 2. One replica, stalled before logging each COMMIT (a delay failpoint), is SIGSTOPped past its
 *    lease; the other takes it over; after SIGCONT it acts on nothing: its COMMIT writes are refused
 *    (fenced), it exits, and no transaction is COMMITTED in the log while ABORTED on a shard.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { seedFromEnv } from '../../common/random.ts';
import { RedisDecisionLog } from '../../coordinator/decision-log/redis.ts';
import { Cluster, replicaName } from '../integration/cluster.ts';
import { rawClient, type RawClient } from '../integration/raw-client.ts';
import {
  RECOVERY_SCHEMA,
  SHARDS,
  convergenceMsMax,
  txnTimeoutMs,
  until,
} from '../recovery/recovery-cluster.ts';
import { checkShards, txnStateInFile } from '../recovery/shard-files.ts';
import {
  learnKeyedOutcomes,
  startWorkload,
  summarize,
  type Workload,
} from '../recovery/transfer-workload.ts';
import { runCli } from '../helpers/cli.ts';
import { RedisServer } from './redis-server.ts';
import { settledOnRedis } from './settled.ts';

/** Short leases so a takeover happens within a test: named, and passed as the real flags. */
const leaseTtlMs = 1_500;
const leaseRenewMs = 300;
const phaseWaitMsMax = 60_000;
const commitsPerPhase = 20;
/** Room for every wait above to time out on its own, with its own message. */
const testTimeoutMs = 180_000;

let redis: RedisServer | undefined;
let cluster: Cluster | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await cluster?.stop();
  await redis?.cleanup();
  cluster = undefined;
  redis = undefined;
});

async function startReplicas(env: Record<string, Record<string, string>> = {}): Promise<Cluster> {
  redis = await RedisServer.start();
  cluster = await Cluster.start({
    shards: SHARDS,
    schemaSql: RECOVERY_SCHEMA,
    coordinatorReplicas: 2,
    env,
    coordinatorArgs: [
      '--txn-timeout-ms',
      String(txnTimeoutMs),
      '--decision-log',
      redis.url,
      '--lease-ttl-ms',
      String(leaseTtlMs),
      '--lease-renew-ms',
      String(leaseRenewMs),
    ],
  });
  return cluster;
}

function client(name: string): RawClient {
  const c = rawClient((cluster as Cluster).address(name));
  clients.push(c);
  return c;
}

/** Nothing pending, locked or PREPARED on any shard, and no COMMIT without END in the log. */
const settled = (): Promise<boolean> => settledOnRedis(cluster as Cluster, (redis as RedisServer).url);

/** Every COMMIT in the log is COMMITTED (or never seen) on each of its shards: never ABORTED. */
async function logAgreesWithShards(): Promise<number> {
  const log = await RedisDecisionLog.open((redis as RedisServer).url, { mode: 'read-only' });
  try {
    const commits = (
      await log.list({ statuses: ['COMMITTED', 'COMMITTING'], afterTxnId: '', limit: 100_000 })
    ).filter((r) => r.decisionSeq > 0n);
    for (const r of commits) {
      for (const shard of r.shards) {
        const state = txnStateInFile(cluster as Cluster, shard as (typeof SHARDS)[number], r.txnId).state;
        expect(state, `${r.txnId} is COMMITTED in the log; on ${shard} it is ${state}`).not.toBe('ABORTED');
      }
    }
    return commits.length;
  } finally {
    await log.close();
  }
}

function stderrOf(name: string): string {
  return (cluster as Cluster).processes.get(name)?.stderr ?? '';
}

function hasExited(name: string): boolean {
  const p = (cluster as Cluster).processes.get(name)?.proc;
  return p !== undefined && (p.exitCode !== null || p.signalCode !== null);
}

function dump(what: string, seed: number): void {
  console.error(
    `${what} failed; reproduce with TWOPC_SEED=${seed}\n` +
      [...(cluster as Cluster).processes.values()].map((p) => `--- ${p.name}\n${p.stderr}`).join('\n'),
  );
}

async function phase(workloads: readonly Workload[], what: string): Promise<void> {
  const total = () => workloads.reduce((n, w) => n + w.committed(), 0);
  const from = total();
  await until(what, phaseWaitMsMax, () => total() >= from + commitsPerPhase);
}

describe('coordinator replicas on one Redis log', () => {
  it(
    'a replica SIGKILLed mid-commit is taken over, Redis restarts mid-load: nothing acknowledged is lost',
    async () => {
      const seed = seedFromEnv();
      const dead = replicaName(1);
      await startReplicas({ [dead]: { TWOPC_FAILPOINTS: 'coordinator.after-decision-logged=15*crash' } });
      const survivor = client(replicaName(0));
      // A budget the survivor cannot use up before the last phase: while the dead replica's prepares hold
      // their locks (until the takeover) its transfers abort within milliseconds; stop() ends it.
      const onSurvivor = startWorkload(survivor, {
        seed,
        tag: 'ra',
        workers: 4,
        transfersPerWorkerMax: 3_000,
      });
      const onDead = startWorkload(client(dead), {
        seed: seed + 100,
        tag: 'rb',
        workers: 4,
        transfersPerWorkerMax: 300,
      });
      try {
        await until(`${dead} to crash at its failpoint`, phaseWaitMsMax, () => hasExited(dead));
        await onDead.stop();
        await phase([onSurvivor], 'commits on the survivor after the crash');
        await redis?.kill('SIGKILL');
        await sleep(300);
        await redis?.restart();
        await phase([onSurvivor], 'commits after the Redis restart');
        await onSurvivor.stop();
        const transfers = [...onSurvivor.transfers, ...onDead.transfers];
        await learnKeyedOutcomes(survivor, transfers);
        await until('every shard and the log to settle', convergenceMsMax, settled);
        checkShards(cluster as Cluster, transfers);
        expect(await logAgreesWithShards()).toBeGreaterThan(0);
        const counts = summarize(transfers);
        expect(counts.COMMITTED).toBeGreaterThanOrEqual(2 * commitsPerPhase);
        expect(stderrOf(replicaName(0))).toContain('took over a coordinator replica');
        // The recovery CLI reads the Redis log, and asks the replicas (the dead one is skipped).
        const url = (redis as RedisServer).url;
        const logged = await runCli(['recover', 'log', '--log', url, '--limit', '0', '--json']);
        expect(logged.code, logged.stderr).toBe(0);
        expect(logged.stdout).toContain('"COMMITTED"');
        const replicas = `${(cluster as Cluster).address(replicaName(0))},${(cluster as Cluster).address(dead)}`;
        const status = await runCli([
          'recover',
          'status',
          '--coordinator',
          replicas,
          '--decision-log',
          url,
          ...SHARDS.flatMap((s) => ['--participant', `${s}=${(cluster as Cluster).address(s)}`]),
        ]);
        expect(status.code, status.stderr).toBe(0);
        expect(status.stdout).toContain('No transactions in doubt');
        console.log(`replicas kill (seed ${seed}): ${JSON.stringify(counts)}`);
      } catch (err) {
        await Promise.all([onSurvivor.stop(), onDead.stop()]);
        dump('replicas kill', seed);
        throw err;
      }
    },
    testTimeoutMs,
  );

  it(
    'a replica SIGSTOPped past its lease is fenced: after SIGCONT it acts on nothing it no longer owns',
    async () => {
      const seed = seedFromEnv();
      const paused = replicaName(1);
      // The paused replica stalls 150 ms before logging each COMMIT (from its 5th on), so the SIGSTOP
      // almost surely lands while it holds all-YES transactions whose COMMIT is not yet in the log.
      await startReplicas({
        [paused]: { TWOPC_FAILPOINTS: 'coordinator.before-decision-logged=5*delay(150)' },
      });
      const other = client(replicaName(0));
      const onOther = startWorkload(other, { seed, tag: 'sa', workers: 4, transfersPerWorkerMax: 300 });
      const onPaused = startWorkload(client(paused), {
        seed: seed + 100,
        tag: 'sb',
        workers: 4,
        transfersPerWorkerMax: 300,
      });
      let afterWake: Workload | undefined;
      try {
        await until('the paused replica to reach its stall', phaseWaitMsMax, () => onPaused.committed() >= 6);
        (cluster as Cluster).signal(paused, 'SIGSTOP');
        await until('the takeover', phaseWaitMsMax, () =>
          stderrOf(replicaName(0)).includes('took over a coordinator replica'),
        );
        // Let the taker abort the paused replica's prepares before it wakes.
        await sleep(3 * leaseTtlMs);
        (cluster as Cluster).signal(paused, 'SIGCONT');
        await until(`${paused} to stop after it woke`, phaseWaitMsMax, () => hasExited(paused));
        expect(stderrOf(paused)).toContain('fenced');
        await onPaused.stop();
        // A fresh workload: `onOther` has a fixed budget of transfers, and from the SIGSTOP to the
        // paused replica's exit (takeover, 3 leases, wake-up: ~7 s) a healthy replica can spend all
        // of it (fast conflict aborts on the paused replica's locks included). It would then make no
        // commit here however healthy the replica is, and this wait would time out.
        afterWake = startWorkload(other, {
          seed: seed + 200,
          tag: 'sc',
          workers: 4,
          transfersPerWorkerMax: 300,
        });
        await phase([afterWake], 'commits on the remaining replica');
        await Promise.all([onOther.stop(), afterWake.stop()]);
        // Holds at any moment: checked before waiting, so a broken fence fails here, with the txn id.
        await logAgreesWithShards();
        const transfers = [...onOther.transfers, ...onPaused.transfers, ...afterWake.transfers];
        await learnKeyedOutcomes(other, transfers);
        await until('every shard and the log to settle', convergenceMsMax, settled);
        checkShards(cluster as Cluster, transfers);
        await logAgreesWithShards();
        console.log(`replicas pause (seed ${seed}): ${JSON.stringify(summarize(transfers))}`);
      } catch (err) {
        (cluster as Cluster).signal(paused, 'SIGCONT');
        await Promise.all([onOther.stop(), onPaused.stop(), afterWake?.stop()]);
        dump('replicas pause', seed);
        throw err;
      }
    },
    testTimeoutMs,
  );
});
