/**
 * A transaction that read one row at two different versions cannot be serializable (no single moment
 * has both), so it aborts at Commit — found by the simulator (seed 337), where the two reads were
 * concurrent and the coordinator had kept whichever answer arrived first.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { add, seedAccounts, startCluster, type TestCluster } from './harness.ts';

let cluster: TestCluster;

afterEach(async () => {
  await cluster?.close();
});

describe('inconsistent reads', () => {
  it('aborts with CONFLICT when two reads of a row saw different versions', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const { txnId } = cluster.coordinator.begin({ timeoutMs: 5_000, idempotencyKey: '' });
    const first = await cluster.coordinator.read(txnId, 's1', 'accounts', { id: 1n });
    const other = await cluster.coordinator.execute({
      ops: [add('s1', 1, 5n), add('s2', 1, -5n)],
      timeoutMs: 5_000,
      idempotencyKey: '',
    });
    expect(other.outcome).toBe('COMMITTED');
    const second = await cluster.coordinator.read(txnId, 's1', 'accounts', { id: 1n });
    expect(second.version).not.toBe(first.version);
    // The latest version still holds at prepare, so only the two-version rule can refuse this commit.
    const result = await cluster.coordinator.commit(txnId);
    expect(result).toMatchObject({ outcome: 'ABORTED', abortReason: 'CONFLICT' });
    expect(result.reason).toMatch(/versions/);
  });

  it('commits when repeated reads agree', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const { txnId } = cluster.coordinator.begin({ timeoutMs: 5_000, idempotencyKey: '' });
    await Promise.all([1, 2, 3].map(() => cluster.coordinator.read(txnId, 's1', 'accounts', { id: 1n })));
    cluster.coordinator.write(txnId, [add('s1', 1, -1n), add('s2', 1, 1n)]);
    expect((await cluster.coordinator.commit(txnId)).outcome).toBe('COMMITTED');
  });
});
