/**
 * Async mode and the ways the world changes under the shipper: the restore is a prefix of the
 * history at most about one interval behind; the object store dies mid-load and comes back;
 * someone checkpoints the WAL from another connection; the shipper restarts and resumes.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWalShipping, type WalShipping } from '../../participant/wal/start-wal-shipping.ts';
import {
  commitRange,
  listGenerations,
  openStore,
  range,
  readShard,
  removeShardFiles,
  restoreFrom,
  S3rverProcess,
  sleep,
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

const intervalMs = 200;

function ship(
  file: string,
  url: string,
  extra: Partial<Parameters<typeof startWalShipping>[0]> = {},
): Promise<WalShipping> {
  return startWalShipping({
    dbPath: file,
    shard: 'shard-a',
    replicaUrl: url,
    mode: 'async',
    syncIntervalMs: intervalMs,
    config: { checkpointWalBytesMin: 128 * 1024, retryBackoffMsBase: 20, retryBackoffMsMax: 200 },
    s3: { requestTimeoutMs: 2_000 },
    ...extra,
  });
}

describe('async WAL shipping', () => {
  it('a lost disk restores a prefix of the history (no torn transaction), about one interval behind', async () => {
    const file = path.join(dir, 'prefix', 'shard-a.db');
    const url = s3.url('prefix');
    const store = openStore(file);
    const shipping = await ship(file, url);
    const committed: Array<{ atMs: number; last: number }> = [];
    let next = 1;
    const endMs = Date.now() + 1_500;
    while (Date.now() < endMs) {
      commitRange(store, next, 3);
      next += 3;
      committed.push({ atMs: Date.now(), last: next - 1 });
      await sleep(2);
    }
    const stopMs = Date.now();
    await shipping.close({ flush: false }); // the disk is lost now: nothing more is shipped
    store.close();
    removeShardFiles(file);

    await restoreFrom(url, file);
    const content = readShard(file);
    expect(content.integrity).toBe('ok');
    expect(content.a).toEqual(content.b);
    const m = content.a.length;
    expect(content.a).toEqual(range(1, m));
    expect(m).toBeLessThanOrEqual(next - 1);
    // One interval, plus room for the upload in flight on a loaded machine.
    const surelyShipped = committed.filter((c) => c.atMs < stopMs - intervalMs - 800).at(-1)?.last ?? 0;
    expect(m).toBeGreaterThanOrEqual(surelyShipped);
    expect(surelyShipped).toBeGreaterThan(0);
  });

  it('the object store dies mid-load and comes back: local work goes on, nothing is lost', async () => {
    const file = path.join(dir, 'outage', 'shard-a.db');
    const url = s3.url('outage');
    const store = openStore(file);
    const shipping = await ship(file, url);
    let next = 1;
    const write = async (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        commitRange(store, next, 3);
        next += 3;
        await sleep(3);
      }
    };
    await write(300);
    await shipping.waitDurable({ timeoutMs: 10_000 });
    await s3.stop();
    await write(700); // async mode: commits keep succeeding locally
    // A sync-mode vote would wait like this and time out (the transaction aborts).
    await expect(shipping.waitDurable({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await s3.start();
    await write(200);
    await shipping.waitDurable({ timeoutMs: 15_000 });
    expect(shipping.stats().uploadFailures).toBeGreaterThan(0);
    await shipping.close({ flush: false });
    store.close();
    removeShardFiles(file);

    await restoreFrom(url, file);
    const content = readShard(file);
    expect(content.integrity).toBe('ok');
    expect(content.a).toEqual(range(1, next - 1));
    expect(content.b).toEqual(range(1, next - 1));
  });

  it("another connection's wal_checkpoint(TRUNCATE) cannot take frames the shipper has not read", async () => {
    const file = path.join(dir, 'guarded', 'shard-a.db');
    const url = s3.url('guarded');
    const store = openStore(file);
    const shipping = await ship(file, url);
    commitRange(store, 1, 30);
    const other = new Database(file);
    // With a busy timeout it would stall this thread (and so the store's writers) that long, then fail the same way.
    other.pragma('busy_timeout = 0');
    const result = other.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    other.close();
    expect(result[0]?.busy).toBe(1); // the shipper's guard holds it off
    commitRange(store, 31, 30);
    await shipping.waitDurable({ timeoutMs: 10_000 });
    expect(shipping.stats().generations).toBe(1);
    await shipping.close({ flush: false });
    store.close();
    removeShardFiles(file);
    await restoreFrom(url, file);
    expect(readShard(file).a).toEqual(range(1, 60));
  });

  it('a WAL checkpointed behind its back while it was down starts a new generation; both restore', async () => {
    const file = path.join(dir, 'external', 'shard-a.db');
    const url = s3.url('external');
    const store = openStore(file);
    let shipping = await ship(file, url);
    commitRange(store, 1, 40);
    await shipping.waitDurable({ timeoutMs: 10_000 });
    await shipping.close({ flush: false });
    commitRange(store, 41, 20); // not shipped: the shipper is down
    const other = new Database(file);
    expect((other.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[])[0]?.busy).toBe(0);
    other.close();
    commitRange(store, 61, 20);
    shipping = await ship(file, url);
    await shipping.waitDurable({ timeoutMs: 10_000 });
    await shipping.close({ flush: false });
    store.close();
    const generations = await listGenerations(url);
    expect(generations).toHaveLength(2);
    removeShardFiles(file);

    await restoreFrom(url, file);
    expect(readShard(file).a).toEqual(range(1, 80));
    const old = path.join(dir, 'external', 'old.db');
    await restoreFrom(url, old, { generation: generations[0]?.id as string });
    expect(readShard(old).a).toEqual(range(1, 40));
  });

  it('a shipper restarted on an unchanged WAL resumes its generation', async () => {
    const file = path.join(dir, 'resume', 'shard-a.db');
    const url = s3.url('resume');
    const store = openStore(file);
    let shipping = await ship(file, url);
    commitRange(store, 1, 25);
    await shipping.waitDurable({ timeoutMs: 10_000 });
    await shipping.close({ flush: false });
    commitRange(store, 26, 25); // written while the shipper is down; still in the WAL
    shipping = await ship(file, url);
    commitRange(store, 51, 25);
    await shipping.waitDurable({ timeoutMs: 10_000 });
    expect(shipping.stats().generations).toBe(0); // resumed, none started
    await shipping.close({ flush: false });
    store.close();
    expect(await listGenerations(url)).toHaveLength(1);
    removeShardFiles(file);
    await restoreFrom(url, file);
    expect(readShard(file).a).toEqual(range(1, 75));
  });
});
