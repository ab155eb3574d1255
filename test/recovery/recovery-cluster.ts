/**
 * The crash-recovery suites' cluster: 3 shards of real processes (test/integration/cluster.ts) whose
 * participants know the coordinator's address, seeded accounts, and helpers to watch processes
 * die and bring them back. The workload is in transfer-workload.ts, the checkers in shard-files.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, type ClusterProcess } from '../integration/cluster.ts';
import { rawClient, type RawClient } from '../integration/raw-client.ts';

export const SHARDS = ['s1', 's2', 's3'] as const;
export type Shard = (typeof SHARDS)[number];
export const ACCOUNTS_PER_SHARD = 8;
export const INITIAL_BALANCE = 1_000n;
export const SHARD_TOTAL = INITIAL_BALANCE * BigInt(ACCOUNTS_PER_SHARD);

/** Every in-doubt transaction must be resolved this long after the faults healed (invariant 5). */
export const convergenceMsMax = 30_000;
/** A failpoint set a few transfers into the workload must fire within this long. */
export const crashWaitMsMax = 30_000;
/** Short transactions: a stuck one frees its locks sooner, and the suite stays fast. */
export const txnTimeoutMs = 3_000;

/** Seeded at every start (INSERT OR IGNORE), so the workload needs no set-up transaction. */
export const RECOVERY_SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
  id INTEGER PRIMARY KEY,
  balance INTEGER NOT NULL CHECK (balance >= 0)
);
CREATE TABLE IF NOT EXISTS ledger (
  transfer_id TEXT PRIMARY KEY,
  amount INTEGER NOT NULL
);
INSERT OR IGNORE INTO accounts (id, balance) VALUES
${Array.from({ length: ACCOUNTS_PER_SHARD }, (_, i) => `  (${i + 1}, ${INITIAL_BALANCE})`).join(',\n')};
`;

export interface RecoveryCluster {
  readonly cluster: Cluster;
  readonly client: RawClient;
  /** stderr of every process incarnation that has died so far (for failure reports). */
  readonly deadStderr: string[];
  stop(): Promise<void>;
}

export interface RecoveryClusterOptions {
  /**
   * Start the participants with `--coordinator` (default true, as `twopc dev` and any real
   * deployment do). Without it a participant can only ask its peers, and a transaction every shard
   * voted YES on is settled by the coordinator's in-doubt sweep alone.
   */
  readonly participantsKnowCoordinator?: boolean;
}

/** Starts the cluster with failpoints (or other environment) per process name. */
export async function startRecoveryCluster(
  env: Readonly<Record<string, Readonly<Record<string, string>>>> = {},
  options: RecoveryClusterOptions = {},
): Promise<RecoveryCluster> {
  const cluster = await Cluster.start({
    shards: SHARDS,
    schemaSql: RECOVERY_SCHEMA,
    env,
    coordinatorArgs: ['--txn-timeout-ms', String(txnTimeoutMs)],
    participantsKnowCoordinator: options.participantsKnowCoordinator ?? true,
  });
  const client = rawClient(cluster.coordinatorAddress);
  return {
    cluster,
    client,
    deadStderr: [],
    stop: async () => {
      client.close();
      await cluster.stop();
    },
  };
}

export function member(cluster: Cluster, name: string): ClusterProcess {
  const p = cluster.processes.get(name);
  if (p === undefined) throw new Error(`no process ${name}`);
  return p;
}

export function hasExited(p: ClusterProcess): boolean {
  return p.proc.exitCode !== null || p.proc.signalCode !== null;
}

/** Resolves with how the process ended; rejects if it is still running after `timeoutMs`. */
export function waitForExit(rc: RecoveryCluster, name: string, timeoutMs: number): Promise<string> {
  const p = member(rc.cluster, name);
  const record = () => {
    rc.deadStderr.push(`--- ${name} (pid ${p.proc.pid}) ---\n${p.stderr}`);
    return String(p.proc.signalCode ?? p.proc.exitCode);
  };
  if (hasExited(p)) return Promise.resolve(record());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} still running after ${timeoutMs} ms:\n${p.stderr}`)),
      timeoutMs,
    );
    p.proc.once('exit', () => {
      clearTimeout(timer);
      resolve(record());
    });
  });
}

/** Restarts a dead process with no failpoints, whatever the cluster was started with. */
export function restartClean(rc: RecoveryCluster, name: string): Promise<void> {
  return rc.cluster.restart(name, { TWOPC_FAILPOINTS: '' });
}

/** Polls until `cond` holds; fails with `what` after `timeoutMs`. */
export async function until(
  what: string,
  timeoutMs: number,
  cond: () => boolean | Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}
