/**
 * After a run with WAL shipping, what an operator who lost every disk would get back: for each shard,
 * `npx twopc shard replica verify` (every object of the replica checked, a trial restore) and
 * `npx twopc shard restore` into `restored/SHARD.db` — real CLI processes, as an operator runs them.
 * The replica checker (checkers/replica.ts) then compares the restored files with the shard files.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { CLI_BIN } from '../cli/supervised-process.ts';

/** A verify or restore of one small chaos shard takes a second or two; a busy machine gets room. */
export const replicaCommandTimeoutMs = 120_000;

export interface ShardRestore {
  readonly shard: string;
  /** Exit 0 from `shard replica verify`. */
  readonly verified: boolean;
  /** What verify printed (its problems, if any). */
  readonly verifyOutput: string;
  /** The restored file, or why there is none. */
  readonly restored: { readonly file: string } | { readonly error: string };
}

export async function restoreFromReplica(options: {
  readonly replicaUrl: string;
  readonly shards: readonly string[];
  readonly outDir: string;
  readonly env: Readonly<Record<string, string>>;
}): Promise<ShardRestore[]> {
  const dir = path.join(options.outDir, 'restored');
  mkdirSync(dir, { recursive: true });
  const results: ShardRestore[] = [];
  // One shard at a time: the machine is small and s3rver is single-threaded.
  for (const shard of options.shards) {
    const replica = ['--replica', options.replicaUrl, '--shard', shard];
    const verify = await cli(['shard', 'replica', 'verify', ...replica], options.env);
    const file = path.join(dir, `${shard}.db`);
    const restore = await cli(
      ['shard', 'restore', ...replica, '--output', file, '--force', '--json'],
      options.env,
    );
    results.push({
      shard,
      verified: verify.code === 0,
      verifyOutput: (verify.stdout + verify.stderr).trim(),
      restored:
        restore.code === 0
          ? { file }
          : { error: `exit ${restore.code}: ${(restore.stderr || restore.stdout).trim()}` },
    });
  }
  return results;
}

function cli(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI_BIN, ...args],
      { env: { ...process.env, ...env }, timeout: replicaCommandTimeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr: stderr || (err?.message ?? '') });
      },
    );
  });
}
