/**
 * Idempotency keys: same key => same transaction, applied once, same answer; across a restart too.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TwopcError } from '../../common/errors.ts';
import { FaultyLog } from './faulty-log.ts';
import { add, balance, eventually, seedAccounts, startCluster, type TestCluster } from './harness.ts';

let cluster: TestCluster;

afterEach(async () => {
  await cluster?.close();
});

const transfer = [add('s1', 1, -10n), add('s2', 1, 10n)];
const prepares = () => [...cluster.shards.values()].reduce((n, s) => n + s.calls.prepare, 0);

describe('idempotency keys', () => {
  it('returns the first outcome to a sequential retry and applies once', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const first = await cluster.coordinator.execute({ ops: transfer, timeoutMs: 0, idempotencyKey: 'k-seq' });
    const again = await cluster.coordinator.execute({ ops: transfer, timeoutMs: 0, idempotencyKey: 'k-seq' });
    expect(again).toEqual(first);
    expect(prepares()).toBe(2);
    expect(balance(cluster, 's1', 1)).toBe(90n);
    expect((await cluster.log.byIdempotencyKey('k-seq'))?.txnId).toBe(first.txnId);
  });

  it('makes concurrent calls with the same key wait for the first', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    cluster.shard('s2').delayMs.prepare = 50;
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        cluster.coordinator.execute({ ops: transfer, timeoutMs: 0, idempotencyKey: 'k-conc' }),
      ),
    );
    expect(new Set(results.map((r) => r.txnId)).size).toBe(1);
    expect(results.every((r) => r.outcome === 'COMMITTED')).toBe(true);
    expect(prepares()).toBe(2);
    expect(balance(cluster, 's2', 1)).toBe(110n);
  });

  it('remembers an abort: a retry after the conflict cleared still answers the first outcome', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    cluster.shard('s2').voteNo = { reasonCode: 'CONFLICT', reason: 'busy', invalid: false };
    const first = await cluster.coordinator.execute({
      ops: transfer,
      timeoutMs: 0,
      idempotencyKey: 'k-abort',
    });
    expect(first).toMatchObject({ outcome: 'ABORTED', abortReason: 'CONFLICT' });
    cluster.shard('s2').voteNo = undefined;
    const again = await cluster.coordinator.execute({
      ops: transfer,
      timeoutMs: 0,
      idempotencyKey: 'k-abort',
    });
    expect(again).toEqual(first);
    expect(balance(cluster, 's2', 1)).toBe(100n);
    await eventually(
      async () => (await cluster.log.get(first.txnId))?.state === 'ABORTED',
      1_000,
      'abort recorded',
    );
  });

  it('records the outcome of a keyed read-only transaction, so a retry after a restart answers COMMITTED', async () => {
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
    const first = await cluster.coordinator.execute({
      ops: [check('s1'), check('s2')],
      timeoutMs: 0,
      idempotencyKey: 'k-ro',
    });
    expect(first).toMatchObject({ outcome: 'COMMITTED', decisionSeq: 0n });
    await cluster.restart();
    expect(
      await cluster.coordinator.execute({
        ops: [check('s1'), check('s2')],
        timeoutMs: 0,
        idempotencyKey: 'k-ro',
      }),
    ).toEqual(first);
  });

  it('repeats INVALID_ARGUMENT to a retry of a malformed request', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const bad = [add('s1', 1, 1n), { ...add('s2', 1, 1n), table: 'nope' }];
    const first = await cluster.coordinator
      .execute({ ops: bad, timeoutMs: 0, idempotencyKey: 'k-bad' })
      .catch((e: unknown) => e);
    expect((first as TwopcError).code).toBe('INVALID_ARGUMENT');
    await cluster.restart();
    const again = await cluster.coordinator
      .execute({ ops: bad, timeoutMs: 0, idempotencyKey: 'k-bad' })
      .catch((e: unknown) => e);
    expect((again as TwopcError).code).toBe('INVALID_ARGUMENT');
    expect(prepares()).toBe(2);
  });

  it('answers a retry after a restart with the original outcome, for two-phase and one-phase commits', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const multi = await cluster.coordinator.execute({
      ops: transfer,
      timeoutMs: 0,
      idempotencyKey: 'k-multi',
    });
    const single = await cluster.coordinator.execute({
      ops: [add('s3', 1, 1n)],
      timeoutMs: 0,
      idempotencyKey: 'k-single',
    });
    await cluster.restart();
    const count = prepares();
    expect(
      await cluster.coordinator.execute({ ops: transfer, timeoutMs: 0, idempotencyKey: 'k-multi' }),
    ).toEqual(multi);
    expect(
      await cluster.coordinator.execute({
        ops: [add('s3', 1, 1n)],
        timeoutMs: 0,
        idempotencyKey: 'k-single',
      }),
    ).toEqual(single);
    expect(prepares()).toBe(count);
    expect(balance(cluster, 's3', 1)).toBe(101n);
  });

  it('settles a key whose coordinator stopped before deciding: several shards are presumed aborted', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    // What a crash after the INTENT and one YES leaves behind.
    const txnId = 'tx_00000000000100000000000000000001';
    await cluster.log.logIntent({
      txnId,
      idempotencyKey: 'k-orphan',
      shards: ['s1', 's2'],
      atMs: Date.now(),
    });
    const prepare = {
      txnId,
      ops: [],
      reads: [],
      onePhase: false,
      readOnlyOk: false,
      peers: [],
      coordinatorId: 'c1',
      epoch: 1n,
      deadlineMs: Date.now() + 60_000,
    };
    await cluster
      .shard('s1')
      .prepare(
        { ...prepare, ops: [{ table: 'accounts', kind: 'ADD', key: { id: 1n }, values: { balance: -10n } }] },
        1_000,
      );
    await cluster.restart();
    const result = await cluster.coordinator.execute({
      ops: transfer,
      timeoutMs: 0,
      idempotencyKey: 'k-orphan',
    });
    expect(result).toMatchObject({ txnId, outcome: 'ABORTED', abortReason: 'COORDINATOR_RESTART' });
    await eventually(() => cluster.shard('s1').state(txnId) === 'ABORTED', 3_000, 'abort at s1');
    expect((await cluster.log.get(txnId))?.state).toBe('ABORTED');
    expect(balance(cluster, 's1', 1)).toBe(100n);
  });

  it('settles a one-shard key whose coordinator stopped before answering by the shard: committed stays committed', async () => {
    cluster = await startCluster();
    seedAccounts(cluster);
    const txnId = 'tx_00000000000100000000000000000002';
    await cluster.log.logIntent({ txnId, idempotencyKey: 'k-one', shards: ['s1'], atMs: Date.now() });
    const ops = [{ table: 'accounts', kind: 'ADD' as const, key: { id: 1n }, values: { balance: 7n } }];
    await cluster.shard('s1').prepare(
      {
        txnId,
        ops,
        reads: [],
        onePhase: true,
        readOnlyOk: false,
        peers: [],
        coordinatorId: 'c1',
        epoch: 1n,
        deadlineMs: Date.now() + 60_000,
      },
      1_000,
    );
    await cluster.restart();
    const result = await cluster.coordinator.execute({
      ops: [add('s1', 1, 7n)],
      timeoutMs: 0,
      idempotencyKey: 'k-one',
    });
    expect(result).toMatchObject({ txnId, outcome: 'COMMITTED', decisionSeq: 0n });
    expect(balance(cluster, 's1', 1)).toBe(107n);
  });

  it('a retry after an unknown outcome (COMMIT not yet forced) waits for the decision', async () => {
    cluster = await startCluster({ wrapLog: (log) => new FaultyLog(log) });
    seedAccounts(cluster);
    (cluster.log as FaultyLog).failCommitsBefore = 1;
    const err = await cluster.coordinator
      .execute({ ops: transfer, timeoutMs: 0, idempotencyKey: 'k-unknown' })
      .catch((e: unknown) => e);
    expect((err as TwopcError).code).toBe('UNAVAILABLE');
    const retry = await cluster.coordinator.execute({
      ops: transfer,
      timeoutMs: 2_000,
      idempotencyKey: 'k-unknown',
    });
    expect(retry.outcome).toBe('COMMITTED');
    expect((await cluster.log.byIdempotencyKey('k-unknown'))?.txnId).toBe(retry.txnId);
    expect(prepares()).toBe(2);
  });

  it('answers UNAVAILABLE and applies nothing when the key cannot be recorded', async () => {
    cluster = await startCluster({ wrapLog: (log) => new FaultyLog(log) });
    seedAccounts(cluster);
    (cluster.log as FaultyLog).failIntents = 1;
    const err = await cluster.coordinator
      .execute({ ops: transfer, timeoutMs: 0, idempotencyKey: 'k-log' })
      .catch((e: unknown) => e);
    expect((err as TwopcError).code).toBe('UNAVAILABLE');
    expect(prepares()).toBe(0);
    await eventually(
      async () => {
        const r = await cluster.coordinator
          .execute({ ops: transfer, timeoutMs: 0, idempotencyKey: 'k-log' })
          .catch(() => undefined);
        return r?.outcome === 'COMMITTED';
      },
      1_000,
      'retry commits',
    );
    expect(balance(cluster, 's1', 1)).toBe(90n);
  });
});
