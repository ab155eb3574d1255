/**
 * The sync-mode hook the batcher uses, against a real shipper: deliveries are released once
 * durable, and released with UNAVAILABLE when the replica cannot confirm in time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DurabilityGate } from '../../participant/wal/durability-gate.ts';
import { startWalShipping } from '../../participant/wal/start-wal-shipping.ts';
import {
  commitRange,
  listGenerations,
  openStore,
  shipSync,
  tempDir,
  useS3rverCredentials,
} from './helpers.ts';

let dir: string;
beforeAll(() => {
  useS3rverCredentials();
  dir = tempDir();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('DurabilityGate', () => {
  it('releases a delivery once what was committed before it is in the replica', async () => {
    const file = path.join(dir, 'ok', 'shard-a.db');
    const url = `file://${path.join(dir, 'ok-replica')}`;
    const { store, shipping } = await shipSync(file, url);
    const gate = new DurabilityGate(shipping, 5_000);
    commitRange(store, 1, 10);
    const released = await new Promise<unknown>((resolve) => gate.hold(resolve));
    expect(released).toBeUndefined();
    const [generation] = await listGenerations(url);
    expect(generation?.segments.length).toBeGreaterThan(0);
    await gate.idle();
    expect(gate.holding).toBe(0);
    await shipping.close();
    store.close();
  });

  it('releases with UNAVAILABLE when the replica does not confirm in time', async () => {
    const file = path.join(dir, 'down', 'shard-a.db');
    const store = openStore(file);
    const shipping = await startWalShipping({
      dbPath: file,
      shard: 'shard-a',
      replicaUrl: 's3://twopc-test/x?endpoint=http://127.0.0.1:1&region=us-east-1',
      mode: 'sync',
      config: { retryBackoffMsMax: 100 },
    });
    const gate = new DurabilityGate(shipping, 200);
    commitRange(store, 1, 3);
    const released = await new Promise<unknown>((resolve) => gate.hold(resolve));
    expect(released).toMatchObject({ code: 'UNAVAILABLE' });
    await shipping.close({ flush: false });
    store.close();
  });
});
