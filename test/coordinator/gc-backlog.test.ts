/** Decision-log GC keeps up with a backlog instead of removing one bounded run per interval. */
import { afterEach, describe, expect, it } from 'vitest';
import { add, eventually, seedAccounts, startCluster, type TestCluster } from './harness.ts';

let cluster: TestCluster;

afterEach(async () => {
  await cluster?.close();
});

describe('decision log GC', () => {
  it('drains a backlog larger than one run in a few short steps', async () => {
    // 12 ended records, 2 per run, one run per 600 ms interval: without the backlog rule the last
    // record would go after 6 intervals (3.6 s); with it, within about one interval.
    cluster = await startCluster({
      config: { decisionRetentionMs: 1, gcIntervalMs: 600, gcRecordsPerRunMax: 2 },
    });
    seedAccounts(cluster);
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await cluster.coordinator.execute({
        ops: [add('s1', 1, -1n), add('s2', 1, 1n)],
        timeoutMs: 5_000,
        idempotencyKey: '',
      });
      expect(r.outcome).toBe('COMMITTED');
      ids.push(r.txnId);
    }
    await eventually(
      async () => (await Promise.all(ids.map((id) => cluster.log.get(id)))).every((r) => (r?.endedAtMs ?? 1) > 0),
      3_000,
      'every commit ENDed',
    );
    const started = Date.now();
    await eventually(
      async () => (await Promise.all(ids.map((id) => cluster.log.get(id)))).every((r) => r === undefined),
      2_500,
      'every ended record collected',
    );
    expect(Date.now() - started).toBeLessThan(2_500);
  });
});
