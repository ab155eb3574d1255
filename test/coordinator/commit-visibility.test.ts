/**
 * A COMMITTED answer means the commit is visible on every shard (read-your-writes), unless a shard
 * fails to apply it within commitVisibilityWaitMs — then the answer still comes, since the decision
 * is durable, and the shard catches up through the re-sends.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { add, balance, eventually, seedAccounts, startCluster, type TestCluster } from './harness.ts';

let cluster: TestCluster;

afterEach(async () => {
  await cluster?.close();
});

const transfer = [add('s1', 1, -10n), add('s2', 1, 10n)];

describe('commit visibility', () => {
  it('answers COMMITTED only after every shard applied the commit', async () => {
    cluster = await startCluster({ config: { commitVisibilityWaitMs: 2_000 } });
    seedAccounts(cluster);
    cluster.shard('s2').delayMs.decide = 150;
    const result = await cluster.coordinator.execute({ ops: transfer, timeoutMs: 5_000, idempotencyKey: '' });
    expect(result.outcome).toBe('COMMITTED');
    // Read at once: without the wait, s2 would still show the old balance for ~150 ms.
    expect(balance(cluster, 's1', 1)).toBe(90n);
    expect(balance(cluster, 's2', 1)).toBe(110n);
  });

  it('still answers, within the bound, when a shard cannot be told', async () => {
    cluster = await startCluster({ config: { commitVisibilityWaitMs: 300 } });
    seedAccounts(cluster);
    cluster.shard('s2').downMethods.add('decide');
    const started = Date.now();
    const result = await cluster.coordinator.execute({ ops: transfer, timeoutMs: 5_000, idempotencyKey: '' });
    const elapsedMs = Date.now() - started;
    expect(result.outcome).toBe('COMMITTED');
    expect(elapsedMs).toBeGreaterThanOrEqual(250);
    expect(balance(cluster, 's2', 1)).toBe(100n);
    cluster.shard('s2').downMethods.delete('decide');
    await eventually(async () => balance(cluster, 's2', 1) === 110n, 5_000, 's2 applies the commit once reachable');
  });

  it('with the wait off, answers as soon as the decision is durable', async () => {
    cluster = await startCluster({ config: { commitVisibilityWaitMs: 0 } });
    seedAccounts(cluster);
    cluster.shard('s2').delayMs.decide = 300;
    const result = await cluster.coordinator.execute({ ops: transfer, timeoutMs: 5_000, idempotencyKey: '' });
    expect(result.outcome).toBe('COMMITTED');
    expect(balance(cluster, 's2', 1)).toBe(100n);
    await eventually(async () => balance(cluster, 's2', 1) === 110n, 5_000, 's2 applies the commit');
  });
});
