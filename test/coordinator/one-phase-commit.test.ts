/**
 * One-shard transactions: one phase, no decision record, and an unknown outcome settled by the ack
 * of an Abort.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TwopcError } from '../../common/errors.ts';
import { add, balance, eventually, seedAccounts, sleep, startCluster, type TestCluster } from './harness.ts';

let cluster: TestCluster;

afterEach(async () => {
  await cluster?.close();
});

describe('one-phase commit', () => {
  it('commits a one-shard transaction in one phase with no decision record', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const result = await cluster.coordinator.execute({
      ops: [add('s1', 1, 5n), add('s1', 2, -5n)],
      timeoutMs: 0,
      idempotencyKey: '',
    });
    expect(result).toMatchObject({ outcome: 'COMMITTED', decisionSeq: 0n });
    expect(cluster.shard('s1').prepares).toHaveLength(1);
    expect(cluster.shard('s1').prepares[0]).toMatchObject({ onePhase: true, peers: [], readOnlyOk: false });
    expect(cluster.shard('s1').calls.decide).toBe(0);
    expect(await cluster.log.get(result.txnId)).toBeUndefined();
    expect(cluster.log.stats().records).toBe(0);
    expect(balance(cluster, 's1', 1)).toBe(105n);
    expect(cluster.coordinator.metrics().committedOnePhase).toBe(1);
  });

  it('aborts with the participant reason on a NO', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const result = await cluster.coordinator.execute({
      ops: [add('s1', 1, -1_000n)],
      timeoutMs: 0,
      idempotencyKey: '',
    });
    expect(result).toMatchObject({ outcome: 'ABORTED', abortReason: 'CONSTRAINT' });
    expect(result.reason).toMatch(/CHECK constraint failed/);
    expect(balance(cluster, 's1', 1)).toBe(100n);
  });

  it('settles a timed-out prepare by an Abort: the shard aborts it and the late prepare is refused', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    cluster.shard('s1').delayMs.prepare = 500;
    const result = await cluster.coordinator.execute({
      ops: [add('s1', 1, 5n)],
      timeoutMs: 0,
      idempotencyKey: '',
    });
    expect(result).toMatchObject({ outcome: 'ABORTED', abortReason: 'TIMEOUT' });
    await sleep(400);
    expect(cluster.shard('s1').state(result.txnId)).toBe('ABORTED');
    expect(balance(cluster, 's1', 1)).toBe(100n);
  });

  it('answers COMMITTED when the prepare committed but its answer was lost', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const s1 = cluster.shard('s1');
    s1.delayMs.prepare = 350; // processed after the coordinator's 300 ms prepare timeout ...
    s1.delayMs.decide = 150; // ... and before its Abort arrives
    const result = await cluster.coordinator.execute({
      ops: [add('s1', 1, 5n)],
      timeoutMs: 0,
      idempotencyKey: '',
    });
    expect(result).toMatchObject({ outcome: 'COMMITTED', decisionSeq: 0n });
    expect(balance(cluster, 's1', 1)).toBe(105n);
    expect(s1.decisions.map((d) => d.commit)).toEqual([false]);
  });

  it('answers UNAVAILABLE when not even the Abort gets through, and settles once the shard is back', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    cluster.shard('s1').down = true;
    const err = await cluster.coordinator
      .execute({ ops: [add('s1', 1, 5n)], timeoutMs: 0, idempotencyKey: '' })
      .catch((e: unknown) => e);
    expect((err as TwopcError).code).toBe('UNAVAILABLE');
    const txnId = (
      await cluster.coordinator.listTransactions({ states: ['PREPARING'], pageSize: 0, pageToken: '' })
    ).transactions[0]?.txnId;
    expect(txnId).toBeDefined();
    cluster.shard('s1').down = false;
    await eventually(
      async () => (await cluster.coordinator.getTransaction(txnId as string)).state === 'ABORTED',
      3_000,
      'settled',
    );
    expect(cluster.shard('s1').state(txnId as string)).toBe('ABORTED');
  });
});
