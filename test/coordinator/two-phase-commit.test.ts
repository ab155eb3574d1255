/**
 * Two-phase commit over fake participants and a real decision log: commit, every kind of abort,
 * re-sent decisions, and the decision being made exactly once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TwopcError } from '../../common/errors.ts';
import { FaultyLog } from './faulty-log.ts';
import { add, balance, eventually, seedAccounts, sleep, startCluster, type TestCluster } from './harness.ts';

let cluster: TestCluster;

afterEach(async () => {
  await cluster?.close();
});

const transfer = [add('s1', 1, -10n), add('s2', 1, 10n)];

describe('two-phase commit', () => {
  it('commits on every shard: COMMIT forced before the answer, then Commit delivered and END written', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const before = Date.now();
    const result = await cluster.coordinator.execute({ ops: transfer, timeoutMs: 5_000, idempotencyKey: '' });
    expect(result.outcome).toBe('COMMITTED');
    expect(result.decisionSeq).toBeGreaterThan(0n);
    const record = await cluster.log.get(result.txnId);
    expect(record).toMatchObject({
      state: 'COMMITTED',
      decisionSeq: result.decisionSeq,
      shards: ['s1', 's2'],
    });
    await eventually(async () => ((await cluster.log.get(result.txnId))?.endedAtMs ?? 0) > 0, 3_000, 'END');
    expect(balance(cluster, 's1', 1)).toBe(90n);
    expect(balance(cluster, 's2', 1)).toBe(110n);
    expect(cluster.shard('s3').calls.prepare).toBe(0);
    const prepare = cluster.shard('s1').prepares[0];
    expect(prepare).toMatchObject({
      txnId: result.txnId,
      onePhase: false,
      readOnlyOk: false,
      coordinatorId: 'c1',
      epoch: cluster.log.epoch,
    });
    expect(prepare?.peers).toEqual([{ shard: 's2', address: 'fake://s2' }]);
    expect(prepare?.deadlineMs).toBeGreaterThanOrEqual(before + 5_000);
    expect(cluster.shard('s2').decisions).toEqual([
      { txnId: result.txnId, commit: true, decisionSeq: result.decisionSeq, epoch: cluster.log.epoch },
    ]);
    const view = await cluster.coordinator.getTransaction(result.txnId);
    expect(view).toMatchObject({ state: 'COMMITTED', outcome: 'COMMITTED', shards: ['s1', 's2'] });
  });

  it('aborts everywhere with the reason when any participant votes NO, and logs nothing', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    cluster.shard('s2').voteNo = { reasonCode: 'CONFLICT', reason: 'row locked by someone', invalid: false };
    const result = await cluster.coordinator.execute({
      ops: [...transfer, add('s3', 1, 1n)],
      timeoutMs: 0,
      idempotencyKey: '',
    });
    expect(result).toMatchObject({
      outcome: 'ABORTED',
      abortReason: 'CONFLICT',
      reason: 'row locked by someone',
      decisionSeq: 0n,
    });
    await eventually(
      () => ['s1', 's3'].every((s) => cluster.shard(s).state(result.txnId) === 'ABORTED'),
      3_000,
      'aborts',
    );
    expect(cluster.shard('s1').locks.size).toBe(0);
    expect(await cluster.log.get(result.txnId)).toBeUndefined();
    expect(balance(cluster, 's1', 1)).toBe(100n);
    expect(cluster.coordinator.metrics().abortedByReason.CONFLICT).toBe(1);
  });

  it('answers INVALID_ARGUMENT with the participant reason when a shard refuses the request as malformed, after aborting everywhere', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const bad = { ...add('s2', 1, 1n), table: 'no_such_table' };
    const err = await cluster.coordinator
      .execute({ ops: [add('s1', 1, -1n), bad], timeoutMs: 0, idempotencyKey: '' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TwopcError);
    expect((err as TwopcError).code).toBe('INVALID_ARGUMENT');
    expect((err as TwopcError).message).toMatch(/no such table: no_such_table/);
    const txnId = cluster.shard('s1').prepares[0]?.txnId as string;
    await eventually(() => cluster.shard('s1').state(txnId) === 'ABORTED', 3_000, 'abort at s1');
    expect(balance(cluster, 's1', 1)).toBe(100n);
    expect(cluster.coordinator.metrics().invalid).toBe(1);
  });

  it('aborts with TIMEOUT when a vote is late, and the late prepare is refused by the tombstone', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    cluster.shard('s2').delayMs.prepare = 600;
    const result = await cluster.coordinator.execute({ ops: transfer, timeoutMs: 0, idempotencyKey: '' });
    expect(result).toMatchObject({ outcome: 'ABORTED', abortReason: 'TIMEOUT' });
    expect(result.reason).toMatch(/s2 did not vote within 300 ms/);
    await eventually(() => cluster.shard('s1').state(result.txnId) === 'ABORTED', 3_000, 'abort at s1');
    expect(cluster.shard('s2').decisions.some((d) => d.txnId === result.txnId && !d.commit)).toBe(true);
    await sleep(500);
    expect(cluster.shard('s2').state(result.txnId)).toBe('ABORTED');
    expect(cluster.shard('s2').locks.size).toBe(0);
    expect(balance(cluster, 's2', 1)).toBe(100n);
  });

  it('aborts with UNAVAILABLE when a participant cannot be reached', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    cluster.shard('s2').down = true;
    const result = await cluster.coordinator.execute({ ops: transfer, timeoutMs: 0, idempotencyKey: '' });
    expect(result).toMatchObject({ outcome: 'ABORTED', abortReason: 'UNAVAILABLE' });
    await eventually(() => cluster.shard('s1').state(result.txnId) === 'ABORTED', 3_000, 'abort at s1');
  });

  it('commits a read-only transaction with no decision record and no phase two', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const check = (shard: string) => ({
      shard,
      table: 'accounts',
      kind: 'CHECK' as const,
      key: { id: 1n },
      values: {},
      expectedVersion: 1n,
    });
    const result = await cluster.coordinator.execute({
      ops: [check('s1'), check('s2')],
      timeoutMs: 0,
      idempotencyKey: '',
    });
    expect(result).toMatchObject({ outcome: 'COMMITTED', decisionSeq: 0n });
    expect(cluster.shard('s1').prepares[0]?.readOnlyOk).toBe(true);
    expect(await cluster.log.get(result.txnId)).toBeUndefined();
    expect(cluster.log.stats().records).toBe(0);
    expect(cluster.shard('s1').calls.decide + cluster.shard('s2').calls.decide).toBe(0);
    expect(cluster.coordinator.metrics().committedReadOnly).toBe(1);
  });

  it('re-sends Commit with backoff while a participant is down, then writes END', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    cluster.shard('s2').downMethods.add('decide');
    const result = await cluster.coordinator.execute({ ops: transfer, timeoutMs: 0, idempotencyKey: '' });
    expect(result.outcome).toBe('COMMITTED');
    await eventually(() => cluster.shard('s2').calls.decide >= 4, 3_000, 'several Commit attempts');
    expect(cluster.shard('s2').state(result.txnId)).toBe('PREPARED');
    expect((await cluster.coordinator.getTransaction(result.txnId)).state).toBe('COMMITTING');
    expect((await cluster.log.get(result.txnId))?.endedAtMs).toBe(0);
    cluster.shard('s2').downMethods.clear();
    await eventually(() => cluster.shard('s2').state(result.txnId) === 'COMMITTED', 3_000, 'commit at s2');
    await eventually(async () => ((await cluster.log.get(result.txnId))?.endedAtMs ?? 0) > 0, 3_000, 'END');
    expect((await cluster.coordinator.getTransaction(result.txnId)).state).toBe('COMMITTED');
    expect(balance(cluster, 's2', 1)).toBe(110n);
    expect(cluster.coordinator.metrics().decisionsResent).toBeGreaterThan(0);
  });

  it('never answers ABORTED for a commit whose record is being forced when the deadline passes', async () => {
    cluster = await startCluster({ wrapLog: (log) => new FaultyLog(log) });
    seedAccounts(cluster);
    const log = cluster.log as FaultyLog;
    log.commitDelayMs = 400;
    const { txnId } = cluster.coordinator.begin({ timeoutMs: 150, idempotencyKey: '' });
    cluster.coordinator.write(txnId, transfer);
    const committing = cluster.coordinator.commit(txnId);
    await eventually(() => log.commitCalls === 1, 1_000, 'COMMIT write started');
    // The client's Abort and the transaction's deadline both land while the record is being forced.
    expect(await cluster.coordinator.abort(txnId)).toBe('COMMITTED');
    await sleep(200);
    const result = await committing;
    expect(result.outcome).toBe('COMMITTED');
    expect((await cluster.log.get(txnId))?.state).toBe('COMMITTED');
    await eventually(() => cluster.shard('s2').state(txnId) === 'COMMITTED', 3_000, 'commit at s2');
    expect(cluster.shard('s1').decisions.every((d) => d.commit)).toBe(true);
  });

  it('never logs a COMMIT once the transaction was aborted during prepare', async () => {
    cluster = await startCluster({ wrapLog: (log) => new FaultyLog(log) });
    seedAccounts(cluster);
    cluster.shard('s2').delayMs.prepare = 150;
    const { txnId } = cluster.coordinator.begin({ timeoutMs: 0, idempotencyKey: '' });
    cluster.coordinator.write(txnId, transfer);
    const committing = cluster.coordinator.commit(txnId);
    await eventually(() => cluster.shard('s1').calls.prepare === 1, 1_000, 'prepare sent');
    expect(await cluster.coordinator.abort(txnId)).toBe('ABORTED');
    expect(await committing).toMatchObject({ outcome: 'ABORTED', abortReason: 'CLIENT_ABORT' });
    await sleep(300); // s2's YES arrives after the abort
    expect((cluster.log as FaultyLog).commitCalls).toBe(0);
    expect(await cluster.log.get(txnId)).toBeUndefined();
    await eventually(
      () => ['s1', 's2'].every((s) => cluster.shard(s).state(txnId) === 'ABORTED'),
      3_000,
      'aborts',
    );
  });

  it('answers UNAVAILABLE and sends no Abort when the COMMIT cannot be forced, then commits once the log recovers', async () => {
    cluster = await startCluster({ wrapLog: (log) => new FaultyLog(log) });
    seedAccounts(cluster);
    (cluster.log as FaultyLog).failCommitsBefore = 2;
    const err = await cluster.coordinator
      .execute({ ops: transfer, timeoutMs: 0, idempotencyKey: '' })
      .catch((e: unknown) => e);
    expect((err as TwopcError).code).toBe('UNAVAILABLE');
    const txnId = cluster.shard('s1').prepares[0]?.txnId as string;
    await eventually(
      () => cluster.shard('s2').state(txnId) === 'COMMITTED',
      3_000,
      'commit after the log recovered',
    );
    expect([...cluster.shard('s1').decisions, ...cluster.shard('s2').decisions].every((d) => d.commit)).toBe(
      true,
    );
    expect((await cluster.coordinator.getTransaction(txnId)).outcome).toBe('COMMITTED');
    expect(cluster.coordinator.metrics().commitLogFailures).toBe(1);
  });

  it('keeps one decisionSeq when a COMMIT write reached the disk but reported failure', async () => {
    cluster = await startCluster({ wrapLog: (log) => new FaultyLog(log) });
    seedAccounts(cluster);
    (cluster.log as FaultyLog).failCommitsAfter = 1;
    await expect(
      cluster.coordinator.execute({ ops: transfer, timeoutMs: 0, idempotencyKey: '' }),
    ).rejects.toThrow(/could not be made durable/);
    const txnId = cluster.shard('s1').prepares[0]?.txnId as string;
    const seq = (await cluster.log.get(txnId))?.decisionSeq;
    await eventually(() => cluster.shard('s2').state(txnId) === 'COMMITTED', 3_000, 'commit');
    expect(cluster.shard('s2').decisions.map((d) => d.decisionSeq)).toContain(seq);
    expect(cluster.log.stats().records).toBeGreaterThanOrEqual(2);
    expect((await cluster.log.get(txnId))?.decisionSeq).toBe(seq);
  });

  it('close waits for a COMMIT being forced, so the client answer and the log agree', async () => {
    cluster = await startCluster({ wrapLog: (log) => new FaultyLog(log) });
    seedAccounts(cluster);
    (cluster.log as FaultyLog).commitDelayMs = 150;
    const pending = cluster.coordinator.execute({ ops: transfer, timeoutMs: 0, idempotencyKey: '' });
    await eventually(() => (cluster.log as FaultyLog).commitCalls === 1, 1_000, 'COMMIT write started');
    await cluster.coordinator.close();
    const result = await pending;
    expect(result.outcome).toBe('COMMITTED');
    expect((await cluster.log.get(result.txnId))?.state).toBe('COMMITTED');
    await expect(
      cluster.coordinator.execute({ ops: transfer, timeoutMs: 0, idempotencyKey: '' }),
    ).rejects.toThrow(/shutting down/);
  });
});
