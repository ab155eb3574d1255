/**
 * Shared set-up for the WAL shipping suites: temp dirs, a real ShardStore on a real file, a real
 * s3rver child process on a free loopback port (stoppable and restartable, its own data dir), and
 * transactions driven through the store's prepare/commit the way the participant drives them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { DecisionMessage, PrepareMessage } from '../../common/protocol.ts';
import type { RestoreResult } from '../../participant/restore/restore.ts';
import { ShardStore } from '../../participant/shard-store.ts';
import type { WalShipperConfig } from '../../participant/wal/config.ts';
import { startWalShipping, type WalShipping } from '../../participant/wal/start-wal-shipping.ts';
import { freePort } from '../helpers/ports.ts';
import { canConnect } from '../../common/ports.ts';

export const BUCKET = 'twopc-test';

/** Two tables written by every transaction: a torn transaction shows as a row in one but not the other. */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS a (k INTEGER PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS b (k INTEGER PRIMARY KEY, v TEXT NOT NULL);
`;

export function tempDir(prefix = 'twopc-wal-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A store as the participant opens it when WAL shipping is on: the shipper owns checkpoints. */
export function openStore(file: string, shard = 'shard-a'): ShardStore {
  return ShardStore.open({ path: file, shard, schemaSql: SCHEMA, walAutocheckpointPages: 0 });
}

const payload = 'x'.repeat(200);

function prepare(txnId: string, k: number): PrepareMessage {
  return {
    txnId,
    ops: [
      { table: 'a', kind: 'INSERT', key: { k: BigInt(k) }, values: { v: `${txnId}${payload}` } },
      { table: 'b', kind: 'INSERT', key: { k: BigInt(k) }, values: { v: `${txnId}${payload}` } },
    ],
    reads: [],
    onePhase: false,
    readOnlyOk: false,
    peers: [{ shard: 'shard-b', address: '127.0.0.1:1' }],
    coordinatorId: 'coord-test',
    epoch: 1n,
    deadlineMs: Date.now() + 60_000,
  };
}

/** Prepares and commits transactions `first .. first+count-1` (txn k writes a(k) and b(k)) in two local commits. */
/** Opens the shard at `file` and ships its WAL to `url` in sync mode (the tests' usual set-up). */
export async function shipSync(
  file: string,
  url: string,
  options: { shard?: string; config?: Partial<WalShipperConfig> } = {},
): Promise<{ store: ShardStore; shipping: WalShipping }> {
  const shard = options.shard ?? 'shard-a';
  const store = openStore(file, shard);
  const shipping = await startWalShipping({
    dbPath: file,
    shard,
    replicaUrl: url,
    mode: 'sync',
    ...(options.config ? { config: options.config } : {}),
  });
  return { store, shipping };
}

export function commitRange(store: ShardStore, first: number, count: number, seqBase = 0): void {
  const ids = Array.from({ length: count }, (_, i) => first + i);
  const votes = store.prepareBatch(ids.map((k) => prepare(`t${k}`, k)));
  for (const v of votes) if (v.vote !== 'YES') throw new Error(`expected YES, got ${JSON.stringify(v)}`);
  const decisions: DecisionMessage[] = ids.map((k) => ({
    txnId: `t${k}`,
    commit: true,
    decisionSeq: BigInt(seqBase + k),
    epoch: 1n,
  }));
  store.decideBatch(decisions);
}

/** Prepares and commits transaction `txnId` (writing a(k) and b(k)) with decision seq `seq`. */
export function commitTxn(store: ShardStore, txnId: string, k: number, seq: bigint): void {
  const [vote] = store.prepareBatch([prepare(txnId, k)]);
  if (vote?.vote !== 'YES') throw new Error(`expected YES, got ${JSON.stringify(vote)}`);
  store.decideBatch([{ txnId, commit: true, decisionSeq: seq, epoch: 1n }]);
}

/** Commits transaction `txnId` writing a(k) and b(k) in one phase (one local commit, no seq). */
export function commitOnePhase(store: ShardStore, txnId: string, k: number): void {
  const [vote] = store.prepareBatch([{ ...prepare(txnId, k), onePhase: true }]);
  if (vote?.vote !== 'COMMITTED_ONE_PHASE')
    throw new Error(`expected a one-phase commit, got ${JSON.stringify(vote)}`);
}

/** Prepares without deciding: the transaction stays in doubt. */
export function prepareOnly(store: ShardStore, k: number): void {
  const [vote] = store.prepareBatch([prepare(`t${k}`, k)]);
  if (vote?.vote !== 'YES') throw new Error(`expected YES, got ${JSON.stringify(vote)}`);
}

export interface ShardContent {
  readonly a: number[];
  readonly b: number[];
  readonly prepared: string[];
  readonly integrity: string;
}

export function readShard(file: string): ShardContent {
  const db = new Database(file, { readonly: true });
  try {
    const keys = (t: string) =>
      (db.prepare(`SELECT k FROM ${t} ORDER BY k`).all() as { k: number }[]).map((r) => r.k);
    return {
      a: keys('a'),
      b: keys('b'),
      prepared: (
        db.prepare(`SELECT txn_id FROM _twopc_txns WHERE state = 'PREPARED' ORDER BY txn_id`).all() as {
          txn_id: string;
        }[]
      ).map((r) => r.txn_id),
      integrity: String(db.pragma('integrity_check', { simple: true })),
    };
  } finally {
    db.close();
  }
}

export function range(first: number, last: number): number[] {
  return Array.from({ length: Math.max(0, last - first + 1) }, (_, i) => first + i);
}

export function removeShardFiles(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
}

/** A real s3rver in a child process; `stop()` kills it (SIGKILL), `start()` brings it back on the same port and data. */
export class S3rverProcess {
  readonly dir: string;
  readonly port: number;
  private child: ChildProcess | undefined;

  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
  }

  static async start(): Promise<S3rverProcess> {
    const server = new S3rverProcess(tempDir('twopc-s3rver-'), await restartablePort());
    await server.start();
    return server;
  }

  /** The replica URL for a prefix in the test bucket. */
  url(prefix: string): string {
    return `s3://${BUCKET}/${prefix}?endpoint=http://127.0.0.1:${this.port}&region=us-east-1`;
  }

  async start(): Promise<void> {
    const bin = path.resolve('node_modules/s3rver/bin/s3rver.js');
    // No --openssl-legacy-provider on purpose: the S3 backend must page listings without it.
    this.child = spawn(
      process.execPath,
      [
        bin,
        '-d',
        this.dir,
        '-a',
        '127.0.0.1',
        '-p',
        String(this.port),
        '--silent',
        '--configure-bucket',
        BUCKET,
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 15_000;
    while (!(await canConnect(this.port))) {
      if (Date.now() > deadline) throw new Error('s3rver did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Random ports tried below the kernel's ephemeral range before taking any free port. */
const restartablePortAttemptsMax = 20;
const restartablePortMin = 10_000;

/**
 * A port that stays free while s3rver is stopped and started again on it: picked below the kernel's
 * ephemeral range, which every outgoing connection and port-0 listener draws from (a port freed
 * there is soon reused, and the restart would fail with EADDRINUSE).
 */
async function restartablePort(): Promise<number> {
  let ephemeralMin = 32_768;
  try {
    const low = Number(
      fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
    if (Number.isSafeInteger(low) && low > 0) ephemeralMin = low;
  } catch {
    // not Linux: keep the usual default
  }
  for (let i = 0; i < restartablePortAttemptsMax && ephemeralMin > restartablePortMin; i++) {
    const port = restartablePortMin + Math.floor(Math.random() * (ephemeralMin - restartablePortMin));
    try {
      return await freePort(port);
    } catch {
      // taken: try another
    }
  }
  return freePort();
}

/** s3rver's default credentials; the S3 client reads them from the environment like any AWS credentials. */
export function useS3rverCredentials(): void {
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Restores shard-a from `url` into `output` (latest, a time, or one generation). */
export async function restoreFrom(
  url: string,
  output: string,
  target: { readonly atMs?: number; readonly generation?: string; readonly decisionSeq?: bigint } = {},
): Promise<RestoreResult> {
  const { openReplicaClient, parseReplicaUrl } = await import('../../participant/replica/replica-url.ts');
  const { ShardReplica } = await import('../../participant/replica/shard-replica.ts');
  const { restoreShard } = await import('../../participant/restore/restore.ts');
  const replica = new ShardReplica(await openReplicaClient(parseReplicaUrl(url)), 'shard-a');
  try {
    return await restoreShard({ replica, output, ...target });
  } finally {
    replica.client.close();
  }
}

export async function listGenerations(url: string) {
  const { openReplicaClient, parseReplicaUrl } = await import('../../participant/replica/replica-url.ts');
  const { ShardReplica } = await import('../../participant/replica/shard-replica.ts');
  const replica = new ShardReplica(await openReplicaClient(parseReplicaUrl(url)), 'shard-a');
  try {
    return await replica.listGenerations();
  } finally {
    replica.client.close();
  }
}
