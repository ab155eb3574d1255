/**
 * GetTransaction and ListTransactions: states while in flight, filters, paging over memory and log.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TwopcError } from '../../common/errors.ts';
import { add, eventually, seedAccounts, startCluster, type TestCluster } from './harness.ts';

let cluster: TestCluster;

afterEach(async () => {
  await cluster?.close();
});

describe('transaction views', () => {
  it('shows a transaction PREPARING while votes are outstanding, then its outcome', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    cluster.shard('s2').delayMs.prepare = 100;
    const pending = cluster.coordinator.execute({
      ops: [add('s1', 1, 1n), add('s2', 1, 1n)],
      timeoutMs: 0,
      idempotencyKey: 'k-view',
    });
    await eventually(() => cluster.shard('s1').calls.prepare === 1, 1_000, 'prepare sent');
    const txnId = cluster.shard('s1').prepares[0]?.txnId as string;
    expect(await cluster.coordinator.getTransaction(txnId)).toMatchObject({
      state: 'PREPARING',
      idempotencyKey: 'k-view',
      shards: ['s1', 's2'],
    });
    expect((await cluster.coordinator.getTransaction(txnId)).outcome).toBeUndefined();
    const result = await pending;
    const view = await cluster.coordinator.getTransaction(txnId);
    expect(view).toMatchObject({ outcome: 'COMMITTED', decisionSeq: result.decisionSeq });
    expect(view.decidedAtMs).toBeGreaterThanOrEqual(view.startedAtMs);
  });

  it('lists by state and pages through memory and the log without gaps or repeats', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const c = cluster.coordinator;
    const committed: string[] = [];
    for (let i = 0; i < 5; i++)
      committed.push(
        (await c.execute({ ops: [add('s1', 1, 1n), add('s2', 1, 1n)], timeoutMs: 0, idempotencyKey: '' }))
          .txnId,
      );
    cluster.shard('s3').voteNo = { reasonCode: 'CONFLICT', reason: 'no', invalid: false };
    const aborted = (
      await c.execute({ ops: [add('s1', 2, 1n), add('s3', 2, 1n)], timeoutMs: 0, idempotencyKey: '' })
    ).txnId;
    await eventually(async () => (await cluster.log.unfinished(0n, 100)).length === 0, 3_000, 'END records');
    await cluster.restart(); // the recent window is gone: commits come from the log, the unkeyed abort is forgotten
    const { txnId: open } = cluster.coordinator.begin({ timeoutMs: 0, idempotencyKey: '' });

    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const page = await cluster.coordinator.listTransactions({ states: [], pageSize: 2, pageToken: token });
      expect(page.transactions.length).toBeLessThanOrEqual(2);
      seen.push(...page.transactions.map((t) => t.txnId));
      token = page.nextPageToken;
      pages++;
    } while (token !== '' && pages < 20);
    expect(seen).toEqual([...committed, open]);
    expect(seen).not.toContain(aborted);

    const onlyCommitted = await cluster.coordinator.listTransactions({
      states: ['COMMITTED'],
      pageSize: 0,
      pageToken: '',
    });
    expect(onlyCommitted.transactions.map((t) => t.txnId)).toEqual(committed);
    const onlyActive = await cluster.coordinator.listTransactions({
      states: ['ACTIVE'],
      pageSize: 0,
      pageToken: '',
    });
    expect(onlyActive.transactions.map((t) => t.txnId)).toEqual([open]);
    const err = await cluster.coordinator
      .listTransactions({ states: [], pageSize: 0, pageToken: 'garbage' })
      .catch((e: unknown) => e);
    expect((err as TwopcError).code).toBe('INVALID_ARGUMENT');
  });

  it('lists recent aborts with their reason while they are remembered', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    cluster.shard('s2').voteNo = { reasonCode: 'CONSTRAINT', reason: 'nope', invalid: false };
    const r = await cluster.coordinator.execute({
      ops: [add('s1', 1, 1n), add('s2', 1, 1n)],
      timeoutMs: 0,
      idempotencyKey: '',
    });
    const page = await cluster.coordinator.listTransactions({
      states: ['ABORTED'],
      pageSize: 10,
      pageToken: '',
    });
    expect(page.transactions).toEqual([
      expect.objectContaining({
        txnId: r.txnId,
        state: 'ABORTED',
        abortReason: 'CONSTRAINT',
        reason: 'nope',
      }),
    ]);
    expect(page.nextPageToken).toBe('');
  });
});
