/**
 * Sync mode: a commit acknowledged after `waitDurable()` survives the loss of the shard's disk.
 * Writers are a real child process killed with SIGKILL, and an in-process store whose files are
 * deleted; the replica is a real s3rver; the restore is checked with PRAGMA integrity_check.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  commitRange,
  prepareOnly,
  range,
  readShard,
  removeShardFiles,
  restoreFrom,
  S3rverProcess,
  shipSync,
  tempDir,
  useS3rverCredentials,
} from './helpers.ts';

let s3: S3rverProcess;
let dir: string;
beforeAll(async () => {
  useS3rverCredentials();
  s3 = await S3rverProcess.start();
  dir = tempDir();
});
afterAll(async () => {
  await s3.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('sync WAL shipping', () => {
  it('SIGKILL of the writing process, shard files deleted: every acknowledged commit is restored', async () => {
    const file = path.join(dir, 'killed', 'shard-a.db');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const url = s3.url('killed');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.resolve('test/wal/fixtures/sync-writer.ts'), file, url, '4'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, TWOPC_LOG_LEVEL: 'warn' },
      },
    );
    let acked = 0;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) acked = Math.max(acked, Number(/^acked (\d+)$/.exec(line)?.[1] ?? 0));
        if (acked >= 400) resolve();
      });
      child.once('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
    });
    child.kill('SIGKILL');
    await exited;
    const ackedAtKill = acked;
    removeShardFiles(file);

    const result = await restoreFrom(url, file);
    const content = readShard(file);
    expect(content.integrity).toBe('ok');
    expect(content.a).toEqual(content.b); // no torn transaction
    expect(content.a.slice(0, ackedAtKill)).toEqual(range(1, ackedAtKill)); // every acknowledged commit
    expect(content.a).toEqual(range(1, content.a.length)); // and a prefix of the history
    expect(result.plan.incarnations.length).toBeGreaterThan(1); // the kill came after checkpoints
  });

  it('in-process: acknowledged commits and prepared transactions survive; waits share uploads', async () => {
    const file = path.join(dir, 'inproc', 'shard-a.db');
    const url = s3.url('inproc');
    const { store, shipping } = await shipSync(file, url);
    let next = 1;
    const waits: Promise<void>[] = [];
    for (let round = 0; round < 40; round++) {
      commitRange(store, next, 5);
      next += 5;
      // Several waiters per round, as several sessions would: they ride on the same upload.
      waits.push(shipping.waitDurable({ timeoutMs: 20_000 }), shipping.waitDurable({ timeoutMs: 20_000 }));
      if (round % 4 === 3) await Promise.all(waits.splice(0));
    }
    prepareOnly(store, 10_000); // voted YES, not decided: must come back in doubt
    await shipping.waitDurable({ timeoutMs: 20_000 });
    const stats = shipping.stats();
    expect(stats.segmentsUploaded).toBeLessThan(40 * 2);
    await shipping.close({ flush: false }); // stop hard: nothing more is uploaded
    store.close();
    removeShardFiles(file);

    const result = await restoreFrom(url, file);
    const content = readShard(file);
    expect(content.integrity).toBe('ok');
    expect(content.a).toEqual(range(1, next - 1));
    expect(content.b).toEqual(range(1, next - 1));
    expect(content.prepared).toEqual(['t10000']);
    expect(result.inDoubt).toBe(1);
  });
});
