/**
 * Coordinator restart over the same decision log: logged COMMITs without END are re-driven; what is
 * not in the log is settled by asking the participants (presumed abort).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { configureFailpoints } from '../../common/failpoints.ts';
import type { TxnOutcome } from '../../common/api.ts';
import type { TwopcError } from '../../common/errors.ts';
import { add, balance, eventually, seedAccounts, startCluster, type TestCluster } from './harness.ts';

let cluster: TestCluster;

afterEach(async () => {
  configureFailpoints('');
  await cluster?.close();
});

const transfer = [add('s1', 1, -10n), add('s2', 1, 10n)];

describe('recovery', () => {
  it('a new coordinator over the same log re-drives every COMMIT without END, then writes END', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    cluster.shard('s2').downMethods.add('decide');
    const results: TxnOutcome[] = [];
    // Different rows: s2 keeps each one locked until it hears Commit.
    for (let id = 1; id <= 3; id++) {
      results.push(
        await cluster.coordinator.execute({
          ops: [add('s1', id, -10n), add('s2', id, 10n)],
          timeoutMs: 0,
          idempotencyKey: '',
        }),
      );
    }
    expect(results.every((r) => r.outcome === 'COMMITTED')).toBe(true);
    await cluster.coordinator.close();
    expect(results.every((r) => cluster.shard('s2').state(r.txnId) === 'PREPARED')).toBe(true);
    expect((await cluster.log.unfinished(0n, 10)).map((r) => r.txnId).sort()).toEqual(
      results.map((r) => r.txnId).sort(),
    );

    cluster.shard('s2').downMethods.clear();
    await cluster.restart();
    await eventually(
      () => results.every((r) => cluster.shard('s2').state(r.txnId) === 'COMMITTED'),
      3_000,
      're-driven commits',
    );
    await eventually(async () => (await cluster.log.unfinished(0n, 10)).length === 0, 3_000, 'END records');
    for (let id = 1; id <= 3; id++) {
      expect(balance(cluster, 's2', id)).toBe(110n);
      expect(balance(cluster, 's1', id)).toBe(90n);
    }
    for (const r of results) {
      expect(
        cluster
          .shard('s2')
          .decisions.filter((d) => d.txnId === r.txnId)
          .at(-1),
      ).toMatchObject({ commit: true, decisionSeq: r.decisionSeq });
      expect((await cluster.coordinator.getTransaction(r.txnId)).state).toBe('COMMITTED');
    }
  });

  it('re-drives from the log what the normal path could not deliver (the periodic re-drive)', async () => {
    cluster = await startCluster({ config: { pendingDecisionsMax: 1 } });
    seedAccounts(cluster);
    cluster.shard('s2').delayMs.decide = 100;
    const [a, b] = await Promise.all([
      cluster.coordinator.execute({ ops: transfer, timeoutMs: 0, idempotencyKey: '' }),
      cluster.coordinator.execute({
        ops: [add('s1', 2, -1n), add('s2', 2, 1n)],
        timeoutMs: 0,
        idempotencyKey: '',
      }),
    ]);
    await eventually(
      () => [a, b].every((r) => r !== undefined && cluster.shard('s2').state(r.txnId) === 'COMMITTED'),
      3_000,
      'both delivered',
    );
    await eventually(async () => (await cluster.log.unfinished(0n, 10)).length === 0, 3_000, 'END records');
  });

  it('GetTransaction settles an id it has never seen by leaving tombstones: ABORTED', async () => {
    cluster = await startCluster();
    const txnId = 'tx_00000000000100000000000000000009';
    const view = await cluster.coordinator.getTransaction(txnId);
    expect(view).toMatchObject({
      txnId,
      state: 'ABORTED',
      outcome: 'ABORTED',
      abortReason: 'COORDINATOR_RESTART',
    });
    for (const s of cluster.shards.values()) expect(s.state(txnId)).toBe('ABORTED');
    // A prepare still in flight for it is refused from now on.
    const vote = await cluster.shard('s1').prepare(
      {
        txnId,
        ops: [],
        reads: [],
        onePhase: false,
        readOnlyOk: false,
        peers: [],
        coordinatorId: 'c1',
        epoch: 1n,
        deadlineMs: Date.now() + 1_000,
      },
      1_000,
    );
    expect(vote.vote).toBe('NO');
    const err = await cluster.coordinator.getTransaction('not-an-id').catch((e: unknown) => e);
    expect((err as TwopcError).code).toBe('NOT_FOUND');
  });

  it('GetTransaction after a restart finds a one-phase commit at its shard, and a multi-shard commit in the log', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const single = await cluster.coordinator.execute({
      ops: [add('s3', 1, 1n)],
      timeoutMs: 0,
      idempotencyKey: '',
    });
    const multi = await cluster.coordinator.execute({ ops: transfer, timeoutMs: 0, idempotencyKey: '' });
    await cluster.restart();
    expect(await cluster.coordinator.getTransaction(single.txnId)).toMatchObject({
      state: 'COMMITTED',
      outcome: 'COMMITTED',
    });
    expect(await cluster.coordinator.getTransaction(multi.txnId)).toMatchObject({
      outcome: 'COMMITTED',
      decisionSeq: multi.decisionSeq,
    });
    expect(cluster.shard('s3').state(single.txnId)).toBe('COMMITTED');
  });

  it('answers UNAVAILABLE for an unknown id while a shard cannot be reached', async () => {
    cluster = await startCluster();
    cluster.shard('s3').down = true;
    const err = await cluster.coordinator
      .getTransaction('tx_00000000000100000000000000000010')
      .catch((e: unknown) => e);
    expect((err as TwopcError).code).toBe('UNAVAILABLE');
  });

  it('the coordinator failpoints sit on the decision path: an error there is recovered from the log', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    // Phase two interrupted right after the first Commit: the periodic re-drive finishes it.
    configureFailpoints('coordinator.after-first-commit-sent=error');
    const first = await cluster.coordinator.execute({ ops: transfer, timeoutMs: 0, idempotencyKey: '' });
    expect(first.outcome).toBe('COMMITTED');
    await eventually(
      () => ['s1', 's2'].every((s) => cluster.shard(s).state(first.txnId) === 'COMMITTED'),
      3_000,
      'commits',
    );
    await eventually(async () => ((await cluster.log.get(first.txnId))?.endedAtMs ?? 0) > 0, 3_000, 'END');
    // Failing before the COMMIT is forced: the client hears UNAVAILABLE, the commit still happens.
    configureFailpoints('coordinator.before-decision-logged=error');
    const err = await cluster.coordinator
      .execute({ ops: [add('s1', 2, -1n), add('s2', 2, 1n)], timeoutMs: 0, idempotencyKey: '' })
      .catch((e: unknown) => e);
    expect((err as TwopcError).code).toBe('UNAVAILABLE');
    const txnId = cluster.shard('s2').prepares.at(-1)?.txnId as string;
    await eventually(
      () => cluster.shard('s2').state(txnId) === 'COMMITTED',
      3_000,
      'commit after the failpoint',
    );
    // Failing before Abort is sent: the transaction is aborted, its shards learn it by asking.
    configureFailpoints('coordinator.before-abort-sent=error');
    cluster.shard('s2').voteNo = { reasonCode: 'CONFLICT', reason: 'busy', invalid: false };
    await expect(
      cluster.coordinator.execute({
        ops: [add('s1', 3, -1n), add('s2', 3, 1n)],
        timeoutMs: 0,
        idempotencyKey: '',
      }),
    ).rejects.toThrow(/failpoint/);
    const aborted = cluster.shard('s1').prepares.at(-1)?.txnId as string;
    expect(cluster.shard('s1').state(aborted)).toBe('PREPARED');
    expect(await cluster.coordinator.getTransaction(aborted)).toMatchObject({
      state: 'ABORTED',
      abortReason: 'CONFLICT',
    });
  });
});
