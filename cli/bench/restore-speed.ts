/**
 * Restore speed of the WAL rows' replicas: after the slices, one shard of each WAL cluster is
 * restored from s3rver by `npx twopc shard restore --json` (a real CLI process, as an operator would
 * run it) into the run directory; its own figures (MB of database + WAL applied per second, objects
 * downloaded) are recorded. The shard's participant keeps running: a restore only reads the replica.
 */
import { spawn } from 'node:child_process';
import { CLI_BIN } from '../supervised-process.ts';

/** A restore of a bench-sized shard takes seconds; a stuck one must not hold the bench forever. */
const restoreTimeoutMs = 300_000;

export interface RestoreRecord {
  /** The WAL cluster whose replica was restored, e.g. `wal-sync`. */
  readonly cluster: string;
  readonly shard: string;
  readonly segments: number;
  readonly walIndexes: number;
  readonly downloadedMb: number;
  readonly dbMb: number;
  readonly walAppliedMb: number;
  readonly seconds: number;
  /** (database + WAL applied) / seconds, as `shard restore` prints it. */
  readonly mbPerSec: number;
}

export interface RestoreTarget {
  readonly cluster: string;
  readonly replicaUrl: string;
  readonly shard: string;
  readonly env: Readonly<Record<string, string>>;
}

export async function measureRestore(target: RestoreTarget, output: string): Promise<RestoreRecord> {
  const args = ['shard', 'restore', '--replica', target.replicaUrl, '--shard', target.shard];
  const { code, stdout, stderr } = await runCli([...args, '--output', output, '--json'], target.env);
  if (code !== 0)
    throw new Error(`shard restore of ${target.cluster}/${target.shard} failed: ${stderr.trim()}`);
  const r = JSON.parse(stdout) as {
    segments: number;
    walIndexes: number;
    downloadedBytes: number;
    dbBytes: number;
    walBytesApplied: number;
    elapsedMs: number;
    mbPerSec: number;
  };
  return {
    cluster: target.cluster,
    shard: target.shard,
    segments: r.segments,
    walIndexes: r.walIndexes,
    downloadedMb: r.downloadedBytes / 1e6,
    dbMb: r.dbBytes / 1e6,
    walAppliedMb: r.walBytesApplied / 1e6,
    seconds: r.elapsedMs / 1000,
    mbPerSec: r.mbPerSec,
  };
}

function runCli(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), restoreTimeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
